"""Compliance activities: the audit trail as an activity feed, queried by time, type, user, model, workspace and
key, in the seed's ``POST /v1/admin/compliance/activities/query`` shape and Anthropic's
``GET /v1/compliance/activities`` shape (cursor pagination, newest first).

Reading stored content (``include_content``) needs Permission.COMPLIANCE_CONTENT and is itself audited
(``compliance.content.read`` with the request ids); everything else needs COMPLIANCE_READ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from steward.controlplane.audit import admin_event, scrub
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require
from steward.controlplane.shapes import rfc3339
from steward.errors import InvalidRequestError
from steward.storage.models import AuditEvent
from steward.storage.repositories.admin import AdminStore
from steward.storage.repositories.audit import ActivityFilter, AuditRepository

# Data-plane calls (audit event "api_call") by the endpoint recorded in data["endpoint"].
API_ACTIVITIES: dict[str, str] = {
    "messages.create": "messages",
    "messages.count_tokens": "count_tokens",
    "messages.batches.create": "batches.create",
    "messages.batches.list": "batches.list",
    "messages.batches.retrieve": "batches.get",
    "messages.batches.cancel": "batches.cancel",
    "messages.batches.delete": "batches.delete",
    "messages.batches.results": "batches.results",
    "models.list": "models.list",
    "models.retrieve": "models.get",
    "files.upload": "files.upload",
    "files.list": "files.list",
    "files.retrieve": "files.get",
    "files.delete": "files.delete",
    "files.download": "files.download",
}
_BY_ENDPOINT = {endpoint: kind for kind, endpoint in API_ACTIVITIES.items()}

# Every other audit event is an activity of the same name: each admin action, refusals, spend alerts, content
# reads. The list is what the control plane writes today (docs/audit.md lists them with their meaning).
EVENT_ACTIVITIES = (
    "admin.admin_keys.create", "admin.admin_keys.revoke", "admin.compliance_groups.add_workspace",
    "admin.compliance_groups.create", "admin.compliance_groups.delete", "admin.compliance_groups.legal_hold",
    "admin.compliance_groups.remove_workspace", "admin.compliance_groups.update", "admin.invitations.accept",
    "admin.invitations.create", "admin.invitations.revoke", "admin.keys.create", "admin.keys.revoke",
    "admin.keys.rotate", "admin.keys.update", "admin.members.add", "admin.members.remove", "admin.members.update",
    "admin.organization.init", "admin.policies.delete", "admin.policies.update", "admin.rate_limits.update",
    "admin.refused", "admin.spend_limits.create", "admin.spend_limits.delete",
    "admin.spend_limits.increase_approved", "admin.spend_limits.increase_denied",
    "admin.spend_limits.increase_requested", "admin.spend_limits.update", "admin.users.remove",
    "admin.users.update", "admin.webhooks.create", "admin.webhooks.delete", "admin.webhooks.update",
    "admin.workspaces.archive", "admin.workspaces.create", "admin.workspaces.update", "batch.results",
    "compliance.content.read",
    "compliance.retention.purge", "spend.alert",
)
ACTIVITY_TYPES = tuple(sorted([*API_ACTIVITIES, *EVENT_ACTIVITIES]))
MAX_LIMIT = 5000


class ContentSource(Protocol):
    """Decrypts stored content (``steward.compliance.content.ContentReader``)."""

    async def read(self, org_id: str, request_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...


def activity_type(event: AuditEvent) -> str:
    """The activity type of an audit event."""
    if event.event == "api_call":
        endpoint = str((event.data or {}).get("endpoint", ""))
        return _BY_ENDPOINT.get(endpoint, f"api.{endpoint}" if endpoint else "api.unknown")
    return event.event


def _actor(event: AuditEvent) -> dict[str, Any]:
    data = event.data or {}
    if event.event == "api_call":
        return {"type": "api_key_actor", "api_key_id": event.api_key_id, "end_user_id": data.get("user_id")}
    actor = event.actor or "system"
    if actor.startswith("user_"):
        return {"type": "user_actor", "user_id": actor, "ip_address": data.get("ip"),
                "role": data.get("actor_role")}
    return {"type": "system_actor", "name": actor, "ip_address": data.get("ip")}


def activity_object(event: AuditEvent, content: Mapping[str, Any] | None = None, *,
                    with_content: bool = False) -> dict[str, Any]:
    """An audit event in the activity shape (Anthropic's fields first, Steward's details after)."""
    out: dict[str, Any] = {
        "id": event.id, "type": activity_type(event), "created_at": rfc3339(event.created_at),
        "organization_id": event.org_id, "actor": _actor(event), "workspace_id": event.workspace_id,
        "api_key_id": event.api_key_id, "request_id": event.request_id, "model": event.model,
        "decision": event.decision, "reason": event.reason, "status": event.status,
        "input_tokens": event.input_tokens, "output_tokens": event.output_tokens, "stop_reason": event.stop_reason,
        "tools_used": event.tools_used, "latency_ms": event.latency_ms, "details": scrub(event.data) or {}}
    if with_content:
        out["content"] = content
    return out


def _kinds(types: Sequence[str] | None) -> tuple[list[str] | None, list[str] | None]:
    """Activity types as (audit event names, api endpoints); unknown types are a 400."""
    if not types:
        return None, None
    # Any admin.* name is accepted, so that an admin action added later is queryable before this list knows it.
    unknown = [t for t in types if t not in API_ACTIVITIES and t not in EVENT_ACTIVITIES
               and not (t.startswith("admin.") and len(t) <= 64)]
    if unknown:
        raise InvalidRequestError(f"activity_type: unknown {unknown[0]!r}; one of: {', '.join(ACTIVITY_TYPES)}")
    return ([t for t in types if t not in API_ACTIVITIES], [API_ACTIVITIES[t] for t in types if t in API_ACTIVITIES])


def _limit(value: int | None, default: int = 100) -> int:
    limit = default if value is None else value
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(f"limit: Input should be between 1 and {MAX_LIMIT}")
    return limit


class ActivityService:
    """Queries the activity feed; decrypts content only for principals allowed to read it."""

    def __init__(self, store: AdminStore, repo: AuditRepository, content: ContentSource | None = None) -> None:
        self._store = store
        self._repo = repo
        self._content = content

    async def query(self, principal: Principal, *, start: datetime | None, end: datetime | None,
                    filters: Mapping[str, Any] | None = None, include_content: bool = False,
                    limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
        """The seed's query: filters user_id, activity_type (one or a list), model, workspace_id, api_key_id."""
        require(principal, Permission.COMPLIANCE_CONTENT if include_content else Permission.COMPLIANCE_READ)
        given = dict(filters or {})
        unknown = set(given) - {"user_id", "activity_type", "model", "workspace_id", "api_key_id"}
        if unknown:
            raise InvalidRequestError(f"filters: unknown filter {sorted(unknown)[0]!r}")
        if start is not None and end is not None and end <= start:
            raise InvalidRequestError("end_time must be after start_time")
        types = given.get("activity_type")
        events, endpoints = _kinds([types] if isinstance(types, str) else types)
        where = ActivityFilter(principal.org_id, start, end, events, endpoints,
                               [given["user_id"]] if given.get("user_id") else None, given.get("model"),
                               given.get("workspace_id"), given.get("api_key_id"))
        rows, more = await self._repo.activities(where, limit=_limit(limit), after_id=cursor or None)
        data = await self._objects(principal, rows, include_content)
        return {"data": data, "has_more": more, "next_cursor": rows[-1].id if more and rows else None,
                "first_id": rows[0].id if rows else None, "last_id": rows[-1].id if rows else None}

    async def list_activities(self, principal: Principal, *, activity_types: Sequence[str] | None = None,
                   actor_ids: Sequence[str] | None = None, organization_ids: Sequence[str] | None = None,
                   created_at: Mapping[str, datetime] | None = None, limit: int | None = None,
                   after_id: str | None = None, before_id: str | None = None) -> dict[str, Any]:
        """Anthropic's ``GET /v1/compliance/activities``: ``{data, first_id, has_more, last_id}``."""
        require(principal, Permission.COMPLIANCE_READ)
        if after_id and before_id:
            raise InvalidRequestError("Only one of before_id and after_id may be given.")
        events, endpoints = _kinds(activity_types)
        bounds = dict(created_at or {})
        tick = timedelta(microseconds=1)
        start = bounds["gte"] if "gte" in bounds else (bounds["gt"] + tick if "gt" in bounds else None)
        end = bounds["lt"] if "lt" in bounds else (bounds["lte"] + tick if "lte" in bounds else None)
        where = ActivityFilter(principal.org_id, start, end, events, endpoints, list(actor_ids) if actor_ids else None)
        if organization_ids and principal.org_id not in organization_ids:
            where = replace(where, events=[], endpoints=[])  # another organization's feed: nothing to see
        rows, more = await self._repo.activities(where, limit=_limit(limit), after_id=after_id or None,
                                                 before_id=before_id or None)
        return {"data": [activity_object(r) for r in rows], "first_id": rows[0].id if rows else None,
                "has_more": more, "last_id": rows[-1].id if rows else None}

    async def _objects(self, principal: Principal, rows: Sequence[AuditEvent],
                       include_content: bool) -> list[dict[str, Any]]:
        if not include_content:
            return [activity_object(r) for r in rows]
        request_ids = sorted({r.request_id for r in rows
                              if r.request_id and (r.event == "api_call" or (r.data or {}).get("content_sha256"))})
        found = await self._content.read(principal.org_id, request_ids) if self._content and request_ids else {}
        async with self._store.unit() as unit:  # reading content is itself an audited act
            unit.audit(admin_event(principal, "compliance.content.read",
                                   target={"request_ids": request_ids, "returned": sorted(found)}))
        return [activity_object(r, found.get(r.request_id or ""), with_content=True) for r in rows]
