"""Python client for Steward's Admin API (``/v1/admin/...``): ``AdminClient`` and ``AsyncAdminClient``; plus
the client-side ``RateLimitedClient`` and ``UsageTracker`` (``ratelimited.py``, ``tracker.py``).

The admin client shares only the HTTP contract with the server. The client-side helpers use the pure
``steward.governance`` rules (token estimate, buckets, pricing catalog) so that they price like the gateway.
"""

from __future__ import annotations

from steward.sdk.client import AdminClient, AsyncAdminClient
from steward.sdk.errors import (
    AdminAPIError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    MissingAdminKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from steward.sdk.models import (
    AdminKey,
    APIKey,
    AsyncPage,
    InvitationAcceptance,
    Invite,
    InviteWorkspace,
    KeyReport,
    Page,
    User,
    UserDeleted,
    Workspace,
    WorkspaceMember,
    WorkspaceMemberDeleted,
)
from steward.sdk.resources.base import NOT_GIVEN, NotGiven

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIKey",
    "APITimeoutError",
    "AdminAPIError",
    "AdminClient",
    "AdminKey",
    "AsyncAdminClient",
    "AsyncPage",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "InvitationAcceptance",
    "Invite",
    "InviteWorkspace",
    "KeyReport",
    "MissingAdminKeyError",
    "NotFoundError",
    "NotGiven",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "User",
    "UserDeleted",
    "Workspace",
    "WorkspaceMember",
    "WorkspaceMemberDeleted",
]
