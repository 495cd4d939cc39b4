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


class _Describer:
    """Description fields per (model, cost line), computed once per report (a page may hold 100,000 results)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._known: dict[tuple[str | None, int], tuple[str, str, str | None]] = {}

    def __call__(self, model: str | None, index: int) -> tuple[str, str, str | None]:
        found = self._known.get((model, index))
        if found is None:
            info = self._catalog.resolve(model or "")
            name = info.display_name if info is not None else (model or "Unknown model")
            _, cost_type, token_type, label = COST_LINES[index]
            found = self._known[(model, index)] = (f"{name} Usage - {label}", cost_type, token_type)
        return found


def _bucket_results(rows: Sequence[Mapping[str, Any]], query: CostQuery, describe: _Describer,
                    ) -> list[dict[str, Any]]:
    sums: dict[tuple[Any, ...], int] = {}
    lines = [(index, line[0]) for index, line in enumerate(COST_LINES)]
    for row in rows:
        ws = row["workspace_id"] if query.by_workspace else None
        if not query.by_description:
            sums[(ws,)] = sums.get((ws,), 0) + row["cost_picousd"]
            continue
        tier = "batch" if row["batch"] or row["service_tier"] == "batch" else "standard"
        base = (ws, row["model"], tier, row["context_window"], row["inference_geo"])
        for index, measure in lines:
            amount = row[measure]
            if amount:
                key = (*base, index)
                sums[key] = sums.get(key, 0) + amount
    results = []
    for key in sorted(sums, key=lambda k: tuple("" if v is None else v for v in k)):
        result: dict[str, Any] = {"amount": cents(sums[key]), "currency": "USD", "workspace_id": key[0],
                                  "description": None, "cost_type": None, "model": None, "service_tier": None,
                                  "token_type": None, "context_window": None, "inference_geo": None}
        if len(key) > 1:
            _, model, tier, window, geo, index = key
            description, cost_type, token_type = describe(model, index)
            result |= {"description": description, "cost_type": cost_type, "model": model, "service_tier": tier,
                       "token_type": token_type, "context_window": window, "inference_geo": geo}
        results.append(result)
    return results


def cost_page(query: CostQuery, rows: Sequence[Mapping[str, Any]], catalog: Catalog) -> dict[str, Any]:
    """The response body: one daily bucket per day of the page, empty ones included."""
    by_bucket: dict[Any, list[Mapping[str, Any]]] = {start: [] for start in query.window.starts}
    for row in rows:
        by_bucket.setdefault(row["bucket_start"], []).append(row)
    step = WIDTHS["1d"]
    describe = _Describer(catalog)
    data = [{"starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "ending_at": (start + step).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "results": _bucket_results(by_bucket[start], query, describe)} for start in query.window.starts]
    following = query.window.next_start
    return {"data": data, "has_more": following is not None,
            "next_page": encode_page(following) if following is not None else None}
