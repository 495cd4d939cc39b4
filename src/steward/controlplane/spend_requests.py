"""Spend-limit increase requests: a member asks for a higher cap, an admin approves (the cap rises) or denies;
each step is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from steward.controlplane.audit import admin_event
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, allowed, require
from steward.controlplane.shapes import page_object
from steward.controlplane.spend_limits import (
    _cents,
    is_own_person_cap,
    limit_object,
    limit_workspace,
    request_object,
)
from steward.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from steward.ids import new_id
from steward.storage.models import SpendLimit, SpendLimitIncreaseRequest
from steward.storage.repositories.admin import AdminStore, Unit

STATUSES = ("pending", "approved", "denied")


async def _may_request(unit: Unit, principal: Principal, limit: SpendLimit) -> bool:
    """Admins and billing ask for any limit; a developer only for a limit of a workspace it belongs to (or of a
    key there), or for its own person cap. Before, a developer could file against any workspace's limit (issue 13)."""
    if principal.role in ("admin", "billing") or is_own_person_cap(principal, limit):
        return True
    workspace = await limit_workspace(unit, limit)
    return workspace is not None and workspace in principal.memberships


class IncreaseRequestService:
    def __init__(self, store: AdminStore) -> None:
        self._store = store

    async def _load(self, unit: Unit, principal: Principal, request_id: str) -> SpendLimitIncreaseRequest:
        req = await unit.get(SpendLimitIncreaseRequest, request_id)
        if req is None or req.org_id != principal.org_id:
            raise NotFoundError(f"spend_limit_increase_request: {request_id} not found")
        if req.requested_by != principal.user_id and not allowed(principal, Permission.USERS_READ) \
                and not allowed(principal, Permission.SPEND_REVIEW):
            raise NotFoundError(f"spend_limit_increase_request: {request_id} not found")
        return req

    async def create(self, principal: Principal, spend_limit_id: str, amount: str,
                     reason: str | None = None) -> dict[str, Any]:
        require(principal, Permission.SPEND_REQUEST)
        cents = _cents(amount)
        async with self._store.unit() as unit:
            limit = await unit.get(SpendLimit, spend_limit_id)
            if limit is None or limit.org_id != principal.org_id:
                raise NotFoundError(f"spend_limit: {spend_limit_id} not found")
            if not await _may_request(unit, principal, limit):
                raise PermissionDeniedError(f"Role {principal.role!r} may only ask to raise the limits of "
                                            "workspaces it is a member of.")
            if cents <= limit.amount_cents:
                raise InvalidRequestError(f"amount: must be above the current limit ({limit.amount_cents} cents)")
            req = SpendLimitIncreaseRequest(id=new_id("splreq"), org_id=principal.org_id, spend_limit_id=limit.id,
                                            requested_by=principal.user_id, amount_cents=cents, reason=reason,
                                            status="pending", created_at=datetime.now(UTC), resolved_at=None,
                                            resolved_by=None, resolution_note=None, details=None)
            unit.add(req)
            unit.audit(admin_event(principal, "admin.spend_limits.increase_requested",
                                   target={"spend_limit_increase_request_id": req.id, "spend_limit_id": limit.id},
                                   before={"amount": limit.amount_cents}, after={"amount": cents, "reason": reason}))
            return request_object(req, limit)

    async def list(self, principal: Principal, paging: Paging, *, status: str | None = None) -> dict[str, Any]:
        require(principal, Permission.ORG_READ)
        if status is not None and status not in STATUSES:
            raise InvalidRequestError(f"status: Input should be one of {', '.join(STATUSES)}")
        async with self._store.unit() as unit:
            page = await unit.increase_requests_page(principal.org_id, status=status, limit=paging.limit,
                                                     before_id=paging.before_id, after_id=paging.after_id)
            sees_all = allowed(principal, Permission.USERS_READ) or allowed(principal, Permission.SPEND_REVIEW)
            data = [request_object(r, await unit.get(SpendLimit, r.spend_limit_id)) for r in page
                    if sees_all or r.requested_by == principal.user_id]
            return page_object(data, page.has_more)

    async def get(self, principal: Principal, request_id: str) -> dict[str, Any]:
        async with self._store.unit() as unit:
            req = await self._load(unit, principal, request_id)
            return request_object(req, await unit.get(SpendLimit, req.spend_limit_id))

    async def resolve(self, principal: Principal, request_id: str, *, approve: bool, amount: str | None = None,
                      note: str | None = None) -> dict[str, Any]:
        require(principal, Permission.SPEND_REVIEW)
        async with self._store.unit() as unit:
            req = await self._load(unit, principal, request_id)
            if req.status != "pending":
                raise InvalidRequestError(f"This request is already {req.status}.")
            limit = await unit.get(SpendLimit, req.spend_limit_id)
            if limit is None:
                raise NotFoundError("The spend limit of this request no longer exists.")
            before = limit_object(limit)
            now = datetime.now(UTC)
            if approve:
                limit.amount_cents = _cents(amount) if amount is not None else req.amount_cents
                limit.updated_at = now
                unit.add(limit)
            req.status = "approved" if approve else "denied"
            req.resolved_at, req.resolved_by, req.resolution_note = now, principal.user_id, note
            unit.add(req)
            unit.audit(admin_event(principal, f"admin.spend_limits.increase_{req.status}",
                                   target={"spend_limit_increase_request_id": req.id, "spend_limit_id": limit.id},
                                   before=before, after=limit_object(limit)))
            return request_object(req, limit)
