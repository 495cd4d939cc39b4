"""The simulator as a raw ASGI app: routing, authentication, faults and the request history.

Every response carries ``request-id`` and ``anthropic-organization-id``; ``/v1/messages`` adds the
``anthropic-ratelimit-*`` headers. Phases per ``/v1`` request: record, read body, authenticate,
check ``anthropic-version``, apply the fault, route. Handlers live in the modules they name.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import orjson

from steward.asgi import ASGIApp, Message, Receive, Scope, Send
from steward.errors import AuthenticationError, InvalidRequestError, NotFoundError, StewardError
from steward.ids import request_id
from steward.simulator.batches import BatchStore
from steward.simulator.cache import PromptCache
from steward.simulator.config import SimulatorConfig
from steward.simulator.faults import RateLimits, choose_fault, fault_error, slow_seconds, ttft_seconds
from steward.simulator.files import FILES_BODY_LIMIT, FileStore
from steward.simulator.messages import MessageEngine, message, sim_options
from steward.simulator.models import ModelCatalog
from steward.simulator.pages import paginate
from steward.simulator.responses import (
    Headers,
    Request,
    Response,
    error_response,
    json_response,
    read_body,
    request_from_scope,
    send_response,
)
from steward.simulator.stream import Pacing, send_stream
from steward.simulator.validate import parse_body

MESSAGES_BODY_LIMIT = 32 * 1024 * 1024
BATCH_BODY_LIMIT = 256 * 1024 * 1024
HEALTHY = orjson.dumps({"status": "ok"})

logger = logging.getLogger(__name__)


class MethodNotAllowedError(InvalidRequestError):
    status = 405


class SimulatorApp:
    """The Anthropic-compatible upstream. One instance owns its cache, batches and history."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.catalog = ModelCatalog(extra=config.extra_models)
        self.cache = PromptCache(config.cache_min_tokens, config.cache_max_entries)
        self.engine = MessageEngine(config, self.catalog, self.cache)
        self.batches = BatchStore(config, self.engine)
        self.files = FileStore()
        self.limits = RateLimits(config)
        self.history: deque[dict[str, Any]] = deque(maxlen=config.history_size)
        self._organization = (b"anthropic-organization-id", config.organization_id.encode())
        self._per_token = 1.0 / config.tokens_per_second if config.tokens_per_second > 0 else 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        rid = request_id()
        request = request_from_scope(scope, rid)
        common: Headers = [(b"request-id", rid.encode()), self._organization]
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._handle(request, receive, tracked_send, common)
        except StewardError as exc:
            if started:
                raise
            await send_response(send, error_response(exc, rid), common)
        except Exception as exc:
            # Last resort: a simulator bug must still answer in the Anthropic envelope.
            logger.exception("simulator failed on %s %s", request.method, request.path)
            if not started:
                failure = StewardError(f"Internal server error ({type(exc).__name__})")
                await send_response(send, error_response(failure, rid), common)

    async def _handle(self, request: Request, receive: Receive, send: Send, common: Headers) -> None:
        if not request.path.startswith("/v1/"):
            await send_response(send, self._local(request), common)
            return
        self.history.append({"method": request.method, "path": request.path, "headers": request.headers})
        limit = BATCH_BODY_LIMIT if request.path.startswith("/v1/messages/batches") else MESSAGES_BODY_LIMIT
        if request.path.startswith("/v1/files"):
            limit = FILES_BODY_LIMIT
        request.body = await read_body(receive, limit)
        self._authenticate(request)
        if self.config.require_version_header and "anthropic-version" not in request.headers:
            raise InvalidRequestError("anthropic-version: header is required")
        fault = choose_fault(request.headers, self.config)
        error = fault_error(fault, self.config, self.limits)
        if error is not None:
            raise error
        if fault == "slow":
            await asyncio.sleep(slow_seconds(request.headers, self.config))
        response = await self._route(request, receive, send, common, fault)
        if response is not None:
            await send_response(send, response, common, truncate=fault == "cut")

    def _authenticate(self, request: Request) -> None:
        expected = self.config.api_key
        if expected is None:
            return
        key = request.api_key()
        if key is None:
            raise AuthenticationError("x-api-key header is required")
        if key != expected:
            raise AuthenticationError("invalid x-api-key")

    def _local(self, request: Request) -> Response:
        if request.path == "/healthz" and request.method == "GET":
            return Response(200, HEALTHY)
        if request.path == "/_sim/requests":
            if request.method == "GET":
                return json_response(list(self.history))
            if request.method == "DELETE":
                self.history.clear()
                return json_response({"cleared": True})
            raise MethodNotAllowedError("Method Not Allowed")
        raise NotFoundError("Not Found")

    async def _route(self, request: Request, receive: Receive, send: Send, common: Headers,
                     fault: str | None) -> Response | None:
        parts = request.path.rstrip("/").split("/")[2:]
        method = request.method
        if parts == ["messages"]:
            _allow(method, "POST")
            return await self._messages(request, receive, send, common, fault)
        if parts == ["messages", "count_tokens"]:
            _allow(method, "POST")
            counted = parse_body(request.body)
            self.files.check_references(counted)
            return json_response({"input_tokens": self.engine.count_tokens(counted)})
        if parts[:2] == ["messages", "batches"]:
            return self._batches(request, parts[2:])
        if parts[:1] == ["files"]:
            return self.files.route(request, parts[1:])
        if parts[:1] == ["models"] and len(parts) <= 2:
            _allow(method, "GET")
            return self._models(request, parts[1:])
        raise NotFoundError("Not Found")

    async def _messages(self, request: Request, receive: Receive, send: Send, common: Headers,
                        fault: str | None) -> Response | None:
        body = parse_body(request.body)
        self.files.check_references(body)
        validated = self.engine.validate(body)
        completion = self.engine.complete(validated, request.api_key(), sim_options(request.headers))
        billed_input = completion.input_tokens + completion.cache.created
        limits = self.limits.headers(billed_input, validated.max_tokens)
        ttft = ttft_seconds(request.headers, self.config)
        if validated.stream:
            pacing = Pacing(ttft, self._per_token, self.config.tokens_per_delta)
            cut_after = self.config.cut_after_deltas if fault == "cut" else None
            await send_stream(send, receive, completion, [*common, *limits], pacing, cut_after)
            return None
        delay = ttft + completion.generation.output_tokens * self._per_token
        if delay > 0:
            await asyncio.sleep(delay)
        return Response(200, orjson.dumps(message(completion)), limits)

    def _batches(self, request: Request, rest: list[str]) -> Response:
        method, store, base = request.method, self.batches, request.base_url
        if not rest:
            if method == "POST":
                batch = store.create(parse_body(request.body), request.api_key())
                return json_response(store.render(batch, base))
            _allow(method, "GET")
            return json_response(store.page(request.query, base))
        if len(rest) == 1:
            if method == "DELETE":
                return json_response(store.delete(rest[0]))
            _allow(method, "GET")
            return json_response(store.render(store.get(rest[0]), base))
        if rest[1:] == ["cancel"] and len(rest) == 2:
            _allow(method, "POST")
            return json_response(store.render(store.cancel(rest[0]), base))
        if rest[1:] == ["results"] and len(rest) == 2:
            _allow(method, "GET")
            return Response(200, store.results(rest[0]), content_type=b"application/x-jsonl")
        raise NotFoundError("Not Found")

    def _models(self, request: Request, rest: list[str]) -> Response:
        if rest:
            spec = self.catalog.resolve(rest[0])
            if spec is None:
                raise NotFoundError(f"model: {rest[0]}")
            return json_response(self.catalog.info(spec))
        return json_response(paginate(self.catalog.specs, lambda s: s.id, request.query, self.catalog.info))


def _allow(method: str, expected: str) -> None:
    if method != expected:
        raise MethodNotAllowedError("Method Not Allowed")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(config: SimulatorConfig | None = None) -> ASGIApp:
    """Build the simulator ASGI app."""
    return SimulatorApp(config or SimulatorConfig())


__all__ = ["SimulatorApp", "create_app"]
