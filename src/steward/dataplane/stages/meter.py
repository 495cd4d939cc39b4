"""Meter: price what the upstream reported, exactly, from the one versioned catalog.

Reads ``ctx.metered`` (set by the forwarder from the JSON body or the SSE stream); writes
``ctx.extra['cost']``. Bills the model that served the request. Cost: one catalog lookup and a few
Decimal multiplications; never raises.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from steward.dataplane.context import RequestContext
from steward.governance.catalog import Catalog
from steward.governance.pricing import price

log = logging.getLogger("steward.meter")
PICO = Decimal(10) ** 12


def to_picousd(amount: Decimal) -> int:
    """USD as integer pico-dollars (exact for every catalog price; half-even beyond that)."""
    return int((amount * PICO).to_integral_value(rounding=ROUND_HALF_EVEN))


class Meter:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def on_request(self, ctx: RequestContext) -> None:
        return None

    def on_complete(self, ctx: RequestContext) -> None:
        metered = ctx.metered
        if metered is None:
            return
        model = metered.model or ctx.model or ""
        if self._catalog.resolve(model) is None:
            model = ctx.model or ""
        try:
            cost = price(self._catalog, model, metered.usage,
                         at=datetime.fromtimestamp(ctx.started_at, UTC), batch=False)
        except Exception:  # a served model missing from the catalog must not lose the record
            log.exception("could not price model %r for %s", model, ctx.request_id)
            return
        ctx.extra["cost"] = cost
