"""Spend-limit rules: calendar periods (UTC), the worst-case cost reserved at admission, money units.

Pure: no I/O. The worst case prices the estimated input (at the 1-hour cache-write rate when the request
asks for caching, since it may write that much) plus ``max_tokens`` of output (thinking included) at the
model's price (an unpriced model at the catalog's most expensive rates), with the request's inference geography.
Web-search fees are billed as they occur.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from steward.governance.catalog import Catalog
from steward.governance.money import ceil_picousd
from steward.governance.pricing import price
from steward.governance.usage import Usage

PERIODS = ("daily", "weekly", "monthly")
PICO_PER_CENT = 10**10


@dataclass(slots=True, frozen=True)
class Window:
    start: datetime
    end: datetime
    label: str


def window(period: str, now: datetime) -> Window:
    """The calendar period containing ``now`` (UTC): a day, an ISO week from Monday, or a month."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return Window(day, day + timedelta(days=1), day.strftime("%Y-%m-%d"))
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return Window(start, start + timedelta(days=7), f"{year}-W{week:02d}")
    if period == "monthly":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        return Window(start, end, start.strftime("%Y-%m"))
    raise ValueError(f"unknown period {period!r}")


def worst_case_picousd(catalog: Catalog, model: str, payload: dict[str, Any], estimated_input: int,
                       at: datetime, *, caching: bool, batch: bool = False) -> int:
    """The most this request can cost in tokens, in pico-dollars (rounded up); ``caching`` when the body
    carries a ``cache_control`` marker anywhere; ``batch`` for a Message Batches item (the batch price)."""
    max_tokens = int(payload.get("max_tokens") or 0)
    geo = payload.get("inference_geo") if isinstance(payload.get("inference_geo"), str) else None
    if caching:
        usage = Usage(cache_write_1h=estimated_input, output_tokens=max_tokens, inference_geo=geo)
    else:
        usage = Usage(input_tokens=estimated_input, output_tokens=max_tokens, inference_geo=geo)
    total = price(catalog, model, usage, at=at, ceiling=True, batch=batch).total
    return ceil_picousd(total)


def regain_text(end: datetime) -> str:
    """When access returns, as Anthropic words it."""
    return end.strftime("%Y-%m-%d at %H:%M (UTC)")
