"""The admin ASGI app: authentication, request ids, and every error in Anthropic's envelope.

Refused admin requests are audited too (an ``admin.refused`` event with the path and the reason).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from steward.controlplane.api import (
    anthropic_routes,
    catalog_routes,
    claude_code_routes,
    compliance_group_routes,
    compliance_routes,
    policy_routes,
    report_routes,
    seed_routes,
    spend_routes,
    webhook_routes,
)
from steward.controlplane.audit import admin_event
from steward.controlplane.container import AdminServices
from steward.controlplane.principal import Principal
from steward.errors import (
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
    StewardError,
    error_body,
    response_headers,
)
from steward.ids import request_id
from steward.storage.health import database_unavailable, describe

log = logging.getLogger("steward.admin")

# Every Admin API router; the contract tests walk this list (every route documented, every route in the
# permission matrix test).
ROUTERS = (anthropic_routes.router, seed_routes.router, spend_routes.router, webhook_routes.router,
           compliance_routes.router, claude_code_routes.router, compliance_group_routes.router,
           policy_routes.router, report_routes.router, catalog_routes.router)


def _error_response(request: Request, exc: StewardError) -> Response:
    rid = getattr(request.state, "request_id", None) or request_id()
    headers = {"request-id": rid, **{k.decode(): v.decode() for k, v in response_headers(exc)}}
    return Response(orjson.dumps(error_body(exc.error_type, exc.message, rid, exc.details)), status_code=exc.status,
                    headers=headers, media_type="application/json")


async def _audit_refusal(request: Request, exc: StewardError) -> None:
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None or exc.status != 403:
        return
    try:
        async with request.app.state.services.store.unit() as unit:
            unit.audit(admin_event(who, "admin.refused", target={"method": request.method, "path": request.url.path},
                                   decision="refused", reason=f"{exc.error_type}: {exc.message}"[:500]))
    except Exception:  # the refusal itself must still be answered
        log.exception("could not audit a refused admin request")


def create_admin_app(svc: AdminServices) -> FastAPI:
    """The FastAPI app serving /v1/organizations/* and /v1/admin/*."""
    app = FastAPI(title="Steward Admin API", docs_url=None, redoc_url=None, openapi_url="/v1/admin/openapi.json")
    app.state.services = svc

    @app.middleware("http")
    async def with_request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.request_id = request_id()
        try:
            response = await call_next(request)
        except Exception as exc:  # the last resort: answer in the envelope and keep the connection (no re-raise)
            if database_unavailable(exc):  # an outage, not a bug: retryable
                log.warning("admin API call while the database is unavailable: %s", describe(exc))
                return _error_response(request, ServiceUnavailableError(
                    "The database is not answering; try again shortly.", headers={"retry-after": "2"}))
            log.exception("unhandled admin API error")
            return _error_response(request, StewardError("Internal error in the gateway."))
        response.headers.setdefault("request-id", request.state.request_id)
        return response

    @app.exception_handler(StewardError)
    async def steward_error(request: Request, exc: StewardError) -> Response:
        await _audit_refusal(request, exc)
        return _error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return _error_response(request, InvalidRequestError(message))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            return _error_response(request, NotFoundError(f"Not found: {request.method} {request.url.path}"))
        if exc.status_code == 404:
            return _error_response(request, NotFoundError(f"Not found: {request.method} {request.url.path}"))
        return _error_response(request, InvalidRequestError(str(exc.detail)))

    for router in ROUTERS:
        app.include_router(router)
    return app
