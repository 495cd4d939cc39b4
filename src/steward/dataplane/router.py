"""The data plane's ASGI app: a dict lookup per request instead of a framework router (DESIGN §7).

Every handler runs the same skeleton: build the context, read the bounded body, admit through the
pipeline, act, and on any refusal answer in Anthropic's envelope. Completion always runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST

from steward.access_log import SCOPE_KEY as ACCESS_LOG_KEY
from steward.asgi import ASGIApp, Receive, Scope, Send
from steward.dataplane.batch_routes import BatchHandlers
from steward.dataplane.context import RequestContext
from steward.dataplane.files_routes import FileHandlers
from steward.dataplane.forward import Forwarder, send_stream_error
from steward.dataplane.health import Readiness
from steward.dataplane.http import (
    NUL_MESSAGE,
    has_nul,
    header_map,
    query_params,
    read_body,
    send_bytes,
    send_error,
    send_json,
)
from steward.dataplane.models import UnlistedModels, get_model, list_models
from steward.dataplane.otlp_routes import OtlpHandlers
from steward.dataplane.pipeline import Pipeline
from steward.dataplane.stages.validate import check_headers
from steward.errors import InvalidRequestError, NotFoundError, StewardError
from steward.governance.catalog import Catalog
from steward.ids import request_id
from steward.metrics import render as render_metrics

log = logging.getLogger("steward.dataplane")
# /v1 paths served by the fallback (the admin app); every other unknown /v1 path is the data plane's 404.
ADMIN_PREFIXES = ("/v1/organizations", "/v1/admin", "/v1/compliance")
Action = Callable[[RequestContext, Scope, Receive, Send], Awaitable[None]]


@dataclass(slots=True, frozen=True)
class Pipelines:
    messages: Pipeline
    count_tokens: Pipeline
    plain: Pipeline  # authenticate + record: models
    batches: Pipeline  # authenticate + the batch group's request rate + record


def _with_query(path: str, scope: Scope) -> str:
    """The upstream path with the client's query string (the SDKs send ``?beta=true``), forwarded untouched."""
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


class DataPlane:
    """Routes data-plane paths; anything else goes to ``fallback`` (the control plane, console...)."""

    def __init__(self, pipelines: Pipelines, forwarder: Forwarder, batches: BatchHandlers,
                 catalog: Callable[[], Catalog],
                 *, max_body: int, max_batch_body: int, fallback: ASGIApp | None = None,
                 otlp: OtlpHandlers | None = None, files: FileHandlers | None = None,
                 health: Readiness | None = None, unlisted: UnlistedModels | None = None) -> None:
        self._p = pipelines
        self._unlisted = unlisted  # GET /v1/models/{id} the catalog lacks: the upstream's answer (forward)
        self._health = health
        self._files = files
        self._forwarder = forwarder
        self._batches = batches
        self._catalog = catalog
        self._max_body = max_body
        self._max_batch_body = max_batch_body
        self._fallback = fallback
        self._routes: dict[tuple[str, str], tuple[str, Pipeline, Action]] = {
            ("POST", "/v1/messages"): ("messages", pipelines.messages, self._messages),
            ("POST", "/v1/messages/count_tokens"): ("count_tokens", pipelines.count_tokens, self._count),
            ("GET", "/v1/models"): ("models.list", pipelines.plain, self._models),
            ("POST", "/v1/messages/batches"): ("batches.create", pipelines.batches, batches.create),
            ("GET", "/v1/messages/batches"): ("batches.list", pipelines.batches, batches.list),
        }
        if otlp is not None:  # Claude Code's OpenTelemetry export (reporting/otlp.py)
            self._routes[("POST", "/v1/metrics")] = ("otlp.metrics", pipelines.plain, otlp.metrics)
            self._routes[("POST", "/v1/logs")] = ("otlp.logs", pipelines.plain, otlp.logs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if self._fallback is not None:
                await self._fallback(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        route = self._routes.get((method, path))
        if route is None:
            route = self._dynamic(method, path)
        if route is not None:
            endpoint, pipeline, action = route
            await self._run(scope, receive, send, endpoint, pipeline, action)
        elif path == "/healthz" or (path == "/readyz" and self._health is None):
            await send_json(send, 200, {"status": "ok"}, request_id())
        elif path == "/readyz" and self._health is not None:  # dataplane/health.py: database, journal, lag...
            ready, checks = await self._health.check()
            await send_json(send, 200 if ready else 503, {"status": "ok" if ready else "unavailable",
                                                          "checks": checks}, request_id())
        elif path == "/metrics" and method == "GET":
            body = self._health.metrics() if self._health is not None else render_metrics()
            await send_bytes(send, 200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())])
        elif self._fallback is not None and (not path.startswith("/v1/") or path.startswith(ADMIN_PREFIXES)):
            if has_nul(scope):  # the Admin and Compliance APIs and the console: no id, cursor or filter has one
                await send_error(send, InvalidRequestError(NUL_MESSAGE), request_id())
                return
            await self._fallback(scope, receive, send)
        else:  # the API's answer to a path (or method) it does not serve, never the framework's
            await send_error(send, NotFoundError(f"Not found: {method} {path}"), request_id())

    def _dynamic(self, method: str, path: str) -> tuple[str, Pipeline, Action] | None:
        if method == "GET" and path.startswith("/v1/models/"):
            return "models.get", self._p.plain, self._model
        if path.startswith("/v1/messages/batches/"):
            found = self._batches.route(method, path)
            if found is not None:
                return found[0], self._p.batches, found[1]
        if self._files is not None and (path == "/v1/files" or path.startswith("/v1/files/")):
            found = self._files.route(method, path)
            if found is not None:
                return found[0], self._p.plain, found[1]
        return None

    async def _run(self, scope: Scope, receive: Receive, send: Send, endpoint: str, pipeline: Pipeline,
                   action: Action) -> None:
        headers = header_map(scope)
        ctx = RequestContext(request_id=request_id(), endpoint=endpoint, started_at=time.time(),
                             started_perf=time.perf_counter(), headers=headers)
        peer = scope.get("client")
        ctx.client = str(peer[0]) if peer else ""
        scope[ACCESS_LOG_KEY] = ctx  # the access log's key and workspace ids (steward/access_log.py)
        limit = self._max_batch_body if endpoint == "batches.create" else self._max_body

        async def prepare() -> None:  # once the key is known (dataplane/pipeline.py)
            if has_nul(scope):  # refused, and audited, before any id reaches the database
                raise InvalidRequestError(NUL_MESSAGE)
            ctx.session_id = check_headers(headers)  # values that reach the ledger are bounded before the body
            if endpoint != "files.upload":  # an upload streams its own body (dataplane/files_routes.py)
                ctx.body = await read_body(receive, headers, limit)

        try:
            await pipeline.run(ctx, lambda: action(ctx, scope, receive, send), prepare)
        except StewardError as exc:  # already recorded by Pipeline.run: answer it
            if ctx.response_started:
                await send_stream_error(send, exc, ctx.request_id)
            else:
                await send_error(send, exc, ctx.request_id)
        finally:
            # Completed: let the body go now. A refusal's exception, its traceback (whose frames hold the body) and
            # this context form a cycle that only the cyclic collector frees, and large allocations barely advance
            # it: 30 MB bodies refused back to back held 1.5 GB until it ran (bench/hostile.py).
            ctx.body, ctx.payload = b"", None
            error: BaseException | None = ctx.error
            seen: set[int] = set()
            while error is not None and id(error) not in seen:  # a re-raised error can chain back to itself
                seen.add(id(error))
                error.__traceback__ = None
                error = error.__cause__ or error.__context__

    async def _messages(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        path = _with_query("/v1/messages", scope)
        if ctx.stream:
            await self._forwarder.stream(ctx, receive, send, path)
        else:
            await self._forwarder.json(ctx, send, path, meter=True)

    async def _count(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        await self._forwarder.json(ctx, send, _with_query("/v1/messages/count_tokens", scope), meter=False)

    async def _models(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        page = list_models(self._catalog(), ctx.workspace, ctx.key, query_params(scope))
        ctx.status = 200
        ctx.finish()
        await send_json(send, 200, page, ctx.request_id)

    async def _model(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        model_id = scope["path"][len("/v1/models/"):]
        if self._unlisted is not None and \
                (name := self._unlisted.name(self._catalog(), ctx.workspace, ctx.key, model_id)) is not None:
            await self._unlisted.relay(ctx, send, name, scope.get("query_string", b""))
            return
        model = get_model(self._catalog(), ctx.workspace, ctx.key, model_id)
        ctx.status = 200
        ctx.finish()
        await send_json(send, 200, model, ctx.request_id)
