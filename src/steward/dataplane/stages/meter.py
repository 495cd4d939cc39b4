"""Meter: price what the upstream reported, exactly, from the catalog in force (the snapshot's).

Reads ``ctx.metered`` (set by the forwarder from the JSON body or the SSE stream); writes ``ctx.cost``,
or ``ctx.unpriced`` and ``ctx.budget_cost`` when no price applies (not even by the family rule:
docs/catalog.md), and then
reports the model once per organization and process (audit event ``catalog.unpriced_model``). Bills the model
that served the request. Cost: one catalog lookup and a few Decimal multiplications; never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from steward.dataplane.context import RequestContext
from steward.dataplane.records import audit_event
from steward.dataplane.snapshot import SnapshotStore
from steward.governance.pricing import UnknownModelError, price

log = logging.getLogger("steward.meter")
_REPORTED_MAX = 10_000  # bounds the memory of reported (organization, model) pairs; ids come from clients
UnpricedSink = Callable[[dict[str, Any]], None]


def unpriced_record(ctx: RequestContext, model: str, catalog_version: str) -> dict[str, Any]:
    """A journal record (audit event ``catalog.unpriced_model``): usage of a model no catalog price covers."""
    key = ctx.key
    return {"audit": audit_event(
        "catalog.unpriced_model", created_at=datetime.now(UTC).isoformat(), decision="allowed",
        org_id=key.org_id if key else None, request_id=ctx.request_id,
        workspace_id=key.workspace_id if key else None, api_key_id=key.id if key else None,
        actor="steward", model=model,
        reason=f"model {model} has no price in catalog {catalog_version} and no family price: its usage is "
               "recorded as unpriced (not $0); import its prices with `steward catalog import`",
        data={"model": model, "catalog_version": catalog_version})}


class Meter:
    def __init__(self, snapshots: SnapshotStore, on_unpriced: UnpricedSink | None = None) -> None:
        self._snapshots = snapshots
        self._on_unpriced = on_unpriced
        self._reported: set[tuple[str, str]] = set()

    def on_request(self, ctx: RequestContext) -> None:
        return None

    def on_complete(self, ctx: RequestContext) -> None:
        metered = ctx.metered
        if metered is None:
            return
        catalog = self._snapshots.current.catalog
        model = metered.model or ctx.model or ""
        if catalog.resolve(model) is None and catalog.resolve(ctx.model or "") is not None:
            model = ctx.model or ""  # an unlisted served snapshot of a listed model bills as the model asked
        try:
            cost = price(catalog, model, metered.usage, at=datetime.fromtimestamp(ctx.started_at, UTC), batch=False)
        except UnknownModelError:
            ctx.unpriced = True
            # The record stays unpriced (never a made-up price), but spend limits are charged the usage at the
            # catalog's highest rates, as it was reserved: an unknown family must not spend past a hard cap.
            ctx.budget_cost = price(catalog, model, metered.usage,
                                    at=datetime.fromtimestamp(ctx.started_at, UTC), ceiling=True)
            self._report(ctx, model, catalog.version)
            return
        except Exception:  # a pricing defect must not lose the record
            log.exception("could not price model %r for %s", model, ctx.request_id)
            return
        ctx.cost = cost

    def _report(self, ctx: RequestContext, model: str, catalog_version: str) -> None:
        seen = (ctx.key.org_id if ctx.key else "", model)
        if seen in self._reported or self._on_unpriced is None or len(self._reported) >= _REPORTED_MAX:
            return
        self._reported.add(seen)
        log.warning("model %r is unpriced in catalog %s; its usage is recorded as unpriced", model, catalog_version)
        try:
            self._on_unpriced(unpriced_record(ctx, model, catalog_version))
        except Exception:  # the alert must never break metering
            log.exception("could not record the unpriced-model event for %r", model)
