"""The console's request plumbing: its state, page rendering, the signed-in guard with CSRF, friendly errors.

Every signed-in page goes through ``page``: no session means a redirect to sign-in; a POST without the
session's CSRF token is refused with 403 before the handler runs; a ``StewardError`` from a service (a
refusal by the permission matrix, bad input, not found) becomes a readable page with the error's status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from steward.console.auth import Auth, Session
from steward.console.labels import group_label, limit_type_label, scope_label
from steward.console.nav import nav_items
from steward.controlplane.container import AdminServices
from steward.controlplane.paging import Paging
from steward.controlplane.rbac import Permission, allowed
from steward.errors import StewardError
from steward.settings import Settings
from steward.storage.repositories.console import ConsoleRepository

log = logging.getLogger("steward.console")
TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 25

Handler = Callable[[Request, Session], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def dollars(value: Decimal | str | int | None) -> str:
    """Dollars for display: cents, or four decimals below one dollar (one request often costs less than a cent)."""
    amount = Decimal(str(value or 0))
    return f"${amount:,.4f}" if 0 < amount < 1 else f"${amount:,.2f}"


def dollars_from_cents(value: int | str | Decimal | None) -> str:
    """Whole cents as cents (a cap of $0.01 stays $0.01); fractions of a cent as ``dollars`` shows them, so a cap's
    spend reads the same as the spend tile ($0.0370, not $0.04)."""
    amount = Decimal(str(value or 0)) / 100
    return f"${amount:,.2f}" if amount == amount.quantize(Decimal("0.01")) else dollars(amount)


def make_templates() -> Jinja2Templates:
    # Missing optional fields render as empty (the default Undefined): service objects grow fields over
    # time and a page must not fail because one is absent. The page tests render every page for every role.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters["usd"] = dollars
    env.filters["cents"] = dollars_from_cents
    env.filters["num"] = lambda v: f"{int(v or 0):,}"
    env.globals.update(scope_label=scope_label, group_label=group_label, limit_type_label=limit_type_label)
    return Jinja2Templates(env=env)


@dataclass(slots=True, frozen=True)
class Console:
    """Everything the pages need (kept on ``app.state.console``)."""

    services: AdminServices
    repo: ConsoleRepository
    auth: Auth
    templates: Jinja2Templates
    settings: Settings


def state(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def render(request: Request, session: Session | None, name: str, status: int = 200, **context: Any) -> Response:
    """A full page, with the signed-in user, the CSRF token and a ``can(permission, workspace)`` helper."""
    def can(permission: str, workspace_id: str | None = None) -> bool:
        return session is not None and allowed(session.principal, Permission[permission], workspace_id)

    for optional in ("error", "notice", "secret", "result"):
        context.setdefault(optional, None)
    csrf = session.csrf if session is not None else context.pop("csrf", "")
    nav = nav_items(session.principal) if session is not None else []
    full = {"session": session, "csrf": csrf, "can": can, "path": request.url.path, "nav": nav, **context}
    return state(request).templates.TemplateResponse(request, name, full, status_code=status)


def refused(request: Request, session: Session | None, exc: StewardError) -> Response:
    return render(request, session, "error.html", status=exc.status, message=exc.message,
                  error_type=exc.error_type)


def page(handler: Handler) -> Endpoint:
    """Guard a signed-in page: session, CSRF on POST, services' refusals shown as a friendly page."""
    async def endpoint(request: Request) -> Response:
        console = state(request)
        session = await console.auth.current(request)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/console/signin?next={quote(target)}", status_code=303)
        if request.method == "POST":
            form = await request.form()
            sent = form.get("csrf_token")
            token = sent if isinstance(sent, str) else request.headers.get("x-csrf-token")
            if not console.auth.csrf_ok(request, token, session):
                return render(request, session, "error.html", status=403, error_type="csrf",
                              message="This form has expired or did not come from the console. Reload the "
                                      "page and try again.")
        started = time.perf_counter()
        try:
            response = await handler(request, session)
            # The server's own time for the page (sign-in check, queries, rendering): the benchmark reads it.
            response.headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            return response
        except StewardError as exc:
            return refused(request, session, exc)
        except Exception:  # the console's last resort: a readable page, and the connection stays usable
            log.exception("console page failed: %s %s", request.method, request.url.path)
            return refused(request, session, StewardError("The console failed to show this page; the error "
                                                           "is in the gateway's log."))
    return endpoint


def paging(request: Request, size: int = PAGE_SIZE) -> Paging:
    q = request.query_params
    return Paging.of(size, q.get("before_id") or None, q.get("after_id") or None)


def field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


def pager(request: Request, listing: dict[str, Any]) -> dict[str, str | None]:
    """Previous/next links for a keyset page (``after_id`` continues in listing order), keeping the filters."""
    q = request.query_params
    keep = {k: v for k, v in q.items() if k not in ("before_id", "after_id") and v}
    came_back = bool(q.get("before_id"))
    went_on = bool(q.get("after_id"))
    more = bool(listing.get("has_more"))

    def url(**extra: str) -> str:
        params = {**keep, **extra}
        return request.url.path + ("?" + "&".join(f"{k}={quote(v)}" for k, v in params.items()) if params else "")

    first, last = listing.get("first_id"), listing.get("last_id")
    has_next = last is not None and ((more and not came_back) or came_back)
    has_prev = first is not None and (went_on or (came_back and more))
    return {"next": url(after_id=str(last)) if has_next else None,
            "prev": url(before_id=str(first)) if has_prev else None}
