"""Sign-in pages: with an admin key, with a one-time link, by accepting an invitation; and sign-out.

These pages are shown before a session exists, so their forms carry a CSRF token bound to a random
pre-session cookie. A one-time link is redeemed by a POST (a GET only shows a button), so that link
previews and scanners cannot spend it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from steward.console.auth import SESSION_COOKIE, Session
from steward.console.web import field, page, render, state
from steward.controlplane.invitations import TOKEN_PREFIX
from steward.controlplane.shapes import invite_status
from steward.errors import StewardError
from steward.storage.models import Invitation


def _next(value: str | None) -> str:
    # Only console paths: an open redirect to another site would make a convincing phishing link.
    if value and value.startswith("/console") and not value.startswith("//"):
        return value
    return "/console/"


def _anonymous(request: Request, name: str, status: int = 200, **context: object) -> Response:
    auth = state(request).auth
    nonce, csrf = auth.pre_token(request)
    response = render(request, None, name, status=status, csrf=csrf, **context)
    auth.set_pre_cookie(request, response, nonce)
    return response


def _csrf_refused(request: Request, name: str, **context: object) -> Response:
    return _anonymous(request, name, status=403, error="The form expired; please try again.", **context)


async def signin_form(request: Request) -> Response:
    return _anonymous(request, "signin.html", next=_next(request.query_params.get("next")))


async def signin_submit(request: Request) -> Response:
    console = state(request)
    form = await request.form()
    target = _next(field(form, "next"))
    if not console.auth.csrf_ok(request, field(form, "csrf_token"), None):
        return _csrf_refused(request, "signin.html", next=target)
    try:
        cookie = await console.auth.sign_in_with_key(request, field(form, "admin_key"))
    except StewardError as exc:
        return _anonymous(request, "signin.html", status=exc.status, error=exc.message, next=target)
    response = RedirectResponse(target, status_code=303)
    console.auth.set_session_cookie(request, response, cookie)
    return response


async def _signout(request: Request, session: Session) -> Response:
    await state(request).auth.sign_out(session)
    response = RedirectResponse("/console/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


signout = page(_signout)


async def link_form(request: Request) -> Response:
    return _anonymous(request, "link.html", token=request.path_params["token"])


async def link_submit(request: Request) -> Response:
    console = state(request)
    token = request.path_params["token"]
    form = await request.form()
    if not console.auth.csrf_ok(request, field(form, "csrf_token"), None):
        return _csrf_refused(request, "link.html", token=token)
    cookie = await console.auth.redeem_link(token)
    if cookie is None:
        return _anonymous(request, "link.html", status=400, token=token,
                          error="This sign-in link was already used, has expired, or is not valid.")
    response = RedirectResponse("/console/", status_code=303)
    console.auth.set_session_cookie(request, response, cookie)
    return response


async def _invitation(request: Request, token: str) -> tuple[Invitation | None, str | None]:
    """The invitation behind a token and its status (the token is hashed exactly as the service stores it)."""
    if not token.startswith(TOKEN_PREFIX):
        return None, None
    async with state(request).services.store.unit() as unit:
        invite = await unit.invitation_by_token(hashlib.sha256(token.encode()).hexdigest())
    if invite is None:
        return None, None
    return invite, invite_status(invite, datetime.now(UTC))


async def invite_form(request: Request) -> Response:
    token = request.path_params["token"]
    invite, status = await _invitation(request, token)
    if invite is None:
        return _anonymous(request, "invite.html", status=404, invite=None, invite_state=None, token=token,
                          error="This invitation link is not valid.")
    names = await state(request).repo.workspace_names(invite.org_id)  # the workspaces it grants, by name
    return _anonymous(request, "invite.html", invite=invite, invite_state=status, token=token, names=names)


async def invite_submit(request: Request) -> Response:
    console = state(request)
    token = request.path_params["token"]
    form = await request.form()
    invite, status = await _invitation(request, token)
    if not console.auth.csrf_ok(request, field(form, "csrf_token"), None):
        return _csrf_refused(request, "invite.html", invite=invite, invite_state=status, token=token)
    try:
        accepted = await console.services.invitations.accept(
            token, field(form, "name"), ip=request.client.host if request.client else None)
    except StewardError as exc:
        return _anonymous(request, "invite.html", status=exc.status, invite=invite, invite_state=status,
                          token=token, error=exc.message)
    user, key = accepted["user"], accepted["admin_key"]
    org_id = invite.org_id if invite is not None else ""
    cookie = await console.auth.open(org_id, user["id"], key["id"])
    response = render(request, None, "welcome.html", user=user, secret=accepted["secret"], csrf="")
    console.auth.set_session_cookie(request, response, cookie)
    return response
