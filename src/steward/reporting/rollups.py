"""Rollup aggregation: usage records (as the journal ships them) summed per bucket and dimensions.

Pure and shared by every writer: the shipper (per batch, in its transaction), ``steward usage rebuild-rollups``
(from raw rows) and the benchmark loader, so that all three produce the same rows. Cost is split by the cost
report's types by pricing the record again with the one catalog; the split always sums to the record's own
``cost_picousd`` (a difference, possible only if the catalog was edited retroactively, goes to the
uncached-input line so that totals still reconcile). Does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import add, itemgetter
from typing import Any

from steward.governance.catalog import Catalog
from steward.governance.pricing import cost_split, price
from steward.governance.usage import Usage
from steward.storage.models.rollups import DIMENSIONS, MEASURES

__all__ = ["GRAINS", "LONG_CONTEXT", "MESSAGE_ENDPOINTS", "RollupAccumulator", "bucket_start", "context_window",
           "dimensions_of"]

LONG_CONTEXT = 200_000
# Usage records of other endpoints (models, count_tokens, batch management, OTLP) carry no Messages usage.
MESSAGE_ENDPOINTS = frozenset({"messages", "batch_result"})
# Which dimensions each grain keeps, and at which widths it is written. Readers pick the smallest grain that
# has every dimension a report needs; per-user, per-stop-reason and per-tag detail is kept per day only (at
# scale it is nearly one row per request per hour), hourly and minute reports over it read raw rows.
_CORE = ("workspace_id", "model", "service_tier", "inference_geo", "context_window", "batch")
GRAINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ws": (_CORE, ("1h", "1d")),
    "key": ((*_CORE, "api_key_id"), ("1h", "1d")),
    "all": (DIMENSIONS, ("1d",)),
}


def bucket_start(at: datetime, width: str) -> datetime:
    """The start of the UTC minute, hour or day holding ``at``."""
    at = at.astimezone(UTC)
    if width == "1m":
        return at.replace(second=0, microsecond=0)
    if width == "1h":
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def context_window(row: Mapping[str, Any]) -> str:
    """Anthropic's context-window bucket of a request: all prompt tokens, cached or not."""
    prompt = (row["input_tokens"] + row["cache_write_5m_tokens"] + row["cache_write_1h_tokens"]
              + row["cache_read_tokens"])
    return "200k-1M" if prompt > LONG_CONTEXT else "0-200k"


def dimensions_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every rollup dimension of one usage record (missing values as ``''``)."""
    tags = row.get("tags") or {}
    return {
        "workspace_id": row["workspace_id"] or "", "api_key_id": row["api_key_id"] or "",
        "model": row.get("model") or "", "service_tier": row.get("service_tier") or "",
        "inference_geo": row.get("inference_geo") or "", "context_window": context_window(row),
        "user_id": row.get("user_id") or "", "stop_reason": row.get("stop_reason") or "",
        "batch": row.get("batch_id") is not None, "team": str(tags.get("team") or ""),
        "feature": str(tags.get("feature") or ""),
    }


@dataclass(slots=True)
class _CostSplitter:
    catalog: Catalog

    def split(self, row: Mapping[str, Any]) -> list[int]:
        """Pico-USD per cost line: input, output, cache 5m, cache 1h, cache read, web search. The meter's own split
        when the record carries it (``cost_split``, written with the record), else the record priced again."""
        total = int(row.get("cost_picousd") or 0)
        if total == 0:
            return [0] * 6
        carried = row.get("cost_split")
        if isinstance(carried, list) and len(carried) == 6 and sum(carried) == total:
            return carried
        usage = Usage(input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
                      cache_write_5m=row["cache_write_5m_tokens"], cache_write_1h=row["cache_write_1h_tokens"],
                      cache_read=row["cache_read_tokens"], web_search_requests=row["web_search_requests"],
                      service_tier=row.get("service_tier"), inference_geo=row.get("inference_geo"))
        model = row.get("model") or ""
        if self.catalog.price_source(model, row["created_at"]) is None:  # neither listed nor priced by its family
            return [total, 0, 0, 0, 0, 0]
        cost = price(self.catalog, model, usage, at=row["created_at"], batch=row.get("batch_id") is not None)
        return cost_split(cost, total)


class RollupAccumulator:
    """Sums usage records into rollup rows for every grain and width; ``rows()`` gives them sorted by key
    (the order in which writers upsert, so that concurrent shippers never deadlock on PostgreSQL).

    Two levels: each record adds to one entry keyed by (organization, hour, every dimension), a single dict
    update; ``rows()`` fans those entries out to the grains and widths. A shipper batch holds far fewer distinct
    entries than records, so the fan-out is paid per entry, not per record."""

    def __init__(self, catalog: Catalog, grains: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = GRAINS,
                 ) -> None:
        self._splitter = _CostSplitter(catalog)
        # Per (grain, width): an itemgetter over (dimension values..., "", False) that keeps the grain's
        # dimensions and blanks the others (C-speed).
        blank, false = len(DIMENSIONS), len(DIMENSIONS) + 1
        self._plans = [(grain, width, itemgetter(*(i if d in kept else (false if d == "batch" else blank)
                                                   for i, d in enumerate(DIMENSIONS))))
                       for grain, (kept, widths) in grains.items() for width in widths]
        self._widths = sorted({width for _, width, _ in self._plans})
        self._finest = "1m" if "1m" in self._widths else "1h"
        self._entries: dict[tuple[Any, ...], list[int]] = {}

    def add(self, row: Mapping[str, Any]) -> None:
        """Add one usage record (a shipper row: ``created_at`` is a datetime); other endpoints' are skipped."""
        if row.get("endpoint") not in MESSAGE_ENDPOINTS:
            return
        dims = dimensions_of(row)
        cost = self._splitter.split(row)
        charged = row.get("charged_picousd")  # what caps were charged, when that is not the cost (unpriced)
        measures = [1, row["input_tokens"], row["cache_write_5m_tokens"], row["cache_write_1h_tokens"],
                    row["cache_read_tokens"], row["output_tokens"], row.get("thinking_tokens") or 0,
                    row.get("web_search_requests") or 0, row.get("web_fetch_requests") or 0,
                    row.get("code_execution_requests") or 0, *cost, int(row.get("cost_picousd") or 0),
                    int(charged if charged is not None else row.get("cost_picousd") or 0)]
        key = (row["org_id"], bucket_start(row["created_at"], self._finest), *(dims[d] for d in DIMENSIONS))
        found = self._entries.get(key)
        if found is None:
            self._entries[key] = measures
        else:
            for i, value in enumerate(measures):
                found[i] += value

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> RollupAccumulator:
        for row in rows:
            self.add(row)
        return self

    def _fan_out(self) -> dict[tuple[Any, ...], list[int]]:
        sums: dict[tuple[Any, ...], list[int]] = {}
        for (org, finest, *dims), measures in self._entries.items():
            values = (*dims, "", False)
            buckets = {width: finest if width == self._finest else bucket_start(finest, width)
                       for width in self._widths}
            for grain, width, pick in self._plans:
                key = (org, width, grain, buckets[width], *pick(values))
                found = sums.get(key)
                sums[key] = list(measures) if found is None else list(map(add, found, measures))
        return sums

    def rows(self) -> list[dict[str, Any]]:
        """The accumulated rows as column dicts, sorted by primary key."""
        sums = self._fan_out()
        names = ("org_id", "width", "grain", "bucket_start", *DIMENSIONS)
        return [dict(zip(names, key, strict=True)) | dict(zip(MEASURES, sums[key], strict=True))
                for key in sorted(sums)]

    def clear(self) -> None:
        self._entries.clear()
