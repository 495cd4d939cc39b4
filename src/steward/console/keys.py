"""API keys: list with filters and keyset pages; create (secret shown once), rotate, revoke.

Every action goes through ``KeyService`` with the signed-in principal, which enforces the permission matrix;
the page only hides controls the principal cannot use.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from steward.console.auth import Session
from steward.console.web import field, pager, paging, query, render, state
from steward.controlplane.paging import Paging
from steward.controlplane.rbac import Permission, allowed
from steward.errors import StewardError


async def _writable(request: Request, session: Session) -> list[dict[str, Any]]:
    """Workspaces where the principal may create keys (for the create form)."""
    services = state(request).services
    listing = await services.workspaces.list(session.principal, Paging.of(1000))
    return [w for w in listing["data"] if allowed(session.principal, Permission.KEYS_WRITE, w["id"])]


async def keys_page(request: Request, session: Session, *, status: int = 200, **extra: Any) -> Response:
    console = state(request)
    workspace_id, key_status = query(request, "workspace_id"), query(request, "status")
    listing = await console.services.keys.list(session.principal, paging(request), workspace_id=workspace_id,
                                               status=key_status)
    names = await console.repo.workspace_names(session.principal.org_id)
    return render(request, session, "keys.html", status=status, keys=listing["data"], pages=pager(request, listing),
                  names=names, writable=await _writable(request, session), workspace_id=workspace_id or "",
                  key_status=key_status or "", **extra)


async def keys_list(request: Request, session: Session) -> Response:
    return await keys_page(request, session)


async def _act(request: Request, session: Session, action: Any, notice: str) -> Response:
    try:
        result = await action
    except StewardError as exc:
        return await keys_page(request, session, status=exc.status, error=exc.message)
    return await keys_page(request, session, notice=notice.format(**result), secret=result.get("secret"))


async def key_create(request: Request, session: Session) -> Response:
    form = await request.form()
    days = field(form, "expires_in_days")
    action = state(request).services.keys.create(session.principal, field(form, "workspace_id"),
                                                 field(form, "name"),
                                                 expires_in_days=int(days) if days.isdigit() else None)
    return await _act(request, session, action, "Key {name} created. Copy its secret now: it is shown only once.")


async def key_rotate(request: Request, session: Session) -> Response:
    action = state(request).services.keys.rotate(session.principal, request.path_params["key_id"])
    return await _act(request, session, action, "Key {name} rotated. Copy the new secret now: it is shown only "
                                                "once; the old one keeps working for the grace period.")


async def key_revoke(request: Request, session: Session) -> Response:
    action = state(request).services.keys.revoke(session.principal, request.path_params["key_id"])
    return await _act(request, session, action, "Key {name} revoked.")
