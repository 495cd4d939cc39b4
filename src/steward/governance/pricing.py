"""Exact cost of one response from the pricing catalog: Decimal only, full precision, no rounding inside.

Owns the billing rules (bands, cache prices, batch, US-only inference, web search). A model without prices of
its own is priced by the catalog's family rule (``Catalog.price_source``); one with no price at all is
*unpriced* (``UnknownModelError``), never billed $0. It must not read settings or round: ``to_cents_str`` formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from steward.governance.catalog import Catalog
from steward.governance.money import to_picousd
from steward.governance.usage import Usage

__all__ = ["Cost", "CostLine", "UnknownModelError", "cost_split", "price", "to_cents_str"]

# Names from Anthropic's cost report (``token_type`` / ``cost_type``), in the order of ``Rates.per_token``.
UNCACHED_INPUT = "uncached_input_tokens"
OUTPUT = "output_tokens"
CACHE_WRITE_5M = "cache_creation.ephemeral_5m_input_tokens"
CACHE_WRITE_1H = "cache_creation.ephemeral_1h_input_tokens"
CACHE_READ = "cache_read_input_tokens"
# The cost report's lines in the order of ``cost_split``; anything else (web search) is the last part.
SPLIT_ORDER = (UNCACHED_INPUT, OUTPUT, CACHE_WRITE_5M, CACHE_WRITE_1H, CACHE_READ)
_SPLIT_INDEX = {token_type: index for index, token_type in enumerate(SPLIT_ORDER)}
_ONE = Decimal(1)
_ZERO = Decimal(0)


class UnknownModelError(KeyError):
    """The catalog has no price for this model, not even by its family rule: the usage is *unpriced* (the
    data plane records it so, docs/catalog.md)."""


@dataclass(slots=True, frozen=True)
class CostLine:
    """One line of a cost breakdown; ``amount == quantity * unit_price`` exactly.

    ``cost_type`` is ``tokens`` (``token_type`` names the kind, ``quantity`` counts tokens, ``unit_price`` is
    USD per token after band, batch and geo) or ``web_search`` (``quantity`` counts requests, ``unit_price``
    is USD per request, ``token_type`` is None).
    """

    cost_type: str
    token_type: str | None
    quantity: int
    unit_price: Decimal
    amount: Decimal


@dataclass(slots=True, frozen=True)
class Cost:
    """USD cost of one response with its breakdown and the catalog version that priced it."""

    total: Decimal
    lines: tuple[CostLine, ...]
    model: str
    catalog_version: str
    priced_as: str | None = None  # the model whose prices applied when the family rule priced ``model``


def price(catalog: Catalog, model: str, usage: Usage, *, at: datetime, batch: bool = False,
          ceiling: bool = False) -> Cost:
    """Price ``usage`` of ``model`` (the one that served the request) with the catalog row in force ``at``.

    Rules: the band is chosen by input + cache writes + cache reads and then prices every token of the
    request. Thinking is billed as output; it is already inside ``output_tokens`` and is not added again.
    Batch (``batch=True`` or ``service_tier == "batch"``) scales token lines by the catalog's batch multiplier
    and ``inference_geo == "us"`` by the geo multiplier; both stack with the band. Web search is billed per
    request and is neither batch-discounted nor geo-scaled. A refusal is billed as the API reports usage:
    refused before any output means ``output_tokens == 0``, so only input is billed; output streamed before a
    mid-stream refusal is billed as reported, because the usage object is the only authority we have (the
    model pages say such output is not charged; if so, the API's reported usage is expected to say so too).

    Exactness: prices have a few significant digits and counts at most ~10, so no product or sum comes near
    the 28 digits of Python's default decimal context and nothing is ever rounded (a test traps Inexact).

    Hot path: one dict lookup, one row scan (one or two rows), and a Decimal multiply per non-zero line.
    Raises ``UnknownModelError`` for an unpriced model, unless ``ceiling`` (worst-case reservations): then the
    catalog's most expensive rates apply (``Catalog.ceiling``).
    """
    info = catalog.resolve(model)
    source = catalog.price_source(model, at)
    rules = catalog.rules
    prompt = usage.input_tokens + usage.cache_write_5m + usage.cache_write_1h + usage.cache_read
    if source is not None:
        rates = catalog.price_row(source, at).rates_for(prompt)
    elif ceiling and catalog.ceiling is not None:
        rates = catalog.ceiling
    else:
        raise UnknownModelError(model)
    unit_input, unit_output, unit_5m, unit_1h, unit_read = rates.per_token
    scale = rules.batch_multiplier if batch or usage.service_tier == "batch" else _ONE
    geo = rules.geo_multipliers.get(usage.inference_geo) if usage.inference_geo is not None else None
    if geo is not None:
        scale *= geo
    lines: list[CostLine] = []
    total = _ZERO
    for token_type, quantity, unit in (
        (UNCACHED_INPUT, usage.input_tokens, unit_input),
        (OUTPUT, usage.output_tokens, unit_output),
        (CACHE_WRITE_5M, usage.cache_write_5m, unit_5m),
        (CACHE_WRITE_1H, usage.cache_write_1h, unit_1h),
        (CACHE_READ, usage.cache_read, unit_read),
    ):
        if quantity:
            unit_price = unit if scale is _ONE else unit * scale
            amount = unit_price * quantity
            total += amount
            lines.append(CostLine("tokens", token_type, quantity, unit_price, amount))
    if usage.web_search_requests:
        amount = rules.web_search_per_request * usage.web_search_requests
        total += amount
        lines.append(CostLine("web_search", None, usage.web_search_requests, rules.web_search_per_request,
                              amount))
    billed = info.id if info is not None else model
    priced_as = source.id if source is not None and source.id != billed else None
    return Cost(total, tuple(lines), billed, catalog.version, priced_as)


def to_cents_str(amount: Decimal) -> str:
    """USD as a decimal string of cents, like Anthropic's cost report: ``Decimal("0.0123")`` -> ``"1.23"``."""
    cents = amount.scaleb(2).normalize()
    return format(cents, "f") if cents else "0"


def cost_split(cost: Cost, total_picousd: int) -> list[int]:
    """Pico-USD per cost line (``SPLIT_ORDER``, then web search) summing to ``total_picousd`` exactly: each line
    rounded as ``money.to_picousd`` rounds, the rounding difference on the uncached-input line."""
    parts = [0] * 6
    for line in cost.lines:
        parts[_SPLIT_INDEX.get(line.token_type, 5) if line.token_type else 5] += to_picousd(line.amount)
    parts[0] += total_picousd - sum(parts)
    return parts
