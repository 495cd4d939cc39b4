"""Policy routes under ``/v1/admin``: documents per organization, workspace and key, history, dry run, shadow report.

Thin: each route names the scope and hands over to ``PolicyService`` (docs/policies.md, docs/admin-api.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from steward.controlplane.api.bodies import Body
from steward.controlplane.api.deps import Page, Svc, Who
from steward.controlplane.container import AdminServices
from steward.controlplane.principal import Principal

router = APIRouter(prefix="/v1/admin")
Json = dict[str, Any]


class CheckBody(Body):
    workspace_id: str
    api_key_id: str | None = None
    request: dict[str, Any]


async def _get(svc: AdminServices, who: Principal, scope: str, scope_id: str | None) -> Json:
    found = await svc.policies.get(who, scope, scope_id)
    if found is not None:
        return found
    return {"type": "policy", "scope": scope, "scope_id": scope_id or who.org_id, "document": None,
            "version": None, "updated_at": None, "updated_by": None}


@router.get("/policy")
async def get_org_policy(who: Who, svc: Svc) -> Json:
    return await _get(svc, who, "organization", None)


@router.put("/policy")
async def put_org_policy(document: dict[str, Any], who: Who, svc: Svc) -> Json:
    return await svc.policies.put(who, "organization", None, document)


@router.delete("/policy")
async def delete_org_policy(who: Who, svc: Svc) -> Json:
    return await svc.policies.delete(who, "organization", None)


@router.get("/workspaces/{workspace_id}/policy")
async def get_workspace_policy(workspace_id: str, who: Who, svc: Svc) -> Json:
    return await _get(svc, who, "workspace", workspace_id)


@router.put("/workspaces/{workspace_id}/policy")
async def put_workspace_policy(workspace_id: str, document: dict[str, Any], who: Who, svc: Svc) -> Json:
    return await svc.policies.put(who, "workspace", workspace_id, document)


@router.delete("/workspaces/{workspace_id}/policy")
async def delete_workspace_policy(workspace_id: str, who: Who, svc: Svc) -> Json:
    return await svc.policies.delete(who, "workspace", workspace_id)


@router.get("/keys/{api_key_id}/policy")
async def get_key_policy(api_key_id: str, who: Who, svc: Svc) -> Json:
    return await _get(svc, who, "key", api_key_id)


@router.put("/keys/{api_key_id}/policy")
async def put_key_policy(api_key_id: str, document: dict[str, Any], who: Who, svc: Svc) -> Json:
    return await svc.policies.put(who, "key", api_key_id, document)


@router.delete("/keys/{api_key_id}/policy")
async def delete_key_policy(api_key_id: str, who: Who, svc: Svc) -> Json:
    return await svc.policies.delete(who, "key", api_key_id)


@router.get("/policies")
async def list_policies(who: Who, svc: Svc) -> Json:
    data = await svc.policies.list(who)
    return {"data": data, "has_more": False}


@router.get("/policies/versions")
async def list_policy_versions(who: Who, svc: Svc, page: Page, scope: str | None = None,
                               scope_id: str | None = None) -> Json:
    return await svc.policies.versions(who, page, scope=scope, scope_id=scope_id)


@router.post("/policies/check")
async def check_policy(body: CheckBody, who: Who, svc: Svc) -> Json:
    return await svc.policies.check(who, body.workspace_id, body.api_key_id, body.request)


@router.get("/policies/shadow_report")
async def shadow_report(who: Who, svc: Svc, starting_at: datetime | None = None, ending_at: datetime | None = None,
                        workspace_id: str | None = None) -> Json:
    return await svc.policies.shadow_report(who, starting_at=starting_at, ending_at=ending_at,
                                            workspace_id=workspace_id)
