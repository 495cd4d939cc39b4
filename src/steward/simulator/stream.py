"""Server-sent events for ``stream: true``: the exact event sequence of the real Messages API.

``message_start``, then per block ``content_block_start`` (a ``ping`` after the first),
``content_block_delta``... and ``content_block_stop``, then one ``message_delta`` with cumulative
usage and ``message_stop``. Each event is its own ASGI body chunk so relays can be checked for
buffering. It owns pacing and the ``cut`` fault; the content comes from ``messages.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from steward.asgi import Receive, Send
from steward.simulator.generate import OutBlock
from steward.simulator.messages import Completion, usage
from steward.simulator.request import has_server_tools
from steward.simulator.responses import Headers

EVENT_STREAM = b"text/event-stream; charset=utf-8"
DELTA, FINAL, OTHER = "delta", "final", "other"


@dataclass(slots=True, frozen=True)
class Pacing:
    """Timing of one stream: delay before the first byte, seconds per output token, batching."""

    ttft: float = 0.0
    per_token: float = 0.0
    tokens_per_delta: int = 3


def sse(name: str, payload: dict[str, Any]) -> bytes:
    """One SSE event: ``event: <name>\\ndata: <json>\\n\\n``."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


PING = sse("ping", {"type": "ping"})
MESSAGE_STOP = sse("message_stop", {"type": "message_stop"})


def stream_events(completion: Completion, tokens_per_delta: int) -> Iterator[tuple[bytes, int, str]]:
    """Every event of the stream as ``(bytes, output tokens it carries, kind)``."""
    yield sse("message_start", {"type": "message_start", "message": _start_message(completion)}), 0, OTHER
    blocks = completion.generation.blocks
    if not blocks:
        yield PING, 0, OTHER
    for index, block in enumerate(blocks):
        start = {"type": "content_block_start", "index": index, "content_block": _empty(block.block)}
        yield sse("content_block_start", start), 0, OTHER
        if index == 0:
            yield PING, 0, OTHER
        for delta, tokens in _deltas(block, tokens_per_delta):
            event = {"type": "content_block_delta", "index": index, "delta": delta}
            yield sse("content_block_delta", event), tokens, DELTA
        yield sse("content_block_stop", {"type": "content_block_stop", "index": index}), 0, OTHER
    yield sse("message_delta", _message_delta(completion)), 0, FINAL
    yield MESSAGE_STOP, 0, OTHER


async def send_stream(send: Send, receive: Receive, completion: Completion, headers: Headers, pacing: Pacing,
                      cut_after: int | None = None) -> None:
    """Stream ``completion``; with ``cut_after`` the stream stops after that many deltas, unfinished."""
    if pacing.ttft > 0:
        await asyncio.sleep(pacing.ttft)
    start_headers = [*headers, (b"content-type", EVENT_STREAM), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": start_headers})
    # A paced stream may run for minutes: stop generating as soon as the client goes away.
    watcher = asyncio.create_task(_disconnected(receive)) if pacing.per_token > 0 else None
    try:
        deltas = 0
        for data, tokens, kind in stream_events(completion, pacing.tokens_per_delta):
            if cut_after is not None and (kind == FINAL or deltas >= cut_after):
                # Returning without the final empty chunk makes the server drop the connection.
                return
            if tokens and pacing.per_token > 0:
                await asyncio.sleep(tokens * pacing.per_token)
            if watcher is not None and watcher.done():
                return
            await send({"type": "http.response.body", "body": data, "more_body": True})
            if kind == DELTA:
                deltas += 1
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if watcher is not None:
            watcher.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _start_message(completion: Completion) -> dict[str, Any]:
    start_usage = usage(completion)
    start_usage["output_tokens"] = 1
    start_usage["server_tool_use"] = None
    start_usage["output_tokens_details"] = {"thinking_tokens": 0}
    return {
        "id": completion.message_id, "type": "message", "role": "assistant",
        "model": completion.request.model_name, "content": [], "stop_reason": None, "stop_sequence": None,
        "stop_details": None, "container": None, "usage": start_usage,
    }


def _message_delta(completion: Completion) -> dict[str, Any]:
    final = usage(completion)
    delta_usage: dict[str, Any] = {
        "input_tokens": final["input_tokens"],
        "cache_creation_input_tokens": final["cache_creation_input_tokens"],
        "cache_read_input_tokens": final["cache_read_input_tokens"],
        "output_tokens": final["output_tokens"],
        "output_tokens_details": final["output_tokens_details"],
    }
    if has_server_tools(completion.request.tools):
        delta_usage["server_tool_use"] = final["server_tool_use"]
    generation = completion.generation
    delta = {"stop_reason": generation.stop_reason, "stop_sequence": generation.stop_sequence,
             "stop_details": None, "container": None}
    return {"type": "message_delta", "delta": delta, "usage": delta_usage}


def _empty(block: dict[str, Any]) -> dict[str, Any]:
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": "", "citations": None}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if kind in ("tool_use", "server_tool_use"):
        return {**block, "input": {}}
    return block


def _deltas(block: OutBlock, size: int) -> Iterator[tuple[dict[str, Any], int]]:
    kind = block.block["type"]
    pieces = block.pieces
    if kind == "text":
        for i in range(0, len(pieces), size):
            yield {"type": "text_delta", "text": "".join(pieces[i:i + size])}, len(pieces[i:i + size])
    elif kind == "thinking":
        for i in range(0, len(pieces), size):
            yield {"type": "thinking_delta", "thinking": "".join(pieces[i:i + size])}, len(pieces[i:i + size])
        yield {"type": "signature_delta", "signature": block.block["signature"]}, block.tokens - len(pieces)
    elif kind in ("tool_use", "server_tool_use"):
        yield {"type": "input_json_delta", "partial_json": ""}, 0
        for i in range(0, len(pieces), size):
            yield ({"type": "input_json_delta", "partial_json": "".join(pieces[i:i + size])},
                   len(pieces[i:i + size]))
