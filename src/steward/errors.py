"""One error tree for everything Steward refuses or fails at.

Tree (status, Anthropic ``error.type``)::

    StewardError                      500 api_error
    ├── InvalidRequestError           400 invalid_request_error
    │   ├── SpendLimitReachedError    400 invalid_request_error
    │   └── RequestTooLargeError      413 request_too_large
    ├── AuthenticationError           401 authentication_error
    ├── PermissionDeniedError         403 permission_error
    ├── NotFoundError                 404 not_found_error
    ├── ConflictError                 409 conflict_error
    ├── RateLimitError                429 rate_limit_error
    │   └── LimitsUnavailableError    429 rate_limit_error (a limit store cannot answer: retry shortly)
    ├── UpstreamError                 502 api_error       (upstream unreachable or broken)
    │   └── UpstreamTimeoutError      504 timeout_error
    └── OverloadedError               529 overloaded_error

Status and type are class attributes, never derived from message text. ``render_error`` is the one
renderer for both the JSON body and the mid-stream SSE ``error`` event.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson


class StewardError(Exception):
    """Base of every error Steward raises on purpose."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.details = details


class InvalidRequestError(StewardError):
    status = 400
    error_type = "invalid_request_error"


class SpendLimitReachedError(InvalidRequestError):
    """A spend limit set by the organization itself (Anthropic answers these with a 400)."""


class RequestTooLargeError(InvalidRequestError):
    status = 413
    error_type = "request_too_large"


class AuthenticationError(StewardError):
    status = 401
    error_type = "authentication_error"


class PermissionDeniedError(StewardError):
    status = 403
    error_type = "permission_error"


class NotFoundError(StewardError):
    status = 404
    error_type = "not_found_error"


class ConflictError(StewardError):
    status = 409
    error_type = "conflict_error"


class RateLimitError(StewardError):
    status = 429
    error_type = "rate_limit_error"


class LimitsUnavailableError(RateLimitError):
    """Rate or spend limits cannot be checked (their store is down and the policy is to fail closed): the API's
    retryable 429, told apart from a limit reached (the refusals report counts it as ``unavailable``)."""


class UpstreamError(StewardError):
    status = 502
    error_type = "api_error"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    error_type = "timeout_error"


class OverloadedError(StewardError):
    status = 529
    error_type = "overloaded_error"


class HeadersTooLargeError(InvalidRequestError):
    """A request line and headers larger than ``STEWARD_MAX_HEADER_BYTES`` (``serving_guard.py``)."""

    status = 431


class RequestTimeoutError(StewardError):
    """The client was too slow to send its request (headers or body; ``serving_guard.py``)."""

    status = 408
    error_type = "timeout_error"


class ServiceUnavailableError(StewardError):
    """This worker holds as many connections as it may (``serving_guard.py``)."""

    status = 503
    error_type = "overloaded_error"


def error_body(error_type: str, message: str, request_id: str,
               details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Anthropic error envelope as a dict."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details:
        error["details"] = details
    return {"type": "error", "error": error, "request_id": request_id}


def response_headers(exc: StewardError) -> list[tuple[bytes, bytes]]:
    """The error's own headers plus ``x-should-retry`` as the API sends it (true only for 429 and 5xx), unless the
    error sets it itself. Clients rely on it: Claude Code keeps retrying an error that does not say "false"."""
    headers = {"x-should-retry": "true" if exc.status == 429 or exc.status >= 500 else "false", **exc.headers}
    return [(name.encode(), value.encode()) for name, value in headers.items()]


def render_error(exc: StewardError, request_id: str) -> bytes:
    """JSON body of an error response."""
    return orjson.dumps(error_body(exc.error_type, exc.message, request_id, exc.details))


def render_sse_error(exc: StewardError, request_id: str) -> bytes:
    """The same error as a mid-stream SSE ``error`` event (after an HTTP 200 has been sent)."""
    body = error_body(exc.error_type, exc.message, request_id, exc.details)
    del body["request_id"]
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


ALL_ERRORS: tuple[type[StewardError], ...] = (
    StewardError, InvalidRequestError, SpendLimitReachedError, RequestTooLargeError, HeadersTooLargeError,
    AuthenticationError, PermissionDeniedError, NotFoundError, ConflictError, RateLimitError, LimitsUnavailableError,
    UpstreamError, UpstreamTimeoutError, OverloadedError, RequestTimeoutError, ServiceUnavailableError,
)
