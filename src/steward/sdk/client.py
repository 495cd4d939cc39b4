"""``AdminClient`` and ``AsyncAdminClient`` and their httpx transports, which share request building, retries
and error mapping (``ClientOptions``) and differ only in how they send and sleep. No endpoint is known here.
``STEWARD_ADMIN_KEY`` and ``STEWARD_BASE_URL`` are read here, on the client side (as the official SDK reads
``ANTHROPIC_API_KEY``), not through the server's settings, which the SDK must not import.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx
import pydantic

from steward.sdk.errors import (
    AdminAPIError,
    APIConnectionError,
    APITimeoutError,
    MissingAdminKeyError,
    error_for_response,
)
from steward.sdk.resources.admin_keys import AdminKeys
from steward.sdk.resources.audit import AccessReview, Audit, ComplianceWithAudit
from steward.sdk.resources.base import Call
from steward.sdk.resources.claude_code import ClaudeCode
from steward.sdk.resources.invitations import Invitations
from steward.sdk.resources.limits import KeysWithLimits, RateLimits, SpendLimits, WorkspacesWithLimits
from steward.sdk.resources.policies import Policies
from steward.sdk.resources.reports import Reports
from steward.sdk.resources.users import Users

R = TypeVar("R")

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
MAX_RETRY_AFTER = 60.0
# Failures where the request may simply be tried again; a malformed URL or a proxy refusal would fail the same way.
RETRYABLE_FAILURES = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _version() -> str:
    try:
        return metadata.version("steward")
    except metadata.PackageNotFoundError:
        return "0+unknown"


USER_AGENT = f"steward-sdk/{_version()}"


def retry_delay(attempt: int, headers: Mapping[str, str] | None = None) -> float:
    """Seconds to wait before retry number ``attempt + 1``.

    The server's ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date) when it asks for 0-60 s,
    otherwise exponential backoff from 0.5 s, capped at 8 s, minus up to 25 % jitter.
    """
    asked: float | None = None
    if headers is not None:
        if "retry-after-ms" in headers:
            asked = _number(headers["retry-after-ms"], 1000.0)
        elif "retry-after" in headers:
            value = headers["retry-after"]
            asked = _number(value, 1.0)
            if asked is None:
                asked = _date_in(value)
    if asked is not None and 0 <= asked <= MAX_RETRY_AFTER:
        return asked
    return min(0.5 * 2.0**attempt, 8.0) * (1 - 0.25 * random.random())


def _number(value: str, per_second: float) -> float | None:
    try:
        return float(value) / per_second
    except ValueError:
        return None


def _date_in(value: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return (when - datetime.now(UTC)).total_seconds() if when.tzinfo else None


@dataclass(slots=True, frozen=True)
class ClientOptions:
    """What both transports share: where, who, how long and how often."""

    base_url: str
    api_key: str | None
    timeout: httpx.Timeout
    max_retries: int
    headers: Mapping[str, str]

    @classmethod
    def resolve(cls, base_url: str | None, api_key: str | None, timeout: float | httpx.Timeout, max_retries: int,
                default_headers: Mapping[str, str] | None) -> ClientOptions:
        """Arguments first, then ``STEWARD_BASE_URL`` / ``STEWARD_ADMIN_KEY``, then the defaults."""
        url = base_url or os.environ.get("STEWARD_BASE_URL") or DEFAULT_BASE_URL
        key = api_key or os.environ.get("STEWARD_ADMIN_KEY") or None
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        headers = {"user-agent": USER_AGENT, "accept": "application/json", **(default_headers or {})}
        limits = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        return cls(url.rstrip("/"), key, limits, max_retries, headers)

    def request(self, http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
        """The HTTP request for ``call``; the admin key only where the call needs one."""
        headers = dict(self.headers)
        if call.authenticated:
            if not self.api_key:
                raise MissingAdminKeyError("No admin key: pass AdminClient(api_key=...) or set STEWARD_ADMIN_KEY "
                                           "(only invitations.accept works without one).")
            headers["x-api-key"] = self.api_key
        return http.build_request(call.method, self.base_url + call.path, params=call.query or None,
                                  json=call.body, headers=headers, timeout=self.timeout)

    def wait_before_retry(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before trying again, or None to stop (``response`` None: no response arrived)."""
        if attempt >= self.max_retries:
            return None
        if response is not None and response.status_code != 429 and response.status_code < 500:
            return None
        return retry_delay(attempt, response.headers if response is not None else None)


def _result(call: Call[R], response: httpx.Response) -> R:
    if response.status_code >= 400:
        raise error_for_response(response.status_code, response.headers, response.content)
    request_id = response.headers.get("request-id")
    try:
        return call.parse(response.json())
    except (ValueError, pydantic.ValidationError) as exc:
        raise AdminAPIError(f"{call.method} {call.path}: unexpected answer from the gateway: {exc}",
                            status=response.status_code, request_id=request_id) from exc


def _connection_error(request: httpx.Request, exc: httpx.TransportError) -> APIConnectionError:
    kind = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return kind(f"{request.method} {request.url}: {type(exc).__name__}: {exc}")


class SyncTransport:
    """Sends calls with an ``httpx.Client``, retrying as ``ClientOptions`` says."""

    asynchronous: Literal[False] = False

    def __init__(self, http: httpx.Client, options: ClientOptions) -> None:
        self._http, self._options = http, options

    def send(self, call: Call[R]) -> R:
        request = self._options.request(self._http, call)
        attempt = 0
        while True:
            try:
                response = self._http.send(request)
            except RETRYABLE_FAILURES as exc:
                wait = self._options.wait_before_retry(attempt, None)
                if wait is None:
                    raise _connection_error(request, exc) from exc
            except httpx.TransportError as exc:
                raise _connection_error(request, exc) from exc
            else:
                wait = self._options.wait_before_retry(attempt, response)
                if wait is None:
                    return _result(call, response)
            time.sleep(wait)
            attempt += 1


class AsyncTransport:
    """Sends calls with an ``httpx.AsyncClient``, retrying as ``ClientOptions`` says."""

    asynchronous: Literal[True] = True

    def __init__(self, http: httpx.AsyncClient, options: ClientOptions) -> None:
        self._http, self._options = http, options

    async def send(self, call: Call[R]) -> R:
        request = self._options.request(self._http, call)
        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except RETRYABLE_FAILURES as exc:
                wait = self._options.wait_before_retry(attempt, None)
                if wait is None:
                    raise _connection_error(request, exc) from exc
            except httpx.TransportError as exc:
                raise _connection_error(request, exc) from exc
            else:
                wait = self._options.wait_before_retry(attempt, response)
                if wait is None:
                    return _result(call, response)
            await asyncio.sleep(wait)
            attempt += 1


class AdminClient:
    """Steward's Admin API: ``invitations``, ``users``, ``workspaces`` (with ``members`` and ``rate_limits``),
    ``keys`` (with ``rate_limits``), ``admin_keys``, ``rate_limits``, ``spend_limits`` (with
    ``increase_requests``). ``max_retries`` applies to 429, 5xx and connection failures."""

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_MAX_RETRIES,
                 default_headers: Mapping[str, str] | None = None, http_client: httpx.Client | None = None) -> None:
        self.options = ClientOptions.resolve(base_url, api_key, timeout, max_retries, default_headers)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        sender = SyncTransport(self._http, self.options)
        self.invitations = Invitations(sender)
        self.users = Users(sender)
        self.workspaces = WorkspacesWithLimits(sender)
        self.keys = KeysWithLimits(sender)
        self.admin_keys = AdminKeys(sender)
        self.rate_limits = RateLimits(sender)
        self.spend_limits = SpendLimits(sender)
        self.policies = Policies(sender)
        self.claude_code = ClaudeCode(sender)
        self.compliance = ComplianceWithAudit(sender)
        self.audit = Audit(sender)
        self.access_review = AccessReview(sender)
        self.reports = Reports(sender)

    def close(self) -> None:
        """Close the connection pool (not one passed in as ``http_client``)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncAdminClient:
    """``AdminClient`` with coroutines: every call is awaited and listings are ``async for``-iterable."""

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_MAX_RETRIES,
                 default_headers: Mapping[str, str] | None = None,
                 http_client: httpx.AsyncClient | None = None) -> None:
        self.options = ClientOptions.resolve(base_url, api_key, timeout, max_retries, default_headers)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        sender = AsyncTransport(self._http, self.options)
        self.invitations = Invitations(sender)
        self.users = Users(sender)
        self.workspaces = WorkspacesWithLimits(sender)
        self.keys = KeysWithLimits(sender)
        self.admin_keys = AdminKeys(sender)
        self.rate_limits = RateLimits(sender)
        self.spend_limits = SpendLimits(sender)
        self.policies = Policies(sender)
        self.claude_code = ClaudeCode(sender)
        self.compliance = ComplianceWithAudit(sender)
        self.audit = Audit(sender)
        self.access_review = AccessReview(sender)
        self.reports = Reports(sender)

    async def close(self) -> None:
        """Close the connection pool (not one passed in as ``http_client``)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
