"""Steward: a self-hosted governance gateway for the Anthropic Claude API.

The public surface is kept small and curated; `tests/contract` guards it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from steward.errors import StewardError
from steward.sdk import AdminClient, AsyncAdminClient
from steward.sdk.tracker import UsageTracker

if TYPE_CHECKING:
    from steward.sdk.ratelimited import AsyncRateLimitedClient, RateLimitedClient

__all__ = [
    "AdminClient",
    "AsyncAdminClient",
    "AsyncRateLimitedClient",
    "RateLimitedClient",
    "StewardError",
    "UsageTracker",
    "__version__",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The rate-limited clients import the official anthropic SDK (about 0.9 s). Loading them on first use
    # keeps that cost out of the gateway and the CLI, which import this package too.
    if name in ("AsyncRateLimitedClient", "RateLimitedClient"):
        from steward.sdk import ratelimited

        return getattr(ratelimited, name)
    raise AttributeError(f"module 'steward' has no attribute {name!r}")
