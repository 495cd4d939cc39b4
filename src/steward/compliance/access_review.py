"""Access review (the seed's quarterly review) of one workspace: who holds which role, API keys by age and last
use (flagged unused, never used, expired), admin keys, pending and expired invitations, and the role changes of
the period from the audit trail. As JSON, or as CSV with one row per finding.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from steward.compliance.activities import activity_type
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require
from steward.controlplane.shapes import invite_status, rfc3339
from steward.errors import InvalidRequestError, NotFoundError
from steward.storage.models import AdminKey, ApiKey
from steward.storage.repositories.audit import AccessFacts, AuditRepository

# Organization roles that reach every workspace without a membership (docs/permissions.md).
_ORG_WIDE = {"admin": "administers every workspace", "billing": "reads every workspace's usage",
             "viewer": "reads every workspace"}
CSV_COLUMNS = ("section", "id", "name", "email", "org_role", "workspace_role", "status", "created_at",
               "last_used_at", "age_days", "flags", "detail")


def _days(since: datetime | None, now: datetime) -> int | None:
    return None if since is None else int((now - since).total_seconds() // 86400)


def _key_flags(status: str, created: datetime, last_used: datetime | None, expires: datetime | None,
               now: datetime, unused_days: int) -> list[str]:
    flags = []
    if status == "active" and expires is not None and expires <= now:
        flags.append("expired")
    if last_used is None:
        flags.append("never_used")
        if now - created > timedelta(days=unused_days):
            flags.append(f"unused_{unused_days}d")
    elif now - last_used > timedelta(days=unused_days):
        flags.append(f"unused_{unused_days}d")
    return flags


def _api_key(key: ApiKey, now: datetime, unused_days: int) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "status": key.status, "created_at": rfc3339(key.created_at),
            "created_by": key.created_by, "expires_at": rfc3339(key.expires_at),
            "last_used_at": rfc3339(key.last_used_at), "age_days": _days(key.created_at, now),
            "days_since_last_use": _days(key.last_used_at, now),
            "flags": _key_flags(key.status, key.created_at, key.last_used_at, key.expires_at, now, unused_days)}


def _admin_key(key: AdminKey, now: datetime, unused_days: int) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "user_id": key.user_id, "status": key.status,
            "scopes": list(key.scopes or []), "created_at": rfc3339(key.created_at),
            "expires_at": rfc3339(key.expires_at), "last_used_at": rfc3339(key.last_used_at),
            "age_days": _days(key.created_at, now), "days_since_last_use": _days(key.last_used_at, now),
            "flags": _key_flags(key.status, key.created_at, key.last_used_at, key.expires_at, now, unused_days)}


def build_review(facts: AccessFacts, start: datetime, end: datetime, now: datetime,
                 unused_days: int) -> dict[str, Any]:
    """The review document from what the repository read."""
    ws = facts.workspace
    roles = {m.user_id: m.workspace_role for m in facts.members}
    people = []
    for user in facts.users:
        if user.removed_at is not None or (user.id not in roles and user.role not in _ORG_WIDE):
            continue
        people.append({"user_id": user.id, "email": user.email, "name": user.name, "org_role": user.role,
                       "workspace_role": roles.get(user.id),
                       "access": "member" if user.id in roles else _ORG_WIDE[user.role]})
    invitations: dict[str, list[dict[str, Any]]] = {"pending": [], "expired": []}
    for invite in facts.invitations:
        status = invite_status(invite, now)
        if status not in invitations:
            continue
        grants = [w for w in (invite.workspaces or []) if w.get("workspace_id") == ws.id]
        if grants or invite.role in _ORG_WIDE:
            invitations[status].append({
                "id": invite.id, "email": invite.email, "org_role": invite.role,
                "workspace_role": grants[0].get("workspace_role") if grants else None,
                "invited_at": rfc3339(invite.invited_at), "expires_at": rfc3339(invite.expires_at)})
    changes = [{"id": e.id, "created_at": rfc3339(e.created_at), "type": activity_type(e), "actor": e.actor,
                "target": (e.data or {}).get("target"), "before": (e.data or {}).get("before"),
                "after": (e.data or {}).get("after")} for e in facts.role_events if e.decision == "allowed"]
    api_keys = [_api_key(k, now, unused_days) for k in facts.api_keys]
    admin_keys = [_admin_key(k, now, unused_days) for k in facts.admin_keys]
    return {
        "type": "access_review", "workspace": {"id": ws.id, "name": ws.name, "archived": ws.archived_at is not None},
        "starting_at": rfc3339(start), "ending_at": rfc3339(end), "generated_at": rfc3339(now),
        "unused_days": unused_days, "people": people, "api_keys": api_keys, "admin_keys": admin_keys,
        "invitations": invitations, "role_changes": changes,
        "summary": {"people": len(people), "api_keys": len(api_keys),
                    "api_keys_flagged": sum(1 for k in api_keys if k["flags"] and k["status"] == "active"),
                    "admin_keys": len(admin_keys), "pending_invitations": len(invitations["pending"]),
                    "expired_invitations": len(invitations["expired"]), "role_changes": len(changes)}}


def review_csv(review: Mapping[str, Any]) -> str:
    """One CSV row per person, key, invitation and role change."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for person in review["people"]:
        writer.writerow({"section": "person", "id": person["user_id"], **person, "detail": person["access"]})
    for section in ("api_keys", "admin_keys"):
        for key in review[section]:
            writer.writerow({"section": section[:-1], **key, "flags": " ".join(key["flags"]),
                             "detail": f"user {key['user_id']}" if "user_id" in key else ""})
    for status, invites in review["invitations"].items():
        for invite in invites:
            writer.writerow({"section": "invitation", **invite, "status": status, "created_at": invite["invited_at"]})
    for change in review["role_changes"]:
        writer.writerow({"section": "role_change", "id": change["id"], "name": change["type"],
                         "created_at": change["created_at"],
                         "detail": json.dumps({k: change[k] for k in ("actor", "target", "before", "after")},
                                              sort_keys=True)})
    return out.getvalue()


class AccessReviewService:
    """Builds access reviews; needs Permission.COMPLIANCE_READ."""

    def __init__(self, repo: AuditRepository) -> None:
        self._repo = repo

    async def review(self, principal: Principal, workspace_id: str, *, start: datetime | None = None,
                     end: datetime | None = None, unused_days: int = 90) -> dict[str, Any]:
        """The review of ``workspace_id`` for [start, end) (default: the last 90 days)."""
        require(principal, Permission.COMPLIANCE_READ)
        now = datetime.now(UTC)
        end = end or now
        start = start or end - timedelta(days=90)
        if end <= start:
            raise InvalidRequestError("ending_at must be after starting_at")
        if not 1 <= unused_days <= 3650:
            raise InvalidRequestError("unused_days: Input should be between 1 and 3650")
        facts = await self._repo.access_facts(principal.org_id, workspace_id, start, end)
        if facts is None:
            raise NotFoundError(f"workspace: {workspace_id} not found")
        return build_review(facts, start, end, now, unused_days)
