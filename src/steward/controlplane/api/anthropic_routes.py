"""Anthropic's Admin API paths (``/v1/organizations/...``) with its exact shapes, so the official SDK's
``client.organization.*`` works against Steward."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from steward.controlplane.api.bodies import Body, KeyUpdateBody, LimitsBody, RoleBody
from steward.controlplane.api.deps import Page, Svc, Who, listed

router = APIRouter(prefix="/v1/organizations")
Json = dict[str, Any]


class InviteBody(Body):
    email: str
    role: str
    rbac_group_ids: list[str] | None = None


class WorkspaceBody(Body):
    name: str
    display_color: str | None = None
    tags: dict[str, str] | None = None
    data_residency: dict[str, Any] | None = None
    external_key_id: str | None = None
    user_profile_id: str | None = None


class WorkspaceUpdateBody(Body):
    name: str | None = None
    display_color: str | None = None
    tags: dict[str, str | None] | None = None  # a null value removes that tag
    data_residency: dict[str, Any] | None = None
    external_key_id: str | None = None
    user_profile_id: str | None = None


class MemberBody(Body):
    user_id: str
    workspace_role: str


class MemberUpdateBody(Body):
    workspace_role: str


@router.get("/me")
async def me(who: Who, svc: Svc) -> Json:
    return await svc.organization.me(who)


@router.get("/users")
async def list_users(request: Request, who: Who, svc: Svc, page: Page, email: str | None = None) -> Json:
    return await svc.users.list(who, page, email=email, roles=listed(request, "roles"))


@router.get("/users/{user_id}")
async def get_user(user_id: str, who: Who, svc: Svc) -> Json:
    return await svc.users.get(who, user_id)


@router.post("/users/{user_id}")
async def update_user(user_id: str, body: RoleBody, who: Who, svc: Svc) -> Json:
    return await svc.users.update(who, user_id, body.role)


@router.delete("/users/{user_id}")
async def remove_user(user_id: str, who: Who, svc: Svc) -> Json:
    return await svc.users.remove(who, user_id)


@router.post("/invites")
async def create_invite(body: InviteBody, who: Who, svc: Svc) -> Json:
    invite = await svc.invitations.create(who, body.email, body.role)
    invite.pop("token")  # Anthropic's invite shape has no token; accept links come from the seed path
    return invite


@router.get("/invites")
async def list_invites(request: Request, who: Who, svc: Svc, page: Page, email: str | None = None) -> Json:
    return await svc.invitations.list(who, page, statuses=listed(request, "statuses"), email=email,
                                      roles=listed(request, "roles"))


@router.get("/invites/{invite_id}")
async def get_invite(invite_id: str, who: Who, svc: Svc) -> Json:
    return await svc.invitations.get(who, invite_id)


@router.delete("/invites/{invite_id}")
async def delete_invite(invite_id: str, who: Who, svc: Svc) -> Json:
    await svc.invitations.revoke(who, invite_id)
    return {"id": invite_id, "type": "invite_deleted"}


@router.post("/workspaces")
async def create_workspace(body: WorkspaceBody, who: Who, svc: Svc) -> Json:
    return await svc.workspaces.create(who, body.name, display_color=body.display_color, tags=body.tags)


@router.get("/workspaces")
async def list_workspaces(who: Who, svc: Svc, page: Page, include_archived: bool = False) -> Json:
    return await svc.workspaces.list(who, page, include_archived=include_archived)


@router.get("/workspaces/{workspace_id}")
async def get_workspace(workspace_id: str, who: Who, svc: Svc) -> Json:
    return await svc.workspaces.get(who, workspace_id)


@router.post("/workspaces/{workspace_id}")
async def update_workspace(workspace_id: str, body: WorkspaceUpdateBody, who: Who, svc: Svc) -> Json:
    changes = body.model_dump(exclude_unset=True, include={"name", "display_color", "tags"})
    if body.tags is not None:
        current = (await svc.workspaces.get(who, workspace_id))["tags"]
        changes["tags"] = {k: v for k, v in {**current, **body.tags}.items() if v is not None}
    return await svc.workspaces.update(who, workspace_id, changes)


@router.post("/workspaces/{workspace_id}/archive")
async def archive_workspace(workspace_id: str, who: Who, svc: Svc) -> Json:
    return await svc.workspaces.archive(who, workspace_id)


@router.get("/workspaces/{workspace_id}/members")
async def list_members(workspace_id: str, who: Who, svc: Svc, page: Page) -> Json:
    return await svc.members.list(who, workspace_id, page)


@router.post("/workspaces/{workspace_id}/members")
async def add_member(workspace_id: str, body: MemberBody, who: Who, svc: Svc) -> Json:
    return await svc.members.add(who, workspace_id, body.user_id, body.workspace_role)


@router.get("/workspaces/{workspace_id}/members/{user_id}")
async def get_member(workspace_id: str, user_id: str, who: Who, svc: Svc) -> Json:
    return await svc.members.get(who, workspace_id, user_id)


@router.post("/workspaces/{workspace_id}/members/{user_id}")
async def update_member(workspace_id: str, user_id: str, body: MemberUpdateBody, who: Who, svc: Svc) -> Json:
    return await svc.members.update(who, workspace_id, user_id, body.workspace_role)


@router.delete("/workspaces/{workspace_id}/members/{user_id}")
async def remove_member(workspace_id: str, user_id: str, who: Who, svc: Svc) -> Json:
    return await svc.members.remove(who, workspace_id, user_id)


@router.get("/api_keys")
async def list_api_keys(who: Who, svc: Svc, page: Page, status: str | None = None, workspace_id: str | None = None,
                        created_by_user_id: str | None = None) -> Json:
    return await svc.keys.list(who, page, workspace_id=workspace_id, status=status, created_by=created_by_user_id)


@router.get("/api_keys/{api_key_id}")
async def get_api_key(api_key_id: str, who: Who, svc: Svc) -> Json:
    return await svc.keys.get(who, api_key_id)


@router.post("/api_keys/{api_key_id}")
async def update_api_key(api_key_id: str, body: KeyUpdateBody, who: Who, svc: Svc) -> Json:
    return await svc.keys.update(who, api_key_id, name=body.name, status=body.status)


@router.get("/rate_limits")
async def list_rate_limits(who: Who, svc: Svc, group_type: str | None = None) -> Json:
    return await svc.rate_limits.list_org(who, group_type=group_type)


@router.post("/rate_limits/{rate_limit_id}")
async def update_rate_limits(rate_limit_id: str, body: LimitsBody, who: Who, svc: Svc) -> Json:
    """Steward addition: organization limits are set by the organization's admins."""
    return await svc.rate_limits.update_org(who, rate_limit_id, [v.model_dump() for v in body.limits])


@router.get("/workspaces/{workspace_id}/rate_limits")
async def list_workspace_rate_limits(workspace_id: str, who: Who, svc: Svc, include_inherited: bool = False) -> Json:
    return await svc.rate_limits.list_workspace(who, workspace_id, include_inherited=include_inherited)


@router.post("/workspaces/{workspace_id}/rate_limits/{rate_limit_id}")
async def update_workspace_rate_limits(workspace_id: str, rate_limit_id: str, body: LimitsBody, who: Who,
                                       svc: Svc) -> Json:
    return await svc.rate_limits.update_workspace(who, workspace_id, rate_limit_id,
                                                  [v.model_dump() for v in body.limits])
