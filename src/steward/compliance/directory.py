"""``/v1/admin/compliance/organizations`` and ``/users``: the organizations a principal belongs to and their
users (including removed ones, which an auditor needs), for multi-organization deployments."""

from __future__ import annotations

from typing import Any

from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require
from steward.controlplane.shapes import rfc3339
from steward.errors import InvalidRequestError, NotFoundError
from steward.storage.repositories.audit import AuditRepository


class DirectoryService:
    """Organizations and users as compliance sees them (Permission.COMPLIANCE_READ)."""

    def __init__(self, repo: AuditRepository) -> None:
        self._repo = repo

    async def organizations(self, principal: Principal) -> dict[str, Any]:
        """Every organization the principal belongs to (a user belongs to exactly one)."""
        require(principal, Permission.COMPLIANCE_READ)
        orgs = await self._repo.organizations([principal.org_id])
        return {"data": [{"id": o.id, "type": "organization", "name": o.name, "created_at": rfc3339(o.created_at)}
                         for o in orgs], "has_more": False,
                "first_id": orgs[0].id if orgs else None, "last_id": orgs[-1].id if orgs else None}

    async def users(self, principal: Principal, organization_id: str | None = None, *, limit: int = 100,
                    after_id: str | None = None) -> dict[str, Any]:
        """The users of one organization (the principal's own when none is named)."""
        require(principal, Permission.COMPLIANCE_READ)
        if not 1 <= limit <= 1000:
            raise InvalidRequestError("limit: Input should be between 1 and 1000")
        org = organization_id or principal.org_id
        if org != principal.org_id:
            raise NotFoundError(f"organization: {org} not found")
        users, more = await self._repo.users(org, limit=limit, after_id=after_id)
        data = [{"id": u.id, "type": "user", "organization_id": u.org_id, "email": u.email, "name": u.name,
                 "role": u.role, "added_at": rfc3339(u.added_at), "removed_at": rfc3339(u.removed_at),
                 "status": "removed" if u.removed_at else "active"} for u in users]
        return {"data": data, "has_more": more, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}
