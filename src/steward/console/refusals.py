"""Refused requests by reason for the dashboard: budget, rate limit, validation, policy, authentication.

The reason is read from the audit events the dashboard already reads (event name, HTTP status and the stored
``"<error_type>: <message>"`` reason). The error type and status decide; the message is read only to tell a
budget refusal (an ``invalid_request_error`` or a 429 naming a spend or usage limit) from the others, because
the stored event carries no other marker of it. Display only: nothing here decides a request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

REASONS = ("Budget", "Rate limit", "Validation", "Policy", "Authentication", "Admin permission", "Other")
_BUDGET_WORDS = ("usage limit", "spend limit", "budget", "cap ")


def _budget(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _BUDGET_WORDS)


def _policy(text: str) -> bool:
    lowered = text.lower()
    return "policy" in lowered or "not allowed" in lowered


def reason_of(event: str, status: int | None, reason: str) -> str:
    """The category of one refused event."""
    error_type = reason.split(":", 1)[0].strip() if ":" in reason else ""
    if event.startswith("auth.") or status == 401 or error_type == "authentication_error":
        return "Authentication"
    if event.startswith("admin."):
        return "Admin permission"
    if status == 429 or error_type == "rate_limit_error":
        return "Budget" if _budget(reason) and "cannot be checked" not in reason else "Rate limit"
    if status == 403 or error_type == "permission_error" or _policy(reason):
        return "Policy"
    if status is not None and 400 <= status < 500:
        return "Budget" if _budget(reason) else "Validation"
    return "Other"


def refusal_counts(events: Iterable[tuple[str, int | None, str]]) -> list[tuple[str, int]]:
    """(category, count) for refused requests, in the fixed order of ``REASONS``, only categories seen."""
    counts = Counter(reason_of(*e) for e in events)
    return [(name, counts[name]) for name in REASONS if counts[name]]
