"""API keys: list with filters and keyset pages; create (secret shown once), rotate, deactivate, activate,
restrict to models, revoke.

Every action goes through ``KeyService`` with the signed-in principal, which enforces the permission matrix;
the page only hides controls the principal cannot use. A role that may read no key at all (billing) gets a
page that says so and where its spend per key is, instead of an empty list.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from steward.console.auth import Session
from steward.console.web import field, pager, paging, query, render, state
from steward.controlplane.paging import Paging
from steward.controlplane.rbac import Permission, allowed, visible_workspaces
from steward.errors import StewardError


async def _writable(request: Request, session: Session) -> list[dict[str, Any]]:
    """Workspaces where the principal may create keys (for the create form)."""
    services = state(request).services
    listing = await services.workspaces.list(session.principal, Paging.of(1000))
    return [w for w in listing["data"] if allowed(session.principal, Permission.KEYS_WRITE, w["id"])]


async def keys_page(request: Request, session: Session, *, status: int = 200, **extra: Any) -> Response:
    console = state(request)
    if visible_workspaces(session.principal, Permission.KEYS_READ) == []:
        return render(request, session, "keys.html", status=status, no_access=True, keys=[], names={},
                      writable=[], pages={}, workspace_id="", key_status="", **extra)
    workspace_id, key_status = query(request, "workspace_id"), query(request, "status")
    listing = await console.services.keys.list(session.principal, paging(request), workspace_id=workspace_id,
                                               status=key_status)
    visible = visible_workspaces(session.principal, Permission.KEYS_READ)  # None: every workspace
    names = {ws: name for ws, name in (await console.repo.workspace_names(session.principal.org_id)).items()
             if visible is None or ws in visible}  # the filter lists only workspaces the principal may read
    return render(request, session, "keys.html", status=status, keys=listing["data"], pages=pager(request, listing),
                  names=names, writable=await _writable(request, session), workspace_id=workspace_id or "",
                  key_status=key_status or "", no_access=False, **extra)


async def keys_list(request: Request, session: Session) -> Response:
    return await keys_page(request, session)


async def _act(request: Request, session: Session, action: Awaitable[dict[str, Any]], notice: str) -> Response:
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


async def key_deactivate(request: Request, session: Session) -> Response:
    action = state(request).services.keys.update(session.principal, request.path_params["key_id"],
                                                 status="inactive")
    return await _act(request, session, action, "Key {name} deactivated: it is refused until activated again.")


async def key_activate(request: Request, session: Session) -> Response:
    action = state(request).services.keys.update(session.principal, request.path_params["key_id"], status="active")
    return await _act(request, session, action, "Key {name} activated.")


def models_of(text: str) -> list[str] | None:
    """Model ids or patterns typed one per line or comma-separated; nothing typed means no restriction."""
    found = [m.strip() for m in text.replace(",", "\n").splitlines() if m.strip()]
    return found or None


async def key_models(request: Request, session: Session) -> Response:
    form = await request.form()
    models = models_of(field(form, "models"))
    action = state(request).services.keys.restrict_models(session.principal, request.path_params["key_id"],
                                                          models)
    listed = ", ".join(models or []).replace("{", "{{").replace("}", "}}")
    notice = (f"Key {{name}} may now call only: {listed}." if models
              else "Key {name} has no model restriction of its own (the policy still applies).")
    return await _act(request, session, action, notice)
