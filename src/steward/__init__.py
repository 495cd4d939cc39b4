"""Steward: a self-hosted governance gateway for the Anthropic Claude API.

The public surface is kept small and curated; `tests/contract` guards it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from steward.errors import StewardError

if TYPE_CHECKING:
    from steward.sdk import AdminClient, AsyncAdminClient
    from steward.sdk.ratelimited import AsyncRateLimitedClient, RateLimitedClient
    from steward.sdk.tracker import UsageTracker

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
    # The SDK's clients import httpx and pydantic models, the rate-limited ones the official anthropic SDK (about
    # 0.9 s). Loading them on first use keeps that time and memory (about 30 MB) out of the gateway, its ship
    # process and the CLI, which import this package too.
    if name in ("AsyncRateLimitedClient", "RateLimitedClient"):
        from steward.sdk import ratelimited

        return getattr(ratelimited, name)
    if name in ("AdminClient", "AsyncAdminClient"):
        from steward import sdk

        return getattr(sdk, name)
    if name == "UsageTracker":
        from steward.sdk.tracker import UsageTracker

        return UsageTracker
    raise AttributeError(f"module 'steward' has no attribute {name!r}")
