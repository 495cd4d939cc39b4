"""The pooled upstream client (aiohttp): the one place that talks to the Anthropic API.

Foreign exceptions are mapped here, once, into Steward's tree. The upstream key is chosen here and never
leaves this module: it is not logged, not echoed, not part of any error message.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from steward.errors import UpstreamError, UpstreamTimeoutError

# A request body: whole bytes, or chunks streamed as they come (the Files API's uploads, dataplane/files_routes.py).
Body = bytes | AsyncIterable[bytes] | None
# Response headers that reach the client unchanged (plus every anthropic-ratelimit-* header).
PASSTHROUGH_RESPONSE_HEADERS = frozenset({"content-type", "retry-after", "retry-after-ms", "x-should-retry"})
_PASSTHROUGH = frozenset(name.encode() for name in PASSTHROUGH_RESPONSE_HEADERS)


@dataclass(slots=True)
class UpstreamResponse:
    """An upstream answer whose body is read or streamed by the caller."""

    status: int
    headers: Mapping[str, str]
    _response: aiohttp.ClientResponse

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _map(exc) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (no buffering beyond what the socket delivers)."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _map(exc) from exc

    def passthrough_headers(self) -> list[tuple[bytes, bytes]]:
        """The upstream headers a client must see (rate limits, retry hints, content type), as received (bytes)."""
        out = []
        for name, value in self._response.raw_headers:
            low = name.lower()
            if low in _PASSTHROUGH or low.startswith(b"anthropic-ratelimit-"):
                out.append((low, value))
        return out


class Upstream(Protocol):
    """The seam between the data plane and the Anthropic API."""

    def request(self, method: str, path: str, headers: Mapping[str, str],
                body: Body = None) -> AbstractAsyncContextManager[UpstreamResponse]: ...

    async def close(self) -> None: ...


def _map(exc: BaseException) -> UpstreamError:
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeoutError("The upstream API did not answer in time.")
    return UpstreamError("The upstream API could not be reached or closed the connection.")


class _Exchange:
    """One upstream call as an async context manager (a plain class: cheaper than @asynccontextmanager)."""

    __slots__ = ("_args", "_response", "_session")

    def __init__(self, session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
                 body: Body) -> None:
        self._session = session
        self._args = (method, url, headers, body)
        self._response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> UpstreamResponse:
        method, url, headers, body = self._args
        try:
            self._response = await self._session.request(method, url, data=body, headers=headers)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _map(exc) from exc
        return UpstreamResponse(self._response.status, self._response.headers, self._response)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            self._response.release()


class AiohttpUpstream:
    """A keep-alive connection pool to one upstream base URL, with round-robin upstream keys."""

    def __init__(self, base_url: str, api_keys: list[str], *, connect_timeout: float, read_timeout: float,
                 pool_size: int) -> None:
        self._base = base_url.rstrip("/")
        self._keys = itertools.cycle(api_keys) if api_keys else None
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=60,
                                             enable_cleanup_closed=False)
            # No cookie jar: cookies the upstream sets for one client's request (a CDN's, say) must never ride
            # along with another client's, and a proxy has no use for them.
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"), cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    def request(self, method: str, path: str, headers: Mapping[str, str],
                body: Body = None) -> _Exchange:
        """Send one request; the response is released when the ``async with`` block ends."""
        out = dict(headers)
        if self._keys is not None:
            out["x-api-key"] = next(self._keys)
        return _Exchange(self._client(), method, self._base + path, out, body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
