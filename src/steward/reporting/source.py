"""Where a report's numbers come from: the smallest rollup grain that has every dimension the report groups or
filters by, or, when no grain covers it (minute buckets; hourly buckets by user, stop reason or tag), the raw
usage rows of the page's window summed by the same aggregation the shipper uses.

Returns rows of ``{"bucket_start", <group dimensions>, <measures>}``; a dimension a row has no value for is None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from steward.governance.catalog import Catalog
from steward.reporting.params import UNRECORDED
from steward.reporting.rollups import GRAINS, RollupAccumulator
from steward.storage.models.rollups import DIMENSIONS, MEASURES
from steward.storage.repositories.reports import ReportsRepository

__all__ = ["choose_grain", "fetch"]


def choose_grain(width: str, needed: set[str]) -> str | None:
    """The first (smallest) grain written at ``width`` that keeps every ``needed`` dimension."""
    for grain, (kept, widths) in GRAINS.items():
        if width in widths and needed <= set(kept):
            return grain
    return None


def _group_rows(rows: Sequence[Mapping[str, Any]], group: Sequence[str],
                filters: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        if any((row[d] or None) not in values for d, values in filters.items()):
            continue
        key = (row["bucket_start"], *((row[d] if d == "batch" else row[d] or None) for d in group))
        found = sums.setdefault(key, [0] * len(MEASURES))
        for i, name in enumerate(MEASURES):
            found[i] += row[name]
    return [dict(zip(("bucket_start", *group), key, strict=True)) | dict(zip(MEASURES, values, strict=True))
            for key, values in sums.items()]


async def fetch(repo: ReportsRepository, catalog: Catalog, org_id: str, width: str, start: datetime, end: datetime,
                group: Sequence[str], filters: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Sums per bucket of ``width`` and ``group`` over ``[start, end)`` that match ``filters``."""
    if any(d in UNRECORDED and all(v is not None for v in values) for d, values in filters.items()):
        return []  # Steward records no account, service account or speed: a filter on them matches nothing
    stored_group = [d for d in group if d not in UNRECORDED]
    stored_filters = {d: v for d, v in filters.items() if d not in UNRECORDED}
    grain = choose_grain(width, set(stored_group) | set(stored_filters))
    if grain is not None:
        rows = await repo.rollups(org_id, width, grain, start, end, stored_group, stored_filters)
    else:
        raw = await repo.raw(org_id, start, end, stored_filters)
        summed = RollupAccumulator(catalog, {"raw": (DIMENSIONS, (width,))}).extend(raw).rows()
        rows = _group_rows(summed, stored_group, stored_filters)
    for row in rows:
        for d in group:
            if d in UNRECORDED:
                row[d] = None
    return rows
