"""Usage and cost: the seed's report views (``ReportService.seed_usage`` / ``seed_cost``) with group-by and a
date range, shown as a table and downloadable as CSV (the same query with ``format=csv``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from steward.console.auth import Session
from steward.console.web import query, render, state
from steward.controlplane.paging import Paging
from steward.errors import InvalidRequestError
from steward.reporting.export import MEDIA_TYPES, columns_of, to_csv

GROUPS = ("workspace", "model", "api_key", "user", "day", "stop_reason", "service_tier")


def _date(request: Request, name: str) -> date | None:
    raw = query(request, name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(f"{name}: a date like 2026-11-01") from None


async def usage_view(request: Request, session: Session) -> Response:
    services, who = state(request).services, session.principal
    services.reports.authorize(who)  # a role without usage.read anywhere gets the refusal page
    kind = "cost" if query(request, "report") == "cost" else "usage"
    group_by = [g for g in request.query_params.getlist("group_by") if g] or ["workspace", "model"]
    workspace = query(request, "workspace_id")
    start, end = _date(request, "start"), _date(request, "end")
    build = services.reports.seed_cost if kind == "cost" else services.reports.seed_usage
    report: dict[str, Any] = await build(who, start, end, group_by, [workspace] if workspace else [])
    rows = report["data"]
    columns = columns_of(rows, [c for c in report["group_by"] if rows and c in rows[0]])
    if query(request, "format") == "csv":
        name = f"steward-{kind}-{report['start_date']}-{report['end_date']}.csv"
        return Response(to_csv(rows, columns), media_type=MEDIA_TYPES["csv"],
                        headers={"content-disposition": f'attachment; filename="{name}"'})
    workspaces = (await services.workspaces.list(who, Paging.of(1000)))["data"]
    csv_url = f"{request.url.path}?{request.url.query + '&' if request.url.query else ''}format=csv"
    return render(request, session, "usage.html", report=report, rows=rows, columns=columns, kind=kind,
                  groups=GROUPS, group_by=group_by, workspaces=workspaces, workspace_id=workspace or "",
                  csv_url=csv_url)
