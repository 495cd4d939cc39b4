"""Steward: a self-hosted governance gateway for the Anthropic Claude API.

The public surface is kept small and curated; `tests/contract` guards it.
"""

from __future__ import annotations

from steward.errors import StewardError
from steward.sdk import AdminClient, AsyncAdminClient

__all__ = ["AdminClient", "AsyncAdminClient", "StewardError", "__version__"]

__version__ = "0.1.0"
