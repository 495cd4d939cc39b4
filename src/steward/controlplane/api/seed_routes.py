"""The seed's Admin API paths (``/v1/admin/...``): Steward's additions over the same services, e.g. key
creation and rotation, invitations with workspaces and acceptance, admin keys and the key hygiene report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from steward.controlplane.api.bodies import Body, KeyUpdateBody, LimitsBody, RoleBody
from steward.controlplane.api.deps import Page, Svc, Who, listed

router = APIRouter(prefix="/v1/admin")
Json = dict[str, Any]


class InvitationBody(Body):
    email: str
    role: str
    workspaces: list[str | dict[str, Any]] | None = None
    expires_in_days: int | None = None


class AcceptBody(Body):
    token: str
    name: str


class WorkspaceBody(Body):
    name: str
    display_color: str | None = None
    tags: dict[str, str] | None = None
    allowed_models: list[str] | None = None


class WorkspaceUpdateBody(Body):
    name: str | None = None
    display_color: str | None = None
    tags: dict[str, str] | None = None
    allowed_models: list[str] | None = None


class MemberBody(Body):
    user_id: str
    role: str


class KeyBody(Body):
    workspace_id: str
    name: str
    expires_in_days: int | None = None
    scopes: dict[str, Any] | None = None
    owner: str | None = None  # a user id: the key is that person's (their person spend limits cover it)


class RotateBody(Body):
    grace_period_seconds: int | None = None


class AdminKeyBody(Body):
    name: str
    user_id: str | None = None
    scopes: list[str] = []
    expires_in_days: int | None = None


@router.post("/invitations/accept")
async def accept_invitation(body: AcceptBody, request: Request, svc: Svc) -> Json:
    client = request.client.host if request.client else None
    return await svc.invitations.accept(body.token, body.name, request_id=request.state.request_id, ip=client)


@router.post("/invitations")
async def create_invitation(body: InvitationBody, who: Who, svc: Svc) -> Json:
    return await svc.invitations.create(who, body.email, body.role, workspaces=body.workspaces,
                                        expires_in_days=body.expires_in_days)


@router.get("/invitations")
async def list_invitations(request: Request, who: Who, svc: Svc, page: Page) -> Json:
    return await svc.invitations.list(who, page, statuses=listed(request, "status"))


@router.get("/invitations/{invite_id}")
async def get_invitation(invite_id: str, who: Who, svc: Svc) -> Json:
    return await svc.invitations.get(who, invite_id)


@router.delete("/invitations/{invite_id}")
async def revoke_invitation(invite_id: str, who: Who, svc: Svc) -> Json:
    return await svc.invitations.revoke(who, invite_id)


@router.get("/users")
async def list_users(who: Who, svc: Svc, page: Page, email: str | None = None, role: str | None = None) -> Json:
    return await svc.users.list(who, page, email=email, roles=[role] if role else None)


@router.get("/users/{user_id}")
async def get_user(user_id: str, who: Who, svc: Svc) -> Json:
    return await svc.users.get(who, user_id)


@router.put("/users/{user_id}")
async def update_user(user_id: str, body: RoleBody, who: Who, svc: Svc) -> Json:
    return await svc.users.update(who, user_id, body.role)


@router.delete("/users/{user_id}")
async def remove_user(user_id: str, who: Who, svc: Svc) -> Json:
    return await svc.users.remove(who, user_id)


@router.post("/workspaces")
async def create_workspace(body: WorkspaceBody, who: Who, svc: Svc) -> Json:
    return await svc.workspaces.create(who, body.name, display_color=body.display_color, tags=body.tags,
                                       allowed_models=body.allowed_models)


@router.get("/workspaces")
async def list_workspaces(who: Who, svc: Svc, page: Page, include_archived: bool = False) -> Json:
    return await svc.workspaces.list(who, page, include_archived=include_archived)


@router.get("/workspaces/{workspace_id}")
async def get_workspace(workspace_id: str, who: Who, svc: Svc) -> Json:
    return await svc.workspaces.get(who, workspace_id)


@router.put("/workspaces/{workspace_id}")
async def update_workspace(workspace_id: str, body: WorkspaceUpdateBody, who: Who, svc: Svc) -> Json:
    return await svc.workspaces.update(who, workspace_id, body.model_dump(exclude_unset=True))


@router.post("/workspaces/{workspace_id}/archive")
async def archive_workspace(workspace_id: str, who: Who, svc: Svc) -> Json:
    return await svc.workspaces.archive(who, workspace_id)


@router.post("/workspaces/{workspace_id}/members")
async def add_member(workspace_id: str, body: MemberBody, who: Who, svc: Svc) -> Json:
    return await svc.members.add(who, workspace_id, body.user_id, body.role)


@router.get("/workspaces/{workspace_id}/members")
async def list_members(workspace_id: str, who: Who, svc: Svc, page: Page) -> Json:
    return await svc.members.list(who, workspace_id, page)


@router.get("/workspaces/{workspace_id}/members/{user_id}")
async def get_member(workspace_id: str, user_id: str, who: Who, svc: Svc) -> Json:
    return await svc.members.get(who, workspace_id, user_id)


@router.put("/workspaces/{workspace_id}/members/{user_id}")
async def update_member(workspace_id: str, user_id: str, body: RoleBody, who: Who, svc: Svc) -> Json:
    return await svc.members.update(who, workspace_id, user_id, body.role)


@router.delete("/workspaces/{workspace_id}/members/{user_id}")
async def remove_member(workspace_id: str, user_id: str, who: Who, svc: Svc) -> Json:
    return await svc.members.remove(who, workspace_id, user_id)


@router.get("/keys/report")
async def key_report(who: Who, svc: Svc, rotation_age_days: Annotated[int, Query(ge=1)] = 90,
                     unused_days: Annotated[int, Query(ge=1)] = 30) -> Json:
    return await svc.keys.report(who, rotation_age_days=rotation_age_days, unused_days=unused_days)


@router.post("/keys")
async def create_key(body: KeyBody, who: Who, svc: Svc) -> Json:
    return await svc.keys.create(who, body.workspace_id, body.name, expires_in_days=body.expires_in_days,
                                 scopes=body.scopes, owner=body.owner)


@router.get("/keys")
async def list_keys(who: Who, svc: Svc, page: Page, workspace_id: str | None = None, status: str | None = None,
                    created_by: str | None = None) -> Json:
    return await svc.keys.list(who, page, workspace_id=workspace_id, status=status, created_by=created_by)


@router.get("/keys/{key_id}")
async def get_key(key_id: str, who: Who, svc: Svc) -> Json:
    return await svc.keys.get(who, key_id)


@router.put("/keys/{key_id}")
async def update_key(key_id: str, body: KeyUpdateBody, who: Who, svc: Svc) -> Json:
    return await svc.keys.update(who, key_id, name=body.name, status=body.status)


@router.post("/keys/{key_id}/rotate")
async def rotate_key(key_id: str, who: Who, svc: Svc, body: RotateBody | None = None) -> Json:
    return await svc.keys.rotate(who, key_id, grace_period_seconds=body.grace_period_seconds if body else None)


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, who: Who, svc: Svc) -> Json:
    return await svc.keys.revoke(who, key_id)


@router.post("/admin_keys")
async def create_admin_key(body: AdminKeyBody, who: Who, svc: Svc) -> Json:
    return await svc.admin_keys.create(who, body.name, user_id=body.user_id, scopes=body.scopes,
                                       expires_in_days=body.expires_in_days)


@router.get("/admin_keys")
async def list_admin_keys(who: Who, svc: Svc, page: Page) -> Json:
    return await svc.admin_keys.list(who, page)


@router.delete("/admin_keys/{admin_key_id}")
async def revoke_admin_key(admin_key_id: str, who: Who, svc: Svc) -> Json:
    return await svc.admin_keys.revoke(who, admin_key_id)


@router.get("/keys/{key_id}/rate_limits")
async def list_key_rate_limits(key_id: str, who: Who, svc: Svc) -> Json:
    return await svc.rate_limits.list_key(who, key_id)


@router.post("/keys/{key_id}/rate_limits/{rate_limit_id}")
async def update_key_rate_limits(key_id: str, rate_limit_id: str, body: LimitsBody, who: Who, svc: Svc) -> Json:
    return await svc.rate_limits.update_key(who, key_id, rate_limit_id, [v.model_dump() for v in body.limits])
