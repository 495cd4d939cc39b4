"""The Compliance API's activities, organizations and users (``admin.compliance.*``, beside the groups), the
audit trail (``admin.audit.verify()``, ``admin.audit.events()``: the SIEM feed) and ``admin.access_review()``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from steward.sdk.models import AdminObject
from steward.sdk.resources.base import Call, ListCall, Resource, S, compact, endpoint, listing
from steward.sdk.resources.compliance import Compliance


class Activity(AdminObject):
    id: str
    type: str
    created_at: datetime
    organization_id: str | None = None
    actor: dict[str, Any] = {}
    workspace_id: str | None = None
    api_key_id: str | None = None
    request_id: str | None = None
    model: str | None = None
    decision: str | None = None
    details: dict[str, Any] = {}


class ActivityResults(AdminObject):
    """One page of ``activities.query``: continue with ``cursor=next_cursor`` while ``has_more``."""

    data: list[Activity]
    has_more: bool
    next_cursor: str | None = None
    first_id: str | None = None
    last_id: str | None = None


class ComplianceOrganization(AdminObject):
    id: str
    type: Literal["organization"] = "organization"
    name: str
    created_at: datetime


class ComplianceUser(AdminObject):
    id: str
    type: Literal["user"] = "user"
    organization_id: str
    email: str
    name: str
    role: str
    status: str


class Verification(AdminObject):
    """``valid`` and, when not, every problem with its ``kind``, ``seq`` and ``event_id``."""

    valid: bool
    signing_key_id: str
    head_seq: int
    problems: list[dict[str, Any]]


class AuditFeed(AdminObject):
    """Sealed audit events in chain order; pass ``next_cursor`` as ``after`` to continue, gap-free."""

    data: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Activities(Resource[S]):
    """``admin.compliance.activities``: the activity feed."""

    @endpoint
    def query(self, *, start_time: datetime | None = None, end_time: datetime | None = None,
              filters: Mapping[str, Any] | None = None, include_content: bool = False, limit: int | None = None,
              cursor: str | None = None) -> Call[ActivityResults]:
        """The seed's query; filters ``user_id``, ``activity_type``, ``model``, ``workspace_id``, ``api_key_id``.
        ``include_content=True`` needs an admin key with the ``compliance`` scope (and is audited)."""
        body = compact(start_time=_iso(start_time), end_time=_iso(end_time),
                       filters=dict(filters) if filters else None, include_content=include_content or None,
                       limit=limit, cursor=cursor)
        return Call("POST", "/v1/admin/compliance/activities/query", ActivityResults.model_validate, body=body)

    @listing
    def list(self, *, activity_types: Sequence[str] | None = None, actor_ids: Sequence[str] | None = None,
             limit: int | None = None, after_id: str | None = None,
             before_id: str | None = None) -> ListCall[Activity]:
        """Anthropic's ``GET /v1/compliance/activities`` (newest first; iterating goes back in time)."""
        query = compact(limit=limit, after_id=after_id, before_id=before_id)
        if activity_types:
            query["activity_types[]"] = list(activity_types)
        if actor_ids:
            query["actor_ids[]"] = list(actor_ids)
        return ListCall("/v1/compliance/activities", Activity, query)


class Organizations(Resource[S]):
    @listing
    def list(self) -> ListCall[ComplianceOrganization]:
        """The organizations the caller belongs to."""
        return ListCall("/v1/admin/compliance/organizations", ComplianceOrganization)


class ComplianceUsers(Resource[S]):
    @listing
    def list(self, *, organization_id: str | None = None, limit: int | None = None,
             after_id: str | None = None) -> ListCall[ComplianceUser]:
        """Every user of the organization, removed ones included."""
        return ListCall("/v1/admin/compliance/users", ComplianceUser,
                        compact(organization_id=organization_id, limit=limit, after_id=after_id))


class ComplianceWithAudit(Compliance[S]):
    """``admin.compliance``: groups, activities, organizations, users."""

    @property
    def activities(self) -> Activities[S]:
        return Activities(self._sender)

    @property
    def organizations(self) -> Organizations[S]:
        return Organizations(self._sender)

    @property
    def users(self) -> ComplianceUsers[S]:
        return ComplianceUsers(self._sender)


class Audit(Resource[S]):
    """``admin.audit``: verify the chain, read the SIEM feed."""

    @endpoint
    def verify(self) -> Call[Verification]:
        """Recompute the organization's chain and check its signed checkpoints."""
        return Call("GET", "/v1/admin/audit/verify", Verification.model_validate)

    @endpoint
    def events(self, *, after: str | None = None, limit: int | None = None) -> Call[AuditFeed]:
        """Sealed events after the cursor ``after`` (a chain position), in chain order."""
        return Call("GET", "/v1/admin/audit/events", AuditFeed.model_validate,
                    query=compact(after=after, limit=limit, format="json"))


class AccessReview(Resource[S]):
    """``admin.access_review(workspace_id=...)``: the access review of one workspace as a dict."""

    @endpoint
    def __call__(self, *, workspace_id: str, starting_at: datetime | None = None, ending_at: datetime | None = None,
                 unused_days: int | None = None) -> Call[dict[str, Any]]:
        """Roles, keys by age and last use, admin keys, invitations and role changes in the period."""
        query = compact(workspace_id=workspace_id, starting_at=_iso(starting_at), ending_at=_iso(ending_at),
                        unused_days=unused_days, format="json")
        return Call("GET", "/v1/admin/compliance/access_review", dict, query=query)
