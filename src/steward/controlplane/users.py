"""Users: list, get, change role, remove (keys deactivated, memberships removed); the last admin stays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from steward.controlplane.audit import admin_event
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import ORG_ROLES, Permission, require
from steward.controlplane.shapes import page_object, user_object
from steward.errors import InvalidRequestError, NotFoundError
from steward.storage.models import User
from steward.storage.repositories.admin import AdminStore, Unit


def check_org_role(role: str) -> str:
    if role not in ORG_ROLES:
        raise InvalidRequestError(f"role: Input should be one of {', '.join(ORG_ROLES)}")
    return role


async def load_user(unit: Unit, principal: Principal, user_id: str) -> User:
    user = await unit.get(User, user_id)
    if user is None or user.org_id != principal.org_id or user.removed_at is not None:
        raise NotFoundError(f"user: {user_id} not found")
    return user


class UserService:
    def __init__(self, store: AdminStore) -> None:
        self._store = store

    async def list(self, principal: Principal, paging: Paging, *, email: str | None = None,
                   roles: Sequence[str] | None = None) -> dict[str, Any]:
        require(principal, Permission.USERS_READ)
        for role in roles or ():
            check_org_role(role)
        async with self._store.unit() as unit:
            wanted = email.strip().lower() if email else None
            page = await unit.users_page(principal.org_id, email=wanted, roles=roles, limit=paging.limit,
                                         before_id=paging.before_id, after_id=paging.after_id)
            data = [user_object(u, [m.workspace_id for m in await unit.memberships(u.id)]) for u in page]
        return page_object(data, page.has_more)

    async def get(self, principal: Principal, user_id: str) -> dict[str, Any]:
        if user_id != principal.user_id:
            require(principal, Permission.USERS_READ)
        async with self._store.unit() as unit:
            user = await load_user(unit, principal, user_id)
            return user_object(user, [m.workspace_id for m in await unit.memberships(user.id)])

    async def update(self, principal: Principal, user_id: str, role: str) -> dict[str, Any]:
        require(principal, Permission.USERS_WRITE)
        check_org_role(role)
        async with self._store.unit() as unit:
            user = await load_user(unit, principal, user_id)
            before = user.role
            if before == "admin" and role != "admin" and await unit.count_admins(principal.org_id) <= 1:
                raise InvalidRequestError("The last admin of the organization cannot be demoted.")
            user.role = role
            unit.add(user)
            unit.audit(admin_event(principal, "admin.users.update", target={"user_id": user.id},
                                   before={"role": before}, after={"role": role}))
            return user_object(user, [m.workspace_id for m in await unit.memberships(user.id)])

    async def remove(self, principal: Principal, user_id: str) -> dict[str, Any]:
        require(principal, Permission.USERS_WRITE)
        async with self._store.unit() as unit:
            user = await load_user(unit, principal, user_id)
            if user.role == "admin" and await unit.count_admins(principal.org_id) <= 1:
                raise InvalidRequestError("The last admin of the organization cannot be removed.")
            now = datetime.now(UTC)
            memberships = await unit.memberships(user.id)
            for member in memberships:
                await unit.delete(member)
            keys = await unit.api_keys(principal.org_id, created_by=user.id, statuses=("active",))
            for key in keys:
                key.status = "inactive"
                unit.add(key)
            for admin_key in await unit.admin_keys_of(user.id):
                admin_key.status = "archived"
                unit.add(admin_key)
            user.removed_at = now
            unit.add(user)
            unit.audit(admin_event(principal, "admin.users.remove", target={"user_id": user.id},
                                   before={"role": user.role, "workspace_ids": [m.workspace_id for m in memberships]},
                                   after={"deactivated_key_ids": [k.id for k in keys]}))
        return {"id": user_id, "type": "user_deleted"}

