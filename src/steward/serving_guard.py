"""The door of every worker: uvicorn's httptools protocol with the limits a gateway on a company's network path needs.

uvicorn closes idle keep-alive connections but lets a client take forever to send its headers, answers its own
rejections in plain text and, with ``limit_concurrency``, still accepts every connection. ``GuardedProtocol``:

* closes a connection whose request headers are not complete ``header_timeout`` seconds after it opened (or after
  the first byte of a later request on it), answering 408 in Anthropic's error envelope: a slow-headers client
  cannot hold a file descriptor;
* answers 503 ``overloaded_error`` (``retry-after``, ``x-should-retry: true``) and closes at once when the worker
  already holds ``max_connections`` connections, so no client can exhaust the open-file limit;
* answers 431 and closes when a request's line and headers pass ``max_header_bytes`` before they are complete
  (httptools sets no limit: one header of 300 MB grew a worker by 150 MB before the header timeout);
* answers an unparsable request with a 400 in Anthropic's envelope, not uvicorn's plain text.

Body timeouts (between body chunks) and body size limits are enforced where the body is read
(``dataplane/http.read_body``, ``controlplane/api/door.py``). The numbers come from ``Settings`` through
``uvicorn.Config.steward_door`` (the config is what uvicorn hands each protocol, in every worker process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from steward.errors import (
    HeadersTooLargeError,
    InvalidRequestError,
    RequestTimeoutError,
    ServiceUnavailableError,
    StewardError,
    render_error,
    response_headers,
)
from steward.ids import request_id
from steward.metrics import DOOR_REFUSALS
from steward.settings import Settings

log = logging.getLogger("steward.door")
_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large",
            503: "Service Unavailable"}


@dataclass(slots=True, frozen=True)
class Door:
    """The connection limits of one worker process."""

    header_timeout: float = 10.0
    max_connections: int = 1000
    forwarded_allow_ips: str | None = None  # proxies whose X-Forwarded-For names the client (None: the peer)
    max_header_bytes: int = 1024 * 1024

    @classmethod
    def of(cls, settings: Settings) -> Door:
        return cls(settings.header_timeout, settings.resolved_max_connections(), settings.forwarded_allow_ips,
                   settings.max_header_bytes)


def raise_open_file_limit() -> None:
    """Raise this process's soft open-file limit to its hard limit (inherited by the workers it starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class GuardedProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        door: Door = getattr(self.config, "steward_door", None) or Door()
        self._header_timeout = door.header_timeout
        self._max_connections = door.max_connections
        self._max_header_bytes = door.max_header_bytes
        self._header_timer: asyncio.TimerHandle | None = None
        self._in_head = True   # the bytes arriving belong to a request line and headers not complete yet
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            DOOR_REFUSALS.labels("too_many_connections").inc()
            self._answer(ServiceUnavailableError(
                f"This gateway worker holds its maximum of {self._max_connections} connections; retry shortly.",
                headers={"retry-after": "1"}))
            return
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # what follows is the next request's head

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            # Counted after parsing, so a chunk that completes the headers and carries body bytes is not counted;
            # a chunk ending the previous body and starting the next head counts whole (the limit is far above
            # real headers: at most one read of slack).
            self._head_bytes += len(data)
            if self._head_bytes > self._max_header_bytes:
                DOOR_REFUSALS.labels("headers_too_large").inc()
                self._answer(HeadersTooLargeError(
                    f"The request line and headers exceed {self._max_header_bytes} bytes."))

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        DOOR_REFUSALS.labels("unparsable").inc()
        self._answer(InvalidRequestError(f"Invalid HTTP request: {msg}"))

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return  # closed, or a request is being served (its body has its own timeout)
        DOOR_REFUSALS.labels("header_timeout").inc()
        self._answer(RequestTimeoutError(
            f"The request headers did not arrive within {self._header_timeout:g} seconds."))

    def _answer(self, exc: StewardError) -> None:
        """Write one complete error response outside any ASGI cycle and close the connection."""
        rid = request_id()
        body = render_error(exc, rid)
        head = [f"HTTP/1.1 {exc.status} {_REASONS.get(exc.status, 'Error')}".encode(),
                b"content-type: application/json", b"content-length: " + str(len(body)).encode(),
                b"request-id: " + rid.encode(), b"connection: close",
                *(name + b": " + value for name, value in response_headers(exc))]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()
