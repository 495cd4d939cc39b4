"""Report services: permission checks and workspace narrowing (``usage.read``), then the report builders.

Callers narrowed to some workspaces (workspace admins and billing members) only ever see rows of those
workspaces; asking for another workspace is a 403. Rebuilding rollups is an organization admin's repair path.
Steward's own reports (``seed_*``, ``refusals``) carry names next to ids and sort by cost (refusals: by count)
unless asked otherwise; the Anthropic-shaped ones keep Anthropic's shape exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from steward.controlplane import rbac
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission
from steward.errors import InvalidRequestError, PermissionDeniedError
from steward.governance.catalog_source import CatalogSource
from steward.reporting.cost import SEED_COST_MEASURES, cost_group, cost_page, usd
from steward.reporting.names import NAME_COLUMNS, Names
from steward.reporting.params import CostQuery, UsageQuery
from steward.reporting.refusals import refusal_group, refusal_rows
from steward.reporting.rollups import RollupAccumulator
from steward.reporting.source import fetch
from steward.reporting.usage import SEED_MEASURES, anthropic_page, seed_group, seed_rows
from steward.storage.repositories.reports import ReportsRepository

__all__ = ["SORTS", "ReportService", "SeedReport", "sort_rows"]

SeedReport = dict[str, Any]
_MAX_SEED_DAYS = 366
# --sort / ?sort= of Steward's own reports: largest first, except ``name`` (group names, then ids, A to Z).
SORTS = ("cost", "requests", "tokens", "name")
_TOKENS = ("input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens", "output_tokens")


def sort_rows(rows: list[dict[str, Any]], group: Sequence[str], sort: str) -> list[dict[str, Any]]:
    """Rows in the asked order; with ``day`` in the group, days stay in date order and the order applies within."""
    if sort not in SORTS:
        raise InvalidRequestError(f"sort: must be one of {', '.join(SORTS)}; got {sort!r}.")

    def label(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row.get(NAME_COLUMNS.get(g, g)) or row.get(g) or "").lower() for g in group if g != "day")

    def measure(row: dict[str, Any]) -> int:
        if sort == "tokens":
            return sum(int(row.get(m) or 0) for m in _TOKENS)
        return int(row.get("requests" if sort == "requests" else "cost_picousd") or 0)

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        day = str(row.get("day") or "")
        return (day, label(row)) if sort == "name" else (day, -measure(row), label(row))
    return sorted(rows, key=key)


def _day(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


class ReportService:
    def __init__(self, repo: ReportsRepository, catalogs: CatalogSource) -> None:
        self._repo = repo
        self._catalogs = catalogs  # the catalog in force prices the cost split and names models in reports

    @staticmethod
    def authorize(principal: Principal) -> None:
        """Refuse (403) a caller who may read usage in no workspace at all; checked before the parameters."""
        if rbac.visible_workspaces(principal, Permission.USAGE_READ) == []:
            rbac.require(principal, Permission.USAGE_READ)

    @staticmethod
    def scope(principal: Principal, requested: Sequence[str]) -> tuple[str, ...] | None:
        """The workspaces a report may cover: None for all; refuses workspaces the caller may not read."""
        visible = rbac.visible_workspaces(principal, Permission.USAGE_READ)
        if visible is None:
            return tuple(requested) or None
        if not visible:
            rbac.require(principal, Permission.USAGE_READ)
        for workspace_id in requested:
            rbac.require(principal, Permission.USAGE_READ, workspace_id)
        return tuple(requested) or tuple(sorted(visible))

    async def messages(self, principal: Principal, query: UsageQuery) -> dict[str, Any]:
        """Anthropic's ``GET /v1/organizations/usage_report/messages``."""
        filters = dict(query.filters)
        workspaces = self.scope(principal, filters.pop("workspace_id", ()))
        if workspaces is not None:
            filters["workspace_id"] = workspaces
        catalog = await self._catalogs.current()
        rows = await fetch(self._repo, catalog, principal.org_id, query.window.width, query.window.start,
                           query.window.end, query.group, filters)
        return anthropic_page(query, rows)

    async def cost(self, principal: Principal, query: CostQuery) -> dict[str, Any]:
        """Anthropic's ``GET /v1/organizations/cost_report``."""
        workspaces = self.scope(principal, query.workspace_ids)
        filters = {"workspace_id": workspaces} if workspaces is not None else {}
        catalog = await self._catalogs.current()
        rows = await fetch(self._repo, catalog, principal.org_id, "1d", query.window.start, query.window.end,
                           cost_group(query), filters)
        return cost_page(query, rows, catalog)

    @staticmethod
    def _range(start: date | None, end: date | None) -> tuple[date, date]:
        """The report's days (end included): default the 30 days to today (UTC); at most a year."""
        end = end or datetime.now(UTC).date()
        start = start or end - timedelta(days=29)
        if end < start:
            raise InvalidRequestError("end_date must not be before start_date.")
        if (end - start).days >= _MAX_SEED_DAYS:
            raise InvalidRequestError(f"a report covers at most {_MAX_SEED_DAYS} days.")
        return start, end

    async def _seed(self, principal: Principal, start: date | None, end: date | None, group_by: Sequence[str],
                    workspace_ids: Sequence[str], measures: Sequence[str]) -> tuple[date, date, list[str],
                                                                                    list[dict[str, Any]]]:
        start, end = self._range(start, end)
        group = seed_group(group_by)
        workspaces = self.scope(principal, workspace_ids)
        filters = {"workspace_id": workspaces} if workspaces is not None else {}
        stored = [d for d in group if d != "day"]
        rows = await fetch(self._repo, await self._catalogs.current(), principal.org_id, "1d", _day(start),
                           _day(end + timedelta(days=1)), stored, filters)
        return start, end, group, seed_rows(rows, group, measures)

    async def names(self, org_id: str) -> Names:
        """The organization's workspace, key and user names, for labelling report rows."""
        return Names.build(*await self._repo.names(org_id))

    async def _labelled(self, principal: Principal, rows: list[dict[str, Any]], group: Sequence[str],
                        sort: str) -> list[dict[str, Any]]:
        (await self.names(principal.org_id)).label(rows)
        return sort_rows(rows, group, sort)

    async def seed_usage(self, principal: Principal, start: date | None, end: date | None,
                         group_by: Sequence[str], workspace_ids: Sequence[str] = (), sort: str = "cost",
                         ) -> SeedReport:
        """The seed's ``GET /v1/admin/usage/messages``: token totals and cost per group (end date included), with
        names next to ids, most expensive first by default (``sort``: one of ``SORTS``)."""
        start, end, group, rows = await self._seed(principal, start, end, group_by, workspace_ids,
                                                   (*SEED_MEASURES, "cost_picousd"))
        rows = await self._labelled(principal, rows, group, sort)
        total = 0
        for row in rows:
            total += row["cost_picousd"]
            row["cost_usd"] = usd(row.pop("cost_picousd"))
        return {"start_date": start.isoformat(), "end_date": end.isoformat(), "group_by": group,
                "total_cost_usd": usd(total), "data": rows}

    async def seed_cost(self, principal: Principal, start: date | None, end: date | None,
                        group_by: Sequence[str], workspace_ids: Sequence[str] = (), sort: str = "cost",
                        ) -> SeedReport:
        """The seed's ``GET /v1/admin/usage/cost``: exact USD per group, split by cost type, with names next to
        ids, most expensive first by default."""
        start, end, group, rows = await self._seed(principal, start, end, group_by, workspace_ids,
                                                   SEED_COST_MEASURES)
        rows = await self._labelled(principal, rows, group, sort)
        total = 0
        for row in rows:
            total += row["cost_picousd"]
            for name in SEED_COST_MEASURES[1:]:
                row[name.replace("_picousd", "_usd")] = usd(row.pop(name))
        return {"start_date": start.isoformat(), "end_date": end.isoformat(), "group_by": group,
                "total_cost_usd": usd(total), "data": rows}

    async def refusals(self, principal: Principal, start: date | None, end: date | None,
                       group_by: Sequence[str], workspace_ids: Sequence[str] = ()) -> SeedReport:
        """``GET /v1/admin/usage/refusals``: requests Steward answered itself (never forwarded, so absent from
        usage), counted per reason, workspace, key, model, status or day, with names; most first."""
        start, end = self._range(start, end)
        group = refusal_group(group_by)
        workspaces = self.scope(principal, workspace_ids)
        events = await self._repo.refusals(principal.org_id, _day(start), _day(end + timedelta(days=1)))
        rows = refusal_rows(events, group, workspaces)
        (await self.names(principal.org_id)).label(rows)
        return {"start_date": start.isoformat(), "end_date": end.isoformat(), "group_by": group,
                "total_refusals": sum(r["refusals"] for r in rows), "data": rows}

    async def rebuild(self, principal: Principal, start: date, end: date) -> tuple[int, int, int]:
        """Recompute the rollups of ``[start, end]`` (whole UTC days) from the raw usage rows, one day per
        transaction. Returns (days, usage records read, rollup rows written)."""
        if principal.role != "admin":
            raise PermissionDeniedError("Only an organization admin may rebuild rollups.")
        if end < start:
            raise InvalidRequestError("--to must not be before --from.")
        days = records = written = 0
        day = start
        while day <= end:
            raw = await self._repo.raw(principal.org_id, _day(day), _day(day + timedelta(days=1)), {})
            rows = RollupAccumulator(await self._catalogs.current()).extend(raw).rows()
            await self._repo.replace(principal.org_id, _day(day), _day(day + timedelta(days=1)), rows)
            days, records, written = days + 1, records + len(raw), written + len(rows)
            day += timedelta(days=1)
        return days, records, written

    async def raw_totals(self, org_id: str, start: datetime, end: datetime) -> tuple[int, int]:
        """Usage records and their cost (pico-USD) over ``[start, end)``, from the raw rows."""
        return await self._repo.raw_cost_total(org_id, start, end)
