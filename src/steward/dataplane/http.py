"""Small ASGI helpers for the hot path: read a bounded body, send JSON and errors in Anthropic's shape."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

import orjson

from steward.asgi import Message, Receive, Scope, Send
from steward.errors import RequestTimeoutError, RequestTooLargeError, StewardError, render_error
from steward.errors import response_headers as error_headers
from steward.metrics import DOOR_REFUSALS

JSON_CT = (b"content-type", b"application/json")


def header_map(scope: Scope) -> dict[str, str]:
    """Request headers as a dict of lower-case names (repeated headers joined with commas)."""
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]},{text}" if key in out else text
    return out


class ClientDisconnected(Exception):
    """The client went away while the body was being read."""


def timed_receive(receive: Receive, timeout: float) -> Receive:
    """``receive`` that gives up when a client pauses more than ``timeout`` seconds within its request body
    (``RequestTimeoutError``, 408); once the body is complete it waits as long as the caller likes (a handler
    watching for the disconnect of a streaming response)."""
    complete = False

    async def bounded() -> Message:
        nonlocal complete
        if complete:
            return await receive()
        try:
            async with asyncio.timeout(timeout):
                message = await receive()
        except TimeoutError:
            DOOR_REFUSALS.labels("body_timeout").inc()
            raise RequestTimeoutError(f"The request body paused for more than {timeout:g} seconds.") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            complete = True
        return message

    return bounded


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole request body, refusing more than ``limit`` bytes before reading them."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(f"Request body is {declared} bytes; the limit is {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise RequestTooLargeError(f"Request body exceeds the limit of {limit} bytes.")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """One complete response."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any, request_id: str,
                    extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """A JSON response with the ``request-id`` header."""
    headers = [JSON_CT, (b"request-id", request_id.encode())]
    if extra:
        headers.extend(extra)
    await send_bytes(send, status, orjson.dumps(payload), headers)


async def send_error(send: Send, exc: StewardError, request_id: str) -> None:
    """An error in Anthropic's envelope, with its status and any headers it carries."""
    headers = [JSON_CT, (b"request-id", request_id.encode()), *error_headers(exc)]
    await send_bytes(send, exc.status, render_error(exc, request_id), headers)


NUL_MESSAGE = "The request path and query may not contain NUL characters (%00)."


def has_nul(scope: Scope) -> bool:
    """Whether the path or the query string carries a NUL character: no id, cursor or filter has one, and
    PostgreSQL refuses it in text (a 500 from the driver before this check ran, on every route)."""
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


def query_params(scope: Scope) -> dict[str, str]:
    """The query string as a dict (last value wins)."""
    raw = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"))) if raw else {}
