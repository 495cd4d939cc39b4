"""``admin.policies``: policy documents per organization, workspace and key, their history, the dry run and the
shadow-mode report (``/v1/admin/policy``, ``/v1/admin/workspaces/{id}/policy``, ``/v1/admin/keys/{id}/policy``,
``/v1/admin/policies...``). The objects are defined here, next to the only calls that return them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from steward.sdk.models import AdminObject
from steward.sdk.resources.base import Call, ListCall, Resource, S, compact, endpoint, listing, path

Scope = Literal["organization", "workspace", "key"]


class Policy(AdminObject):
    """A scope's live document (``document`` None: none is set)."""

    type: Literal["policy"] = "policy"
    scope: str
    scope_id: str
    document: dict[str, Any] | None = None
    version: int | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


class PolicyDeleted(AdminObject):
    type: Literal["policy_deleted"] = "policy_deleted"
    scope: str
    scope_id: str
    version: int


class PolicyVersion(AdminObject):
    id: str
    type: Literal["policy_version"] = "policy_version"
    version: int
    scope: str
    scope_id: str
    document: dict[str, Any] | None = None
    created_at: datetime
    actor: str | None = None
    source: str | None = None


class PolicyDecision(AdminObject):
    rule: str
    action: Literal["refuse", "shadow"]
    status: int
    message: str


class PolicyCheck(AdminObject):
    """What the gateway would do with a request: every refusing (and shadow) rule, and PII counts."""

    allowed: bool
    policy_version: int
    model: str | None = None
    decisions: list[PolicyDecision] = []
    pii: dict[str, int] = {}


class ShadowCount(AdminObject):
    workspace_id: str | None
    rule: str
    would_refuse: int


class ShadowReport(AdminObject):
    data: list[ShadowCount]
    starting_at: datetime
    ending_at: datetime
    total: int


class PolicyList(AdminObject):
    data: list[Policy]
    has_more: bool = False


def _policy_path(scope: Scope, scope_id: str | None) -> str:
    if scope == "organization":
        return "/v1/admin/policy"
    if scope == "workspace":
        return path("/v1/admin/workspaces/{}/policy", scope_id or "")
    if scope == "key":
        return path("/v1/admin/keys/{}/policy", scope_id or "")
    raise ValueError(f"scope: organization, workspace or key, not {scope!r}")


class Policies(Resource[S]):
    """Governance policies (docs/policies.md): reads need ``policies.read``, changes ``policies.write``."""

    @endpoint
    def get(self, scope: Scope = "organization", scope_id: str | None = None) -> Call[Policy]:
        """The live document of the organization, a workspace (``scope_id`` its id) or a key."""
        return Call("GET", _policy_path(scope, scope_id), Policy.model_validate)

    @endpoint
    def put(self, document: Mapping[str, Any], *, scope: Scope = "organization",
            scope_id: str | None = None) -> Call[Policy]:
        """Set a scope's document (validated; an identical document changes nothing) and get its version."""
        return Call("PUT", _policy_path(scope, scope_id), Policy.model_validate, body=dict(document))

    @endpoint
    def delete(self, scope: Scope = "organization", scope_id: str | None = None) -> Call[PolicyDeleted]:
        """Remove a scope's document (a new policy version)."""
        return Call("DELETE", _policy_path(scope, scope_id), PolicyDeleted.model_validate)

    @endpoint
    def list(self) -> Call[PolicyList]:
        """Every live document the caller may read, with the version that wrote it."""
        return Call("GET", "/v1/admin/policies", PolicyList.model_validate)

    @listing
    def versions(self, *, scope: Scope | None = None, scope_id: str | None = None,
                 limit: int | None = None) -> ListCall[PolicyVersion]:
        """The organization's policy history, newest first (iterate to walk every page)."""
        return ListCall("/v1/admin/policies/versions", PolicyVersion,
                        compact(scope=scope, scope_id=scope_id, limit=limit))

    @endpoint
    def check(self, workspace_id: str, request: Mapping[str, Any], *,
              api_key_id: str | None = None) -> Call[PolicyCheck]:
        """Dry run: evaluate a Messages API body against a workspace's (or key's) policy without sending it."""
        body = compact(workspace_id=workspace_id, api_key_id=api_key_id, request=dict(request))
        return Call("POST", "/v1/admin/policies/check", PolicyCheck.model_validate, body=body)

    @endpoint
    def shadow_report(self, *, starting_at: datetime | str | None = None, ending_at: datetime | str | None = None,
                      workspace_id: str | None = None) -> Call[ShadowReport]:
        """How many requests each shadow-mode rule would have refused, by rule and workspace."""
        query = compact(starting_at=_iso(starting_at), ending_at=_iso(ending_at), workspace_id=workspace_id)
        return Call("GET", "/v1/admin/policies/shadow_report", ShadowReport.model_validate, query=query)


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value
