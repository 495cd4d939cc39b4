"""Workspaces (and their members), users (role changes) and invitations (invite, revoke), page by page.

Each action calls the control-plane service with the signed-in principal; refusals come back as the
service's 403 and are shown on the same page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from steward.console.auth import Session
from steward.console.web import field, pager, paging, query, render, state
from steward.controlplane.paging import Paging
from steward.controlplane.rbac import ORG_ROLES, WORKSPACE_ROLES, Permission, allowed
from steward.errors import StewardError

Page = Callable[..., Awaitable[Response]]


async def _act(request: Request, session: Session, action: Awaitable[dict[str, Any]], again: Page,
               notice: str) -> Response:
    try:
        result = await action
    except StewardError as exc:
        return await again(request, session, status=exc.status, error=exc.message)
    return await again(request, session, notice=notice.format(**result), result=result)


# --- workspaces -------------------------------------------------------------------------------------------

async def workspaces_page(request: Request, session: Session, *, status: int = 200, **extra: Any) -> Response:
    archived = query(request, "archived") == "1"
    listing = await state(request).services.workspaces.list(session.principal, paging(request),
                                                            include_archived=archived)
    return render(request, session, "workspaces.html", status=status, workspaces=listing["data"],
                  pages=pager(request, listing), archived=archived, **extra)


async def workspaces_list(request: Request, session: Session) -> Response:
    return await workspaces_page(request, session)


async def workspace_create(request: Request, session: Session) -> Response:
    form = await request.form()
    action = state(request).services.workspaces.create(session.principal, field(form, "name"))
    return await _act(request, session, action, workspaces_page, "Workspace {name} created.")


async def workspace_page(request: Request, session: Session, *, status: int = 200, **extra: Any) -> Response:
    services = state(request).services
    ws_id = request.path_params["workspace_id"]
    workspace = await services.workspaces.get(session.principal, ws_id)
    members: dict[str, Any] | None = None
    try:
        members = await services.members.list(session.principal, ws_id, paging(request))
    except StewardError as exc:
        if exc.status != 403:
            raise
    limits = await services.rate_limits.list_workspace(session.principal, ws_id, include_inherited=True)
    people: dict[str, dict[str, Any]] = {}
    if members is not None and allowed(session.principal, Permission.USERS_READ):  # one lookup for the page
        people = {u["id"]: u for u in (await services.users.list(session.principal, Paging.of(1000)))["data"]}
    return render(request, session, "workspace.html", status=status, workspace=workspace, members=members,
                  people=people,
                  pages=pager(request, members) if members else {}, rate_limits=limits["data"],
                  roles=WORKSPACE_ROLES, **extra)


async def workspace_detail(request: Request, session: Session) -> Response:
    return await workspace_page(request, session)


async def member_add(request: Request, session: Session) -> Response:
    form = await request.form()
    services = state(request).services
    ws_id = request.path_params["workspace_id"]
    user_id = field(form, "user_id")
    if "@" in user_id:  # an email: find the user the caller may see
        found = await services.users.list(session.principal, paging(request), email=user_id)
        user_id = found["data"][0]["id"] if found["data"] else user_id
    action = services.members.add(session.principal, ws_id, user_id, field(form, "workspace_role"))
    return await _act(request, session, action, workspace_page, "{user_id} added as {workspace_role}.")


async def member_update(request: Request, session: Session) -> Response:
    form = await request.form()
    action = state(request).services.members.update(session.principal, request.path_params["workspace_id"],
                                                     request.path_params["user_id"], field(form, "workspace_role"))
    return await _act(request, session, action, workspace_page, "{user_id} is now {workspace_role}.")


async def member_remove(request: Request, session: Session) -> Response:
    action = state(request).services.members.remove(session.principal, request.path_params["workspace_id"],
                                                     request.path_params["user_id"])
    return await _act(request, session, action, workspace_page, "{user_id} removed from the workspace.")


# --- users ------------------------------------------------------------------------------------------------

async def users_page(request: Request, session: Session, *, status: int = 200, **extra: Any) -> Response:
    role = query(request, "role")
    listing = await state(request).services.users.list(session.principal, paging(request),
                                                       email=query(request, "email"),
                                                       roles=[role] if role else None)
    names = await state(request).repo.workspace_names(session.principal.org_id)
    return render(request, session, "users.html", status=status, users=listing["data"], names=names,
                  pages=pager(request, listing), roles=ORG_ROLES, role=role or "", email=query(request, "email") or "",
                  **extra)


async def users_list(request: Request, session: Session) -> Response:
    return await users_page(request, session)


async def user_role(request: Request, session: Session) -> Response:
    form = await request.form()
    action = state(request).services.users.update(session.principal, request.path_params["user_id"],
                                                   field(form, "role"))
    return await _act(request, session, action, users_page, "{email} is now {role}.")


# --- invitations ------------------------------------------------------------------------------------------

async def invitations_page(request: Request, session: Session, *, status: int = 200, **extra: Any) -> Response:
    services = state(request).services
    wanted = query(request, "status")
    listing = await services.invitations.list(session.principal, paging(request),
                                              statuses=[wanted] if wanted else None)
    workspaces = await services.workspaces.list(session.principal, Paging.of(1000))
    return render(request, session, "invitations.html", status=status, invitations=listing["data"],
                  pages=pager(request, listing), roles=ORG_ROLES, workspaces=workspaces["data"],
                  invite_status=wanted or "", base=str(request.base_url).rstrip("/"), **extra)


async def invitations_list(request: Request, session: Session) -> Response:
    return await invitations_page(request, session)


async def invitation_create(request: Request, session: Session) -> Response:
    form = await request.form()
    grants = [w for w in form.getlist("workspace_id") if isinstance(w, str) and w]
    action = state(request).services.invitations.create(session.principal, field(form, "email"),
                                                        field(form, "role"), workspaces=grants or None)
    return await _act(request, session, action, invitations_page,
                      "Invitation for {email} created. Send them the link below: it is shown only once.")


async def invitation_revoke(request: Request, session: Session) -> Response:
    action = state(request).services.invitations.revoke(session.principal, request.path_params["invite_id"])
    return await _act(request, session, action, invitations_page, "Invitation for {email} revoked.")
