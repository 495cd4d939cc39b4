"""Exceptions the Admin API client raises, mapped once from HTTP responses and httpx failures.

The class comes from the HTTP status, never from the message text; ``type``, ``message`` and ``request_id``
come from Anthropic's error envelope ``{"type": "error", "error": {"type", "message"}, "request_id"}``.
"""

# AdminAPIError                   any refusal or failure; status None when no response arrived
# ├── MissingAdminKeyError        no admin key configured (raised before anything is sent)
# ├── APIConnectionError          no response: connection refused or reset, DNS failure
# │   └── APITimeoutError         the request timed out
# ├── BadRequestError             400, 413
# ├── AuthenticationError         401
# ├── PermissionDeniedError       403
# ├── NotFoundError               404
# ├── ConflictError               409
# ├── RateLimitError              429
# └── InternalServerError         500 and above

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AdminAPIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "MissingAdminKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "error_for_response",
]


class AdminAPIError(Exception):
    """Base of every error the client raises: ``status``, ``type``, ``message``, ``request_id`` and ``body``."""

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None,
                 request_id: str | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        parts = [str(self.status)] if self.status is not None else []
        parts += [self.type] if self.type else []
        prefix = f"[{' '.join(parts)}] " if parts else ""
        suffix = f" (request_id: {self.request_id})" if self.request_id else ""
        return f"{prefix}{self.message}{suffix}"


class MissingAdminKeyError(AdminAPIError):
    """No admin key was given and ``STEWARD_ADMIN_KEY`` is unset; only ``invitations.accept`` works then."""


class APIConnectionError(AdminAPIError):
    """The gateway could not be reached, or the connection broke before a response arrived."""


class APITimeoutError(APIConnectionError):
    """The request took longer than the client's timeout."""


class BadRequestError(AdminAPIError):
    """400 ``invalid_request_error`` or 413 ``request_too_large``."""


class AuthenticationError(AdminAPIError):
    """401: the admin key is missing, malformed, revoked or expired."""


class PermissionDeniedError(AdminAPIError):
    """403: the key's user lacks the role, the key is read-only, or a workspace API key was used."""


class NotFoundError(AdminAPIError):
    """404: no such object in this organization (or no such path)."""


class ConflictError(AdminAPIError):
    """409: the object already exists (a user, a pending invitation, a workspace name, a membership)."""


class RateLimitError(AdminAPIError):
    """429: too many requests."""


class InternalServerError(AdminAPIError):
    """500 and above: the gateway failed."""


_BY_STATUS: dict[int, type[AdminAPIError]] = {
    400: BadRequestError, 413: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError,
    404: NotFoundError, 409: ConflictError, 429: RateLimitError,
}


def _error_class(status: int) -> type[AdminAPIError]:
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, AdminAPIError)


def error_for_response(status: int, headers: Mapping[str, str], content: bytes) -> AdminAPIError:
    """The exception for an error response: class from ``status``, fields from the envelope if there is one."""
    try:
        body: Any = json.loads(content) if content else None
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = error.get("message")
    if not isinstance(message, str):
        message = content.decode("utf-8", "replace")[:500] or f"HTTP {status}"
    error_type = error.get("type") if isinstance(error.get("type"), str) else None
    request_id = body.get("request_id") if isinstance(body, dict) else None
    if not isinstance(request_id, str):
        request_id = headers.get("request-id")
    return _error_class(status)(message, status=status, type=error_type, request_id=request_id, body=body)
