"""The cost reports: Anthropic's ``cost_report`` shape (amounts in cents as exact decimal strings, rows per
workspace and/or description with cost type, token type, model, service tier, context window and geo) and the
seed's flat rows per group in USD. Money stays integer pico-USD until it is formatted, so totals reconcile
exactly with the usage records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from steward.governance.catalog import Catalog
from steward.reporting.params import WIDTHS, CostQuery, encode_page

__all__ = ["COST_LINES", "SEED_COST_MEASURES", "cents", "cost_group", "cost_page", "usd"]

# rollup measure -> (cost_type, token_type, description suffix)
COST_LINES = (
    ("cost_input_picousd", "tokens", "uncached_input_tokens", "Input Tokens"),
    ("cost_output_picousd", "tokens", "output_tokens", "Output Tokens"),
    ("cost_cache_read_picousd", "tokens", "cache_read_input_tokens", "Cache Read Input Tokens"),
    ("cost_cache_write_5m_picousd", "tokens", "cache_creation.ephemeral_5m_input_tokens",
     "Cache Write (5m) Input Tokens"),
    ("cost_cache_write_1h_picousd", "tokens", "cache_creation.ephemeral_1h_input_tokens",
     "Cache Write (1h) Input Tokens"),
    ("cost_web_search_picousd", "web_search", None, "Web Search"),
)
SEED_COST_MEASURES = ("requests", "cost_input_picousd", "cost_output_picousd", "cost_cache_write_5m_picousd",
                      "cost_cache_write_1h_picousd", "cost_cache_read_picousd", "cost_web_search_picousd",
                      "cost_picousd")
_DESCRIPTION_DIMENSIONS = ("model", "service_tier", "batch", "context_window", "inference_geo")


def cents(picousd: int) -> str:
    """Pico-USD as Anthropic's amount: cents as an exact decimal string (1 cent = 10**10 pico-USD)."""
    value = Decimal(picousd).scaleb(-10).normalize()
    return format(value, "f") if value else "0"


def usd(picousd: int) -> str:
    """Pico-USD as an exact decimal string of dollars."""
    value = Decimal(picousd).scaleb(-12).normalize()
    return format(value, "f") if value else "0"


def cost_group(query: CostQuery) -> list[str]:
    """The rollup dimensions a cost query needs."""
    return (["workspace_id"] if query.by_workspace else []) + (
        list(_DESCRIPTION_DIMENSIONS) if query.by_description else [])


def _result(amount: int, key: tuple[Any, ...], catalog: Catalog) -> dict[str, Any]:
    """One result; ``key`` is (workspace) or (workspace, model, tier, context window, geo, cost line index)."""
    result: dict[str, Any] = {"amount": cents(amount), "currency": "USD", "workspace_id": key[0],
                              "description": None, "cost_type": None, "model": None, "service_tier": None,
                              "token_type": None, "context_window": None, "inference_geo": None}
    if len(key) > 1:
        _, model, tier, window, geo, index = key
        _, cost_type, token_type, label = COST_LINES[index]
        info = catalog.resolve(model or "")
        name = info.display_name if info is not None else (model or "Unknown model")
        result |= {"description": f"{name} Usage - {label}", "cost_type": cost_type, "model": model,
                   "service_tier": tier, "token_type": token_type, "context_window": window,
                   "inference_geo": geo}
    return result


def _bucket_results(rows: Sequence[Mapping[str, Any]], query: CostQuery, catalog: Catalog) -> list[dict[str, Any]]:
    sums: dict[tuple[Any, ...], int] = {}
    for row in rows:
        ws = row.get("workspace_id") if query.by_workspace else None
        if not query.by_description:
            sums[(ws,)] = sums.get((ws,), 0) + row["cost_picousd"]
            continue
        tier = "batch" if row.get("batch") or row.get("service_tier") == "batch" else "standard"
        for index, line in enumerate(COST_LINES):
            amount = row[line[0]]
            if amount:
                key = (ws, row.get("model"), tier, row.get("context_window"), row.get("inference_geo"), index)
                sums[key] = sums.get(key, 0) + amount
    results = [_result(amount, key, catalog) for key, amount in sums.items()]
    results.sort(key=lambda r: tuple(str(r[f] or "") for f in ("workspace_id", "description", "service_tier",
                                                               "context_window", "inference_geo")))
    return results


def cost_page(query: CostQuery, rows: Sequence[Mapping[str, Any]], catalog: Catalog) -> dict[str, Any]:
    """The response body: one daily bucket per day of the page, empty ones included."""
    by_bucket: dict[Any, list[Mapping[str, Any]]] = {start: [] for start in query.window.starts}
    for row in rows:
        by_bucket.setdefault(row["bucket_start"], []).append(row)
    step = WIDTHS["1d"]
    data = [{"starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "ending_at": (start + step).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "results": _bucket_results(by_bucket[start], query, catalog)} for start in query.window.starts]
    following = query.window.next_start
    return {"data": data, "has_more": following is not None,
            "next_page": encode_page(following) if following is not None else None}
