"""Report tables for people: human column titles, names beside ids, sorting, a totals row and pages.

Works on the rows a report service returns (dicts of group columns and measures); never queries anything
itself. Names come in as dicts built once per page (``Names``), so a table of any length costs no lookups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

ROWS_PER_PAGE = 50

# Column -> title. Group columns first, then measures in the order people read them.
TITLES = {
    "workspace_id": "Workspace", "api_key_id": "API key", "user_id": "End user", "model": "Model",
    "day": "Day", "date": "Day", "stop_reason": "Stop reason", "service_tier": "Service tier",
    "description": "Description", "team": "Team", "feature": "Feature", "context_window": "Context window",
    "inference_geo": "Region", "requests": "Requests", "input_tokens": "Input tokens",
    "cache_write_5m_tokens": "Cache writes (5 min)", "cache_write_1h_tokens": "Cache writes (1 h)",
    "cache_read_tokens": "Cache reads", "output_tokens": "Output tokens", "thinking_tokens": "Thinking tokens",
    "web_search_requests": "Web searches", "web_fetch_requests": "Web fetches",
    "code_execution_requests": "Code runs", "cost_usd": "Cost", "cost_input_usd": "Input cost",
    "cost_output_usd": "Output cost", "cost_cache_write_5m_usd": "Cache write cost (5 min)",
    "cost_cache_write_1h_usd": "Cache write cost (1 h)", "cost_cache_read_usd": "Cache read cost",
    "cost_web_search_usd": "Web search cost",
}
NAMED = {"workspace_id": "workspace_name", "api_key_id": "api_key_name"}


def title(column: str) -> str:
    return TITLES.get(column, column.replace("_", " ").capitalize())


def is_money(column: str) -> bool:
    return column.endswith("_usd")


@dataclass(slots=True, frozen=True)
class Names:
    """Display names by id, looked up once for a page."""

    workspaces: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)

    def of(self, column: str, value: Any) -> str | None:
        if value is None:
            return None
        found = {"workspace_id": self.workspaces, "api_key_id": self.keys}.get(column, {})
        return found.get(str(value))


def with_names(rows: Sequence[dict[str, Any]], columns: Sequence[str], names: Names) -> tuple[list[dict[str, Any]],
                                                                                             list[str]]:
    """Rows and columns with a ``*_name`` column after each id column (for the CSV); a name the report already
    carries is kept."""
    out_columns: list[str] = []
    for column in columns:
        out_columns.append(column)
        if column in NAMED and NAMED[column] not in columns:
            out_columns.append(NAMED[column])
    out = []
    for row in rows:
        extra = {NAMED[c]: names.of(c, row.get(c)) for c in columns if c in NAMED}
        out.append({**extra, **row})
    return out, out_columns


def _number(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


@dataclass(slots=True)
class Table:
    """One page of a sorted report table with its totals and the links to sort and page it."""

    groups: list[str]
    measures: list[str]
    rows: list[dict[str, Any]]
    totals: dict[str, Decimal]
    sort: str
    descending: bool
    page: int
    pages: int
    count: int
    links: dict[str, str]


def _key(column: str, measures: Sequence[str], names: Names) -> Any:
    if column in measures:
        return lambda r: _number(r.get(column))
    return lambda r: (names.of(column, r.get(column)) or str(r.get(column) or "")).lower()


def build(request: Request, rows: Sequence[dict[str, Any]], groups: Sequence[str], names: Names,
          default_sort: str = "cost_usd", size: int = ROWS_PER_PAGE) -> Table:
    """Sort (``?sort=column&dir=asc|desc``, cost first by default), page (``?page=``) and total ``rows``.

    Measures that are zero in every row are left out of the table (the CSV keeps every column)."""
    present = [c for c in groups if any(c in r for r in rows)]
    every = [c for r in rows for c in r if c not in present and c not in NAMED.values()]
    measures = [c for c in dict.fromkeys(every) if any(_number(r.get(c)) for r in rows)]
    if "cost_usd" in measures:  # the total cost reads best as the last column
        measures = [c for c in measures if c != "cost_usd"] + ["cost_usd"]
    q = request.query_params
    sort = q.get("sort") or default_sort
    if sort not in (*present, *measures):
        sort = default_sort if default_sort in measures else (measures[0] if measures else "")
    descending = q.get("dir", "desc" if sort in measures else "asc") != "asc"
    ordered = sorted(rows, key=_key(sort, measures, names), reverse=descending) if sort else list(rows)
    pages = max((len(ordered) + size - 1) // size, 1)
    page = min(max(int(q.get("page", "1")) if q.get("page", "1").isdigit() else 1, 1), pages)
    totals = {m: sum((_number(r.get(m)) for r in rows), Decimal(0)) for m in measures}

    def url(**changes: str) -> str:
        params = [(k, v) for k, v in q.multi_items() if k not in (*changes, "format") and v]
        return f"{request.url.path}?{urlencode([*params, *changes.items()])}"

    def flip(column: str) -> str:
        if column == sort:
            return "asc" if descending else "desc"
        return "desc" if column in measures else "asc"

    links = {c: url(sort=c, dir=flip(c), page="1") for c in (*present, *measures)}
    if page > 1:
        links["prev"] = url(page=str(page - 1))
    if page < pages:
        links["next"] = url(page=str(page + 1))
    return Table(present, measures, ordered[(page - 1) * size:page * size], totals, sort, descending, page, pages,
                 len(ordered), links)
