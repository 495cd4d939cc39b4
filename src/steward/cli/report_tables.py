"""Rich tables of Steward's own reports for people: names next to ids, money as ``$1,234.56``, a totals row.

Rows come from ``ReportService`` (``seed_usage``, ``seed_cost``, ``refusals``) already named and sorted; this
module only lays them out. CSV and JSON Lines are written from the same rows elsewhere (cli/reports.py), with
plain numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rich.table import Table

__all__ = ["group_header", "money", "report_table"]

# measure -> header, per report kind (the exports carry every column)
MEASURE_COLUMNS = {
    "usage": {"requests": "requests", "input_tokens": "input", "cache_write_5m_tokens": "cache 5m",
              "cache_write_1h_tokens": "cache 1h", "cache_read_tokens": "cache read", "output_tokens": "output",
              "web_search_requests": "searches", "cost_usd": "cost"},
    "cost": {"requests": "requests", "cost_input_usd": "input", "cost_output_usd": "output",
             "cost_cache_write_5m_usd": "cache 5m", "cost_cache_write_1h_usd": "cache 1h",
             "cost_cache_read_usd": "cache read", "cost_web_search_usd": "search", "cost_usd": "cost"},
    "refusals": {"refusals": "refusals"},
}
_GROUP_HEADERS = {"workspace_id": "workspace", "api_key_id": "API key", "user_id": "end user (metadata.user_id)",
                  "model": "model", "reason": "reason", "day": "day", "status": "status"}
_NAMES = {"workspace_id": "workspace_name", "api_key_id": "api_key_name"}
_CENT = Decimal("0.01")


def money(value: str | Decimal) -> str:
    """USD for a person: ``$1,234.56``; an amount under a cent keeps two significant digits (``$0.0042``), so a
    small request's cost does not read as free."""
    amount = Decimal(value)
    if 0 < abs(amount) < _CENT:
        step = Decimal(1).scaleb(amount.adjusted() - 1)
        return f"${amount.quantize(step, rounding=ROUND_HALF_UP):f}"
    return f"${amount.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


def group_header(dimension: str) -> str:
    """A group column's title (``user_id`` says it is the end-user string clients send)."""
    return _GROUP_HEADERS.get(dimension, dimension.replace("_", " "))


def _group_cell(row: Mapping[str, Any], dimension: str) -> str:
    value = row.get(dimension)
    if value is None or value == "":
        return "(no key)" if dimension == "api_key_id" else "(none)"
    name = row.get(_NAMES.get(dimension, ""))
    return f"{name} ({value})" if name else str(value)


def _cell(value: Any, money_column: bool) -> str:
    if value is None:
        return ""
    if money_column:
        return money(str(value))
    return f"{value:,}" if isinstance(value, int) else str(value)


def report_table(kind: str, rows: Sequence[Mapping[str, Any]], group: Sequence[str], title: str) -> Table:
    """The report as a table: group columns (names with ids), measures, and a totals row."""
    table = Table(title=title)
    users = "user_id" in group and any(r.get("user_name") for r in rows)
    for dimension in group:
        table.add_column(group_header(dimension), overflow="fold", no_wrap=dimension in ("model", "day"))
        if dimension == "user_id" and users:
            table.add_column("Steward user", overflow="fold")
    measures = MEASURE_COLUMNS[kind]
    for header in measures.values():
        table.add_column(header, justify="right", no_wrap=True)
    totals: dict[str, Decimal] = {m: Decimal(0) for m in measures}
    for row in rows:
        cells = []
        for dimension in group:
            cells.append(_group_cell(row, dimension))
            if dimension == "user_id" and users:
                cells.append(str(row.get("user_name") or ""))
        for measure in measures:
            totals[measure] += Decimal(str(row.get(measure) or 0))
            cells.append(_cell(row.get(measure), measure.endswith("_usd")))
        table.add_row(*cells)
    table.add_section()
    labels = ["total"] + [""] * (len(group) - 1 + (1 if users else 0)) if group else []
    table.add_row(*labels, *(money(totals[m]) if m.endswith("_usd") else f"{int(totals[m]):,}" for m in measures),
                  style="bold")
    return table
