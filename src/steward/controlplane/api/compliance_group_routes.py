"""Compliance groups over HTTP (``/v1/admin/compliance/groups``): the seed's paths, workspace membership and
the legal hold. Restrictions are checked by the service (clear 400s naming the field)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from steward.controlplane.api.bodies import Body
from steward.controlplane.api.deps import Page, Svc, Who

router = APIRouter(prefix="/v1/admin/compliance/groups")
Json = dict[str, Any]


class GroupBody(Body):
    name: str
    description: str | None = None
    restrictions: dict[str, Any] | None = None


class GroupUpdateBody(Body):
    name: str | None = None
    description: str | None = None
    restrictions: dict[str, Any] | None = None


class GroupWorkspaceBody(Body):
    workspace_id: str


class LegalHoldBody(Body):
    enabled: bool
    reason: str | None = None


@router.post("")
async def create_group(body: GroupBody, who: Who, svc: Svc) -> Json:
    return await svc.compliance_groups.create(who, body.name, body.description, body.restrictions)


@router.get("")
async def list_groups(who: Who, svc: Svc, page: Page) -> Json:
    return await svc.compliance_groups.list(who, page)


@router.get("/{group_id}")
async def get_group(group_id: str, who: Who, svc: Svc) -> Json:
    return await svc.compliance_groups.get(who, group_id)


@router.post("/{group_id}")
async def update_group(group_id: str, body: GroupUpdateBody, who: Who, svc: Svc) -> Json:
    return await svc.compliance_groups.update(who, group_id, body.model_dump(exclude_unset=True))


@router.delete("/{group_id}")
async def delete_group(group_id: str, who: Who, svc: Svc) -> Json:
    return await svc.compliance_groups.delete(who, group_id)


@router.post("/{group_id}/workspaces")
async def add_group_workspace(group_id: str, body: GroupWorkspaceBody, who: Who, svc: Svc) -> Json:
    return await svc.compliance_groups.add_workspace(who, group_id, body.workspace_id)


@router.delete("/{group_id}/workspaces/{workspace_id}")
async def remove_group_workspace(group_id: str, workspace_id: str, who: Who, svc: Svc) -> Json:
    return await svc.compliance_groups.remove_workspace(who, group_id, workspace_id)


@router.post("/{group_id}/legal_hold")
async def set_legal_hold(group_id: str, body: LegalHoldBody, who: Who, svc: Svc) -> Json:
    return await svc.compliance_groups.legal_hold(who, group_id, body.enabled, body.reason)
