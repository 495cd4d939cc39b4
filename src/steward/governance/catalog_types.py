"""The catalog's value types: rates, price rows and bands, one model, catalog-wide rules, and the load error.

Immutable values only; ``catalog.py`` owns lookup, lifecycle and the family rule, ``catalog_json.py`` parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

__all__ = ["Band", "CatalogError", "ModelInfo", "PriceRow", "Rates", "Rules"]


class CatalogError(ValueError):
    """The pricing catalog is malformed. Raised at load time, never on the request path."""


@dataclass(slots=True, frozen=True)
class Rates:
    """USD per million tokens; ``per_token`` holds the same five values divided once, exactly, at load."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    per_token: tuple[Decimal, Decimal, Decimal, Decimal, Decimal] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        values = (self.input, self.output, self.cache_write_5m, self.cache_write_1h, self.cache_read)
        object.__setattr__(self, "per_token", tuple(v.scaleb(-6) for v in values))


@dataclass(slots=True, frozen=True)
class Band:
    """Rates for every token of a request whose prompt (input + cache writes + reads) exceeds a threshold."""

    above_prompt_tokens: int
    rates: Rates
    note: str | None = None


@dataclass(slots=True, frozen=True)
class PriceRow:
    """The prices of one model from ``effective_from`` (UTC) until the next row."""

    effective_from: datetime
    rates: Rates
    bands: tuple[Band, ...] = ()
    note: str | None = None

    def rates_for(self, prompt_tokens: int) -> Rates:
        """Rates of the highest band whose threshold the prompt exceeds (strictly), else the base rates."""
        for band in reversed(self.bands):
            if prompt_tokens > band.above_prompt_tokens:
                return band.rates
        return self.rates


@dataclass(slots=True, frozen=True)
class ModelInfo:
    """One model as the catalog knows it."""

    id: str
    aliases: tuple[str, ...]
    display_name: str
    family: str | None  # None: no recognizable family (unpriced unless it has prices)
    created_at: date | None
    context_window: int
    max_output_tokens: int
    status: str  # as declared; Catalog.as_of(day) turns the lifecycle dates into the status of that day
    deprecated_at: date | None
    retires_at: date | None
    prices: tuple[PriceRow, ...]  # empty: priced by its family rule (catalog.py)
    note: str | None = None
    replacement: str | None = None  # for a deprecated model: what to use instead (policies name it in refusals)


@dataclass(slots=True, frozen=True)
class Rules:
    """Catalog-wide multipliers and per-request prices."""

    cache_multipliers: Mapping[str, Decimal]  # by cache field name, applied to the input price
    batch_multiplier: Decimal
    geo_multipliers: Mapping[str, Decimal]
    web_search_per_request: Decimal

