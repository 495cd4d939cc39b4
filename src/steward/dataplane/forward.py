"""Forward: send an admitted request upstream and relay the answer (JSON whole, SSE event by event).

Sets ``ctx.status``, ``ctx.metered``, ``ctx.ttft_ms`` and records (``ctx.finish()``) *before* the last byte
goes to the client, so every response a client has fully received is already in the journal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable

import orjson

from steward.asgi import Receive, Send
from steward.dataplane.context import RequestContext
from steward.dataplane.http import JSON_CT, send_bytes
from steward.dataplane.sse import SseWatcher
from steward.dataplane.upstream import Upstream, UpstreamResponse
from steward.errors import StewardError, UpstreamError, UpstreamTimeoutError, render_sse_error
from steward.governance.usage import MeteredResponse, StreamMeter, meter_message

# Bytes of JSON framing around the text of one content_block_delta event (used only to estimate the
# output of a stream the client cut before the upstream reported its final usage).
_DELTA_OVERHEAD = 100


def upstream_headers(ctx: RequestContext, forwarded: Iterable[str]) -> dict[str, str]:
    """The headers sent upstream: the client's allowed ones, never its key.

    ``anthropic-version`` is not defaulted: a request without it gets the API's own 400, as it would directly.
    """
    out = {"content-type": "application/json"}
    for name in forwarded:
        value = ctx.headers.get(name)
        if value is not None:
            out[name] = value
    return out


def response_headers(ctx: RequestContext, upstream: UpstreamResponse) -> list[tuple[bytes, bytes]]:
    """The upstream's passthrough headers, with Steward's own rate-limit headers where Steward limits apply."""
    headers = upstream.passthrough_headers()
    ours = ctx.ratelimit_headers
    if ours:
        names = {name for name, _ in ours}
        headers = [h for h in headers if h[0] not in names] + ours
    headers.extend(ctx.response_headers or ())  # e.g. a policy's x-steward-warning
    headers.append((b"request-id", ctx.request_id.encode()))
    return headers


def _estimate_cut(watcher: SseWatcher, metered: MeteredResponse) -> MeteredResponse:
    """A stream cut before the final usage: estimate output from the relayed delta bytes (~4 per token)."""
    text_bytes = max(0, watcher.delta_bytes - _DELTA_OVERHEAD * watcher.delta_events)
    estimate = -(-text_bytes // 4)
    if estimate <= metered.usage.output_tokens:
        return metered
    return dataclasses.replace(metered, usage=dataclasses.replace(metered.usage, output_tokens=estimate))


class Forwarder:
    """Relays one request; records it (``ctx.finish()``, bound to the request's own pipeline) before the last byte."""

    def __init__(self, upstream: Upstream, forwarded_headers: tuple[str, ...]) -> None:
        self._upstream = upstream
        self._forwarded = forwarded_headers

    async def json(self, ctx: RequestContext, send: Send, path: str, *, meter: bool) -> None:
        headers = upstream_headers(ctx, self._forwarded)
        try:
            async with self._upstream.request("POST", path, headers, ctx.body) as response:
                ctx.forwarded = True
                body = await response.read()
        except UpstreamTimeoutError:
            ctx.forwarded = True  # sent, and not answered in time: the upstream may have worked on it
            raise
        ctx.status = response.status
        ctx.upstream_request_id = response.headers.get("request-id")
        if (captured := ctx.capture) is not None:  # full audit (stages/capture.py) seals it
            captured.append(body)
        if meter and response.status == 200:
            try:
                ctx.metered = meter_message(orjson.loads(body))
            except (orjson.JSONDecodeError, TypeError, AttributeError):
                ctx.metered = None
        ctx.finish()
        await send_bytes(send, response.status, body, response_headers(ctx, response))

    async def stream(self, ctx: RequestContext, receive: Receive, send: Send, path: str) -> None:
        headers = upstream_headers(ctx, self._forwarded)
        try:
            async with self._upstream.request("POST", path, headers, ctx.body) as response:
                ctx.forwarded = True
                await self._answer(ctx, receive, send, response)
        except UpstreamTimeoutError:
            ctx.forwarded = True  # as in json()
            raise

    async def _answer(self, ctx: RequestContext, receive: Receive, send: Send, response: UpstreamResponse) -> None:
        ctx.upstream_request_id = response.headers.get("request-id")
        ctx.status = response.status
        if response.status != 200:
            body = await response.read()
            if (captured := ctx.capture) is not None:
                captured.append(body)
            ctx.finish()
            await send_bytes(send, response.status, body, response_headers(ctx, response))
            return
        await send({"type": "http.response.start", "status": 200, "headers": response_headers(ctx, response)})
        ctx.response_started = True
        await self._relay(ctx, receive, send, response)

    async def _relay(self, ctx: RequestContext, receive: Receive, send: Send,
                     response: UpstreamResponse) -> None:
        watcher = SseWatcher(StreamMeter())
        disconnect = asyncio.ensure_future(receive())
        tail = b""
        captured: list[bytes] | None = ctx.capture
        try:
            async for chunk in response.chunks():
                if ctx.ttft_ms is None:
                    ctx.ttft_ms = int((time.perf_counter() - ctx.started_perf) * 1000)
                if captured is not None:
                    captured.append(chunk)
                watcher.feed(chunk)
                if watcher.finished:
                    ctx.metered = watcher.meter.result()
                    ctx.finish()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if disconnect.done():
                    ctx.client_disconnected = True
                    break
        except UpstreamError as exc:
            tail = render_sse_error(UpstreamError("The upstream stream ended unexpectedly."), ctx.request_id)
            ctx.upstream_cut = str(exc)
        finally:
            disconnect.cancel()
            if not ctx.completed:
                ctx.metered = _estimate_cut(watcher, watcher.meter.result())
                ctx.finish()
        await send({"type": "http.response.body", "body": tail, "more_body": False})


async def send_stream_error(send: Send, exc: StewardError, request_id: str) -> None:
    """An error after the 200 was sent: an SSE ``error`` event, then the end of the body."""
    await send({"type": "http.response.body", "body": render_sse_error(exc, request_id), "more_body": False})


__all__ = ["JSON_CT", "Forwarder", "send_stream_error", "upstream_headers"]
