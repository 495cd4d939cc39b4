"""Workspaces (create, list, get, update, archive) and their members (add, list, get, update, remove)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from steward.controlplane.audit import admin_event
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import WORKSPACE_ROLES, Permission, require, visible_workspaces
from steward.controlplane.shapes import member_object, page_object, workspace_object
from steward.controlplane.users import load_user
from steward.errors import ConflictError, InvalidRequestError, NotFoundError
from steward.ids import new_id
from steward.storage.models import Workspace, WorkspaceMember
from steward.storage.repositories.admin import AdminStore, Unit

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def _check_fields(name: str | None, color: str | None, tags: dict[str, str] | None) -> None:
    if name is not None and not _NAME.match(name):
        raise InvalidRequestError("name: 1-40 characters: letters, digits, space, _ . - (starting with a letter "
                                  "or digit)")
    if color is not None and not _COLOR.match(color):
        raise InvalidRequestError("display_color: must match ^#[0-9A-Fa-f]{6}$")
    for key in tags or {}:
        if key.startswith("anthropic"):
            raise InvalidRequestError("tags: keys may not start with 'anthropic'")


def check_workspace_role(role: str) -> str:
    """A workspace role; the seed's short names (``developer``, ``admin``...) mean the workspace role."""
    if f"workspace_{role}" in WORKSPACE_ROLES:
        return f"workspace_{role}"
    if role not in WORKSPACE_ROLES:
        raise InvalidRequestError(f"workspace_role: Input should be one of {', '.join(WORKSPACE_ROLES)}")
    return role


async def load_workspace(unit: Unit, principal: Principal, workspace_id: str) -> Workspace:
    ws = await unit.get(Workspace, workspace_id)
    if ws is None or ws.org_id != principal.org_id:
        raise NotFoundError(f"workspace: {workspace_id} not found")
    return ws


class WorkspaceService:
    def __init__(self, store: AdminStore) -> None:
        self._store = store

    async def create(self, principal: Principal, name: str, *, display_color: str | None = None,
                     tags: dict[str, str] | None = None, allowed_models: Sequence[str] | None = None) -> dict[str, Any]:
        require(principal, Permission.WORKSPACES_WRITE)
        _check_fields(name, display_color, tags)
        async with self._store.unit() as unit:
            if await unit.workspace_by_name(principal.org_id, name) is not None:
                raise ConflictError(f"A workspace named {name!r} already exists.")
            ws = Workspace(id=new_id("wrkspc"), org_id=principal.org_id, name=name, display_color=display_color,
                           created_at=datetime.now(UTC), archived_at=None, tags=tags or None,
                           allowed_models=list(allowed_models) if allowed_models is not None else None)
            unit.add(ws)
            unit.audit(admin_event(principal, "admin.workspaces.create", target={"workspace_id": ws.id},
                                   workspace_id=ws.id, after={"name": name, "allowed_models": ws.allowed_models}))
            return workspace_object(ws)

    async def list(self, principal: Principal, paging: Paging, *, include_archived: bool = False) -> dict[str, Any]:
        only = visible_workspaces(principal, Permission.WORKSPACES_READ)
        async with self._store.unit() as unit:
            page = await unit.workspaces_page(principal.org_id, include_archived=include_archived, only=only,
                                              limit=paging.limit, before_id=paging.before_id,
                                              after_id=paging.after_id)
            return page_object([workspace_object(w) for w in page], page.has_more)

    async def get(self, principal: Principal, workspace_id: str) -> dict[str, Any]:
        async with self._store.unit() as unit:
            ws = await load_workspace(unit, principal, workspace_id)
            require(principal, Permission.WORKSPACES_READ, ws.id)
            return workspace_object(ws)

    async def update(self, principal: Principal, workspace_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        require(principal, Permission.WORKSPACES_WRITE)
        if "name" in changes and changes["name"] is None:
            raise InvalidRequestError("name: Input should be a valid string (a workspace always has a name)")
        _check_fields(changes.get("name"), changes.get("display_color"), changes.get("tags"))
        async with self._store.unit() as unit:
            ws = await load_workspace(unit, principal, workspace_id)
            if ws.archived_at is not None:
                raise InvalidRequestError("An archived workspace cannot be changed.")
            if "name" in changes and changes["name"] != ws.name and \
                    await unit.workspace_by_name(principal.org_id, changes["name"]) is not None:
                raise ConflictError(f"A workspace named {changes['name']!r} already exists.")
            before = {k: getattr(ws, k) for k in changes}
            for key, value in changes.items():
                setattr(ws, key, value)
            unit.add(ws)
            unit.audit(admin_event(principal, "admin.workspaces.update", target={"workspace_id": ws.id},
                                   workspace_id=ws.id, before=before, after=changes))
            return workspace_object(ws)

    async def archive(self, principal: Principal, workspace_id: str) -> dict[str, Any]:
        require(principal, Permission.WORKSPACES_WRITE)
        async with self._store.unit() as unit:
            ws = await load_workspace(unit, principal, workspace_id)
            if ws.archived_at is None:
                ws.archived_at = datetime.now(UTC)
                unit.add(ws)
                unit.audit(admin_event(principal, "admin.workspaces.archive", target={"workspace_id": ws.id},
                                       workspace_id=ws.id, after={"archived_at": ws.archived_at}))
            return workspace_object(ws)


class MemberService:
    def __init__(self, store: AdminStore) -> None:
        self._store = store

    async def add(self, principal: Principal, workspace_id: str, user_id: str, role: str) -> dict[str, Any]:
        require(principal, Permission.MEMBERS_WRITE, workspace_id)
        role = check_workspace_role(role)
        async with self._store.unit() as unit:
            ws = await load_workspace(unit, principal, workspace_id)
            if ws.archived_at is not None:
                raise InvalidRequestError(f"Workspace {ws.name!r} is archived.")
            await load_user(unit, principal, user_id)
            if await unit.get(WorkspaceMember, (ws.id, user_id)) is not None:
                raise ConflictError(f"user {user_id} is already a member of workspace {ws.id}")
            member = WorkspaceMember(workspace_id=ws.id, user_id=user_id, workspace_role=role,
                                     added_at=datetime.now(UTC))
            unit.add(member)
            unit.audit(admin_event(principal, "admin.members.add", workspace_id=ws.id,
                                   target={"workspace_id": ws.id, "user_id": user_id}, after={"workspace_role": role}))
            return member_object(member)

    async def _member(self, unit: Unit, principal: Principal, workspace_id: str, user_id: str) -> WorkspaceMember:
        await load_workspace(unit, principal, workspace_id)
        member = await unit.get(WorkspaceMember, (workspace_id, user_id))
        if member is None:
            raise NotFoundError(f"workspace_member: {user_id} is not a member of {workspace_id}")
        return member

    async def list(self, principal: Principal, workspace_id: str, paging: Paging) -> dict[str, Any]:
        require(principal, Permission.MEMBERS_READ, workspace_id)
        async with self._store.unit() as unit:
            await load_workspace(unit, principal, workspace_id)
            page = await unit.members_page(workspace_id, limit=paging.limit, before_id=paging.before_id,
                                           after_id=paging.after_id)
            return page_object([member_object(m) for m in page], page.has_more, id_field="user_id")

    async def get(self, principal: Principal, workspace_id: str, user_id: str) -> dict[str, Any]:
        if user_id != principal.user_id:
            require(principal, Permission.MEMBERS_READ, workspace_id)
        async with self._store.unit() as unit:
            return member_object(await self._member(unit, principal, workspace_id, user_id))

    async def update(self, principal: Principal, workspace_id: str, user_id: str, role: str) -> dict[str, Any]:
        require(principal, Permission.MEMBERS_WRITE, workspace_id)
        role = check_workspace_role(role)
        async with self._store.unit() as unit:
            member = await self._member(unit, principal, workspace_id, user_id)
            before = member.workspace_role
            member.workspace_role = role
            unit.add(member)
            unit.audit(admin_event(principal, "admin.members.update", workspace_id=workspace_id,
                                   target={"workspace_id": workspace_id, "user_id": user_id},
                                   before={"workspace_role": before}, after={"workspace_role": role}))
            return member_object(member)

    async def remove(self, principal: Principal, workspace_id: str, user_id: str) -> dict[str, Any]:
        require(principal, Permission.MEMBERS_WRITE, workspace_id)
        async with self._store.unit() as unit:
            member = await self._member(unit, principal, workspace_id, user_id)
            await unit.delete(member)
            unit.audit(admin_event(principal, "admin.members.remove", workspace_id=workspace_id,
                                   target={"workspace_id": workspace_id, "user_id": user_id},
                                   before={"workspace_role": member.workspace_role}))
        return {"type": "workspace_member_deleted", "user_id": user_id, "workspace_id": workspace_id}
