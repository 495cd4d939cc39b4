"""HTTP plumbing of the raw ASGI simulator: the parsed request, the response value, and sending it.

It owns byte-level details (headers, body reading, error envelopes, the truncated-body fault) and
knows nothing about Messages semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from steward.asgi import Receive, Scope, Send
from steward.errors import RequestTooLargeError, StewardError, error_body
from steward.errors import response_headers as error_headers

JSON_TYPE = b"application/json"
Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Request:
    """One HTTP request, read whole (the simulator never streams request bodies)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    scheme: str
    request_id: str
    body: bytes = b""

    @property
    def base_url(self) -> str:
        """``scheme://host`` as the client addressed us (used for absolute ``results_url``)."""
        return f"{self.scheme}://{self.headers.get('host', 'localhost')}"

    def api_key(self) -> str | None:
        """The credential sent as ``x-api-key`` or ``Authorization: Bearer``."""
        key = self.headers.get("x-api-key")
        if key:
            return key
        auth = self.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        return None


@dataclass(slots=True)
class Response:
    """A complete (non-streaming) response; ``headers`` excludes the common ones added on send."""

    status: int
    body: bytes
    headers: Headers = field(default_factory=list)
    content_type: bytes = JSON_TYPE


def request_from_scope(scope: Scope, request_id: str) -> Request:
    """The request line and headers of an HTTP scope (the body is read separately)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    query_string: bytes = scope.get("query_string", b"")
    query = dict(parse_qsl(query_string.decode("latin-1"))) if query_string else {}
    return Request(scope["method"], scope["path"], query, headers, scope.get("scheme", "http"), request_id)


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; a body over ``limit`` bytes is refused with 413."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError("Request exceeds the maximum allowed number of bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def json_response(payload: Any, status: int = 200, headers: Headers | None = None) -> Response:
    """A JSON response (orjson)."""
    return Response(status, orjson.dumps(payload), headers or [])


def error_response(exc: StewardError, request_id: str) -> Response:
    """The Anthropic error envelope for ``exc`` plus ``x-should-retry`` as the real API sends it."""
    body = orjson.dumps(error_body(exc.error_type, exc.message, request_id, exc.details))
    return Response(exc.status, body, error_headers(exc))


async def send_response(send: Send, response: Response, common: Headers, *, truncate: bool = False) -> None:
    """Send ``response``; with ``truncate`` only half the body goes out and the response never ends."""
    headers = [*common, (b"content-type", response.content_type),
               (b"content-length", str(len(response.body)).encode()), *response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if truncate:
        # Returning without more_body=False makes the server close the connection mid-body,
        # which is what a client sees when an upstream dies while answering.
        await send({"type": "http.response.body", "body": response.body[: len(response.body) // 2],
                    "more_body": True})
        return
    await send({"type": "http.response.body", "body": response.body})
