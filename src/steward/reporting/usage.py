"""The messages usage reports: Anthropic's ``usage_report/messages`` shape (buckets oldest first, empty ones
included, every Anthropic dimension present and null unless grouped, Steward's extra dimensions only when asked
for) and the seed's flat rows of totals per group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from steward.errors import InvalidRequestError
from steward.reporting.params import STEWARD_GROUPS, WIDTHS, UsageQuery, encode_page

__all__ = ["SEED_GROUPS", "anthropic_page", "seed_rows", "usage_result"]

ANTHROPIC_DIMENSIONS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo",
                        "account_id", "service_account_id")
# The seed's group_by names -> rollup dimensions.
SEED_GROUPS = {"workspace": "workspace_id", "workspace_id": "workspace_id", "model": "model",
               "key": "api_key_id", "api_key": "api_key_id", "api_key_id": "api_key_id", "user": "user_id",
               "user_id": "user_id", "team": "team", "tag:team": "team", "feature": "feature",
               "tag:feature": "feature", "stop_reason": "stop_reason", "service_tier": "service_tier",
               "context_window": "context_window", "inference_geo": "inference_geo", "day": "day"}
SEED_MEASURES = ("requests", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens",
                 "output_tokens", "thinking_tokens", "web_search_requests", "web_fetch_requests",
                 "code_execution_requests")


def usage_result(row: Mapping[str, Any], group: Sequence[str]) -> dict[str, Any]:
    """One result of Anthropic's shape (extra Steward fields only for the extra groupings asked for)."""
    result: dict[str, Any] = {
        "uncached_input_tokens": row["input_tokens"],
        "cache_creation": {"ephemeral_1h_input_tokens": row["cache_write_1h_tokens"],
                           "ephemeral_5m_input_tokens": row["cache_write_5m_tokens"]},
        "cache_read_input_tokens": row["cache_read_tokens"],
        "output_tokens": row["output_tokens"],
        "server_tool_use": {"web_search_requests": row["web_search_requests"]},
    }
    for name in ANTHROPIC_DIMENSIONS:
        result[name] = row.get(name) if name in group else None
    if "speed" in group:
        result["speed"] = row.get("speed")
    for name in group:
        if name in STEWARD_GROUPS:
            result[name] = row.get(name)
    return result


def _sort_key(row: Mapping[str, Any], group: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row.get(d) or "") for d in group)


def anthropic_page(query: UsageQuery, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The response body: one bucket per interval of the page, results sorted by their group values."""
    by_bucket: dict[Any, list[Mapping[str, Any]]] = {start: [] for start in query.window.starts}
    for row in rows:
        by_bucket.setdefault(row["bucket_start"], []).append(row)
    step = WIDTHS[query.window.width]
    data = [{"starting_at": _rfc3339(start), "ending_at": _rfc3339(start + step),
             "results": [usage_result(r, query.group)
                         for r in sorted(by_bucket[start], key=lambda r: _sort_key(r, query.group))]}
            for start in query.window.starts]
    following = query.window.next_start
    return {"data": data, "has_more": following is not None,
            "next_page": encode_page(following) if following is not None else None}


def seed_group(names: Sequence[str]) -> list[str]:
    """The seed's ``group_by=model,workspace`` names as dimensions (``day`` groups by the daily bucket)."""
    group: list[str] = []
    for name in names:
        if name not in SEED_GROUPS:
            raise InvalidRequestError(f"group_by: unknown value {name!r}; expected one of "
                                      f"{', '.join(sorted(SEED_GROUPS))}.")
        if SEED_GROUPS[name] not in group:
            group.append(SEED_GROUPS[name])
    return group


def seed_rows(rows: Sequence[Mapping[str, Any]], group: Sequence[str], measures: Sequence[str]
              ) -> list[dict[str, Any]]:
    """Daily rollup rows summed over the whole range per group (``day`` keeps the bucket as a dimension)."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        key = tuple(row["bucket_start"].date().isoformat() if d == "day" else row.get(d) for d in group)
        found = sums.setdefault(key, [0] * len(measures))
        for i, name in enumerate(measures):
            found[i] += row[name]
    out = [dict(zip(group, key, strict=True)) | dict(zip(measures, values, strict=True))
           for key, values in sums.items()]
    out.sort(key=lambda r: tuple(str(r.get(d) or "") for d in group))
    return out


def _rfc3339(at: Any) -> str:
    return str(at.strftime("%Y-%m-%dT%H:%M:%SZ"))
