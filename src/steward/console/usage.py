"""Usage and cost: the seed's report views (``ReportService.seed_usage`` / ``seed_cost``) with group-by and a
date range, shown as a table for people (names, titles, dollars, totals, sorting, pages; ``tables.py``) and
downloadable as CSV (the same query with ``format=csv``; ids with their names beside them)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from steward.console.auth import Session
from steward.console.tables import NAMED, Names, build, is_money, title, with_names
from steward.console.web import query, render, state
from steward.controlplane.paging import Paging
from steward.errors import InvalidRequestError
from steward.reporting.export import MEDIA_TYPES, columns_of, to_csv

GROUPS = ("workspace", "model", "api_key", "user", "day", "stop_reason", "service_tier")
GROUP_TITLES = {"workspace": "Workspace", "model": "Model", "api_key": "API key", "user": "End user",
                "day": "Day", "stop_reason": "Stop reason", "service_tier": "Service tier"}
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")


def presets(today: date) -> list[tuple[str, str]]:
    """One-click questions: (label, query string) - who spent the most, on what, over common ranges."""
    week, month = (today - timedelta(days=6)).isoformat(), today.replace(day=1).isoformat()
    return [(label, urlencode([("start", start), ("end", today.isoformat()), *[("group_by", g) for g in groups]]))
            for label, start, groups in (("Who spent most in the last 7 days", week, ("api_key", "model")),
                                         ("Workspaces this month", month, ("workspace", "model")),
                                         ("End users this month", month, ("user",)),
                                         ("Per day this month", month, ("day",)))]


def _date(request: Request, name: str) -> date | None:
    raw = query(request, name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(f"{name}: a date like 2026-11-01") from None


def served(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that used something: refusals are no usage (the report service leaves them out), but a request the
    upstream itself refused (an unknown model forwarded and answered 404) is a row without a token or a cent,
    which people should not read as use of a model."""
    def used(row: dict[str, Any]) -> bool:
        measures = [row.get(m) for m in (*TOKENS, "cost_usd") if m in row]
        return not measures or any(str(v) not in ("0", "0.00", "0.0", "None", "") for v in measures)
    return [r for r in rows if used(r)]


async def names_for(request: Request, session: Session, rows: list[dict[str, Any]]) -> Names:
    """Workspace and key names for a page: one query each, whatever the number of rows."""
    repo = state(request).repo
    key_ids = sorted({str(r["api_key_id"]) for r in rows if r.get("api_key_id")})
    return Names(await repo.workspace_names(session.principal.org_id),
                 await repo.key_names(key_ids) if key_ids else {})


async def usage_view(request: Request, session: Session) -> Response:
    services, who = state(request).services, session.principal
    services.reports.authorize(who)  # a role without usage.read anywhere gets the refusal page
    kind = "cost" if query(request, "report") == "cost" else "usage"
    group_by = [g for g in request.query_params.getlist("group_by") if g] or ["workspace", "model"]
    workspace = query(request, "workspace_id")
    start, end = _date(request, "start"), _date(request, "end")
    build_report = services.reports.seed_cost if kind == "cost" else services.reports.seed_usage
    report: dict[str, Any] = await build_report(who, start, end, group_by, [workspace] if workspace else [])
    rows = served(report["data"]) if kind == "usage" else report["data"]
    names = await names_for(request, session, rows)
    if query(request, "format") == "csv":
        # the report's own name columns go after their ids (with_names), not after the measures
        columns = [c for c in columns_of(rows, [c for c in report["group_by"] if rows and c in rows[0]])
                   if c not in NAMED.values()]
        named, named_columns = with_names(rows, columns, names)
        filename = f"steward-{kind}-{report['start_date']}-{report['end_date']}.csv"
        return Response(to_csv(named, named_columns), media_type=MEDIA_TYPES["csv"],
                        headers={"content-disposition": f'attachment; filename="{filename}"'})
    workspaces = (await services.workspaces.list(who, Paging.of(1000)))["data"]
    table = build(request, rows, list(report["group_by"]), names)
    csv_url = f"{request.url.path}?{request.url.query + '&' if request.url.query else ''}format=csv"
    return render(request, session, "usage.html", report=report, table=table, names=names, title=title,
                  is_money=is_money, kind=kind, groups=GROUPS, group_titles=GROUP_TITLES, group_by=group_by,
                  workspaces=workspaces, workspace_id=workspace or "", csv_url=csv_url,
                  presets=presets(datetime.now(UTC).date()))
