"""Refused requests by reason for the dashboard, as a person reads them.

The counting is the refusals report's (``ReportService.refusals``: the reason each request's audit event
recorded, ``reporting/refusals.py``); this module only names the reasons and keeps their order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from steward.reporting.refusals import REASONS

LABELS = {"authentication": "Authentication", "budget": "Budget", "rate_limit": "Rate limit", "policy": "Policy",
          "validation": "Validation", "not_found": "Not found", "client_timeout": "Client timed out",
          "unavailable": "Limits unavailable",
          "gateway_error": "Gateway error", "other": "Other"}
assert set(LABELS) == set(REASONS), "every refusal reason has a label"


def refusal_counts(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """(label, count) from the refusals report's rows grouped by reason, in the report's fixed reason order."""
    counts = {str(r["reason"]): int(r["refusals"]) for r in rows}
    return [(LABELS[name], counts[name]) for name in REASONS if counts.get(name)]
