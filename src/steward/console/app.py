"""The console's ASGI app (Starlette): routes, static files, templates. Mounted at ``/console`` by the gateway.

The console calls control-plane services with the signed-in principal, never Steward's own HTTP API, and
reads its own aggregates through ``ConsoleRepository``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from steward.asgi import ASGIApp, Message, Receive, Scope, Send
from steward.console import audit, dashboard, keys, limits, people, policies, signin, usage
from steward.console.auth import Auth
from steward.console.web import Console, Handler, make_templates, page
from steward.controlplane.container import AdminServices
from steward.settings import Settings
from steward.storage.repositories.console import ConsoleRepository

STATIC = Path(__file__).parent / "static"


def _get(path: str, handler: Handler) -> Route:
    return Route(path, page(handler), methods=["GET"])


def _post(path: str, handler: Handler) -> Route:
    return Route(path, page(handler), methods=["POST"])


def routes() -> list[BaseRoute]:
    return [
        Route("/signin", signin.signin_form, methods=["GET"]),
        Route("/signin", signin.signin_submit, methods=["POST"]),
        Route("/signout", signin.signout, methods=["POST"]),
        Route("/link/{token}", signin.link_form, methods=["GET"]),
        Route("/link/{token}", signin.link_submit, methods=["POST"]),
        Route("/invite/{token}", signin.invite_form, methods=["GET"]),
        Route("/invite/{token}", signin.invite_submit, methods=["POST"]),
        _get("/", dashboard.dashboard),
        _get("/keys", keys.keys_list), _post("/keys", keys.key_create),
        _post("/keys/{key_id}/rotate", keys.key_rotate), _post("/keys/{key_id}/revoke", keys.key_revoke),
        _post("/keys/{key_id}/deactivate", keys.key_deactivate), _post("/keys/{key_id}/activate", keys.key_activate),
        _post("/keys/{key_id}/models", keys.key_models),
        _get("/workspaces", people.workspaces_list), _post("/workspaces", people.workspace_create),
        _get("/workspaces/{workspace_id}", people.workspace_detail),
        _post("/workspaces/{workspace_id}/members", people.member_add),
        _post("/workspaces/{workspace_id}/members/{user_id}", people.member_update),
        _post("/workspaces/{workspace_id}/members/{user_id}/remove", people.member_remove),
        _get("/users", people.users_list), _post("/users/{user_id}/role", people.user_role),
        _get("/invitations", people.invitations_list), _post("/invitations", people.invitation_create),
        _post("/invitations/{invite_id}/revoke", people.invitation_revoke),
        _get("/limits", limits.limits_view), _post("/limits/spend", limits.spend_limit_create),
        _post("/limits/spend/{limit_id}", limits.spend_limit_update),
        _post("/limits/spend/{limit_id}/request", limits.increase_request),
        _post("/limits/rate/{rate_limit_id}", limits.rate_limit_update),
        _post("/limits/requests/{request_id}", limits.increase_resolve),
        _get("/policies", policies.policies_view), _post("/policies/check", policies.policy_check),
        _get("/usage", usage.usage_view), _get("/audit", audit.audit_view),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


# Sent with every console response: scripts only from the console itself (htmx and console.js are static files),
# no framing (clickjacking), no MIME sniffing, no referrer leaving the console (sign-in links carry tokens).
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                 b"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_console(services: AdminServices, repo: ConsoleRepository, settings: Settings) -> Starlette:
    """The console app; mount it at ``/console``."""
    app = Starlette(routes=routes(), middleware=[Middleware(SecurityHeaders)])
    app.state.console = Console(services, repo, Auth(settings, repo, services.store), make_templates(), settings)
    return app
