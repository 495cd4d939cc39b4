"""``UsageTracker``: one frozen record per response, with team, feature and other tags, priced exactly.

Owns client-side attribution in memory. Prices come from the gateway's own catalog and billing rules
(``steward.governance``: pure, no I/O beyond the packaged catalog); nothing is sent anywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pydantic

from steward.governance.catalog import Catalog
from steward.governance.pricing import UnknownModelError, price
from steward.governance.usage import Usage, meter_message

__all__ = ["UsageRecord", "UsageTracker"]

UNKNOWN = "unknown"
_COLUMNS = ("time", "model", "request_id", "message_id", "stop_reason", "input_tokens", "cache_write_5m_tokens",
            "cache_write_1h_tokens", "cache_read_tokens", "output_tokens", "thinking_tokens",
            "web_search_requests", "cost_usd")


@dataclass(slots=True, frozen=True)
class UsageRecord:
    """One response: when (UTC), which model, its ids, usage, stop reason, exact cost and tags.

    ``cost`` is None when the catalog does not know the model (it then counts as zero in every sum).
    """

    time: datetime
    model: str
    request_id: str | None
    message_id: str | None
    stop_reason: str | None
    usage: Usage
    cost: Decimal | None
    tags: Mapping[str, str]

    def value(self, dimension: str) -> str:
        """The record's ``model``, or its tag named ``dimension`` (``"unknown"`` when absent)."""
        return self.model if dimension == "model" else self.tags.get(dimension, UNKNOWN)

    def row(self) -> dict[str, str | int | None]:
        """A flat row: fixed columns (see ``UsageTracker.to_rows``), then the tags."""
        u = self.usage
        values = (self.time.isoformat(), self.model, self.request_id, self.message_id, self.stop_reason,
                  u.input_tokens, u.cache_write_5m, u.cache_write_1h, u.cache_read, u.output_tokens,
                  u.thinking_tokens, u.web_search_requests,
                  None if self.cost is None else format(self.cost.normalize(), "f"))
        return {**dict(zip(_COLUMNS, values, strict=True)), **self.tags}


class UsageTracker:
    """Records responses and sums their cost by any dimension. Thread-safe; records are kept in memory."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self._catalog = catalog if catalog is not None else Catalog.load_default()
        self._records: list[UsageRecord] = []
        self._lock = threading.Lock()

    def record(self, response: pydantic.BaseModel | Mapping[str, Any], *, team: str | None = None,
               feature: str | None = None, **tags: str) -> UsageRecord:
        """Record a ``Message`` (or its JSON as a dict) with its attribution; return the frozen record."""
        clash = set(tags) & set(_COLUMNS)
        if clash:
            raise ValueError(f"tag names {sorted(clash)} are record columns")
        if isinstance(response, pydantic.BaseModel):
            body: Mapping[str, Any] = response.model_dump(mode="json")
            request_id = getattr(response, "_request_id", None)
        else:
            body, request_id = response, None
        metered = meter_message(body)
        model = metered.model or UNKNOWN
        now = datetime.now(UTC)
        try:
            cost: Decimal | None = price(self._catalog, model, metered.usage, at=now).total
        except UnknownModelError:
            cost = None
        named = {"team": team, "feature": feature, **tags}
        record = UsageRecord(
            time=now, model=model, request_id=request_id if isinstance(request_id, str) else None,
            message_id=metered.message_id, stop_reason=metered.stop_reason, usage=metered.usage, cost=cost,
            tags=MappingProxyType({k: v for k, v in named.items() if v is not None}))
        with self._lock:
            self._records.append(record)
        return record

    @property
    def records(self) -> tuple[UsageRecord, ...]:
        """Every record so far, oldest first."""
        with self._lock:
            return tuple(self._records)

    def __len__(self) -> int:
        return len(self.records)

    def cost_by(self, dimension: str) -> dict[str, Decimal]:
        """Exact USD cost per value of ``dimension``: ``"team"``, ``"feature"``, ``"model"`` or any tag."""
        totals: dict[str, Decimal] = {}
        for record in self.records:
            key = record.value(dimension)
            totals[key] = totals.get(key, Decimal(0)) + (record.cost or Decimal(0))
        return totals

    def total_cost(self) -> Decimal:
        """Exact USD cost of every record."""
        return sum((r.cost or Decimal(0) for r in self.records), Decimal(0))

    def to_rows(self) -> list[dict[str, str | int | None]]:
        """One flat dict per record, for CSV or a dataframe.

        Columns: ``time`` (ISO 8601, UTC), ``model``, ``request_id``, ``message_id``, ``stop_reason``, the
        token counts (``input_tokens`` is uncached input; ``output_tokens`` includes ``thinking_tokens``),
        ``web_search_requests``, ``cost_usd`` (an exact decimal string, or None), then one column per tag.
        """
        return [record.row() for record in self.records]
