"""The dashboard: spend against caps, spend over time by workspace and by model, requests and tokens, top keys
and end users, and recent refusals by reason.

Figures come from the report service (daily rollups, narrowed to the workspaces where the principal holds
``usage.read``); money is shown only to such principals. Rows of refused requests (no token, no cost) are left
out of the figures and legends. Refusals are the refusals report's counts per reason over the last
7 days (``refusals.py`` names them), shown to org-wide usage readers (no request content).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from steward.console.auth import Session
from steward.console.charts import cap_bar, stacked_bars
from steward.console.refusals import refusal_counts
from steward.console.usage import served
from steward.console.web import render, state
from steward.controlplane.rbac import Permission, allowed, visible_workspaces

TOP = 5


def _days(since: date, today: date) -> list[str]:
    return [(since + timedelta(days=i)).isoformat() for i in range((today - since).days + 1)]


def _series(rows: list[dict[str, Any]], column: str, label: dict[str, str]) -> dict[str, dict[str, float]]:
    series: dict[str, dict[str, float]] = {}
    for row in rows:
        name = str(row.get(column) or "unknown")
        day = series.setdefault(label.get(name, name), {})
        day[row["day"]] = day.get(row["day"], 0.0) + float(Decimal(row["cost_usd"]))
    return series


def _top(rows: list[dict[str, Any]], column: str) -> list[tuple[str, int, Decimal]]:
    ranked = sorted(((str(r.get(column)), int(r["requests"]), Decimal(r["cost_usd"])) for r in rows
                     if r.get(column)), key=lambda t: (-t[2], -t[1]))
    return ranked[:TOP]


async def _caps(request: Request, session: Session) -> list[dict[str, Any]]:
    who = session.principal
    effective = await state(request).services.spend_limits.effective(who)
    caps = []
    for row in effective["data"]:
        ws = row["scope"].get("workspace_id")
        if not (allowed(who, Permission.USAGE_READ) or (ws and allowed(who, Permission.USAGE_READ, ws))):
            continue
        spent, cap = Decimal(row["period_to_date_spend"]), Decimal(row["amount"])
        caps.append({**row, "spent_cents": spent, "bar": cap_bar(float(spent), float(cap))})
    return caps


async def dashboard(request: Request, session: Session) -> Response:
    console = state(request)
    who = session.principal
    visible = visible_workspaces(who, Permission.USAGE_READ)
    if visible == []:
        return render(request, session, "dashboard.html", money=False)
    reports = console.services.reports
    today = datetime.now(UTC).date()
    since = today.replace(day=1)
    by_ws = served((await reports.seed_usage(who, since, today, ["day", "workspace"]))["data"])
    by_model = served((await reports.seed_usage(who, since, today, ["day", "model"]))["data"])
    keys = served((await reports.seed_usage(who, since, today, ["api_key"]))["data"])
    users = served((await reports.seed_usage(who, since, today, ["user"]))["data"])
    names = await console.repo.workspace_names(who.org_id)
    top_keys = _top(keys, "api_key_id")
    caps = await _caps(request, session)
    scoped_keys = [str(c["scope"]["api_key_id"]) for c in caps if c["scope"].get("api_key_id")]
    key_names = await console.repo.key_names([k for k, _, _ in top_keys] + scoped_keys)
    totals: dict[str, int | Decimal] = {m: sum(int(r[m]) for r in by_ws)
                                        for m in ("requests", "input_tokens", "output_tokens")}
    totals["cost_usd"] = sum((Decimal(r["cost_usd"]) for r in by_ws), Decimal(0))
    refusals: list[tuple[str, int]] = []
    if visible is None:
        week = await reports.refusals(who, today - timedelta(days=6), today, ["reason"])
        refusals = refusal_counts(week["data"])
    days = _days(since, today)
    return render(request, session, "dashboard.html", money=True, month=since.strftime("%B %Y"),
                  caps=caps, totals=totals,
                  by_workspace=stacked_bars(days, _series(by_ws, "workspace_id", names), what="workspace"),
                  by_model=stacked_bars(days, _series(by_model, "model", {}), what="model"),
                  top_keys=[(key_names.get(k), k, n, c) for k, n, c in top_keys],
                  top_users=_top(users, "user_id"), refusals=refusals, org_wide=visible is None,
                  names={**names, **key_names, **await console.repo.people_names(who.org_id, [
                      str(c["scope"]["user_id"]) for c in caps if c["scope"].get("type") == "person"])})
