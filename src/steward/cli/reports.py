"""``steward usage`` (the per-workspace table, ``report``, ``cost``, ``refusals``, ``rebuild-rollups``) and the
audit table: Rich tables over the records and the reports (names next to ids, cost first, a totals row; laid out
by cli/report_tables.py), or CSV / JSON Lines for the reports (the audit table is also used by the demo and
``steward audit tail``, which lives in ``cli/audit.py``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.catalog import unpriced_lines
from steward.cli.common import console, run_with_control_plane, say
from steward.cli.report_tables import money, report_table
from steward.controlplane.services import ControlPlane
from steward.governance.money import usd as usd_of
from steward.reporting.export import columns_of, to_csv, to_jsonl
from steward.reporting.names import NAME_COLUMNS
from steward.reporting.service import SORTS

usage_app = typer.Typer(help="Usage and cost: the per-workspace summary (no subcommand) and the reports.",
                        invoke_without_command=True)
GroupBy = Annotated[str, typer.Option("--group-by", help="Comma list: workspace, model, key, user (the "
                                                          "end-user metadata.user_id), team, feature, stop_reason, "
                                                          "service_tier, context_window, inference_geo, day.")]
From = Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: 29 days before --to).")]
To = Annotated[str | None, typer.Option("--to", help="Last day, included, YYYY-MM-DD (default: today, UTC).")]
Format = Annotated[str, typer.Option("--format", help="table, csv or jsonl.")]
Since = Annotated[str | None, typer.Option(
    "--since", help="Instead of --from: the last N days with today (7d), N weeks (2w), or a date.")]
Sort = Annotated[str, typer.Option("--sort", help="Order of the rows: cost (largest first, the default), "
                                                  "requests, tokens, or name (A to Z).")]


def usd(picousd: int) -> str:
    """Pico-dollars as a person reads them (``$1,234.56``; ``$0.0042`` under a cent)."""
    return money(usd_of(picousd))


async def usage_table(plane: ControlPlane) -> Table:
    org = await plane.admin.organization.current()
    table = Table("workspace", "API calls", "input", "cache write", "cache read", "output", "cost",
                  title="Usage and cost by workspace (requests that reached the upstream; most expensive first)")
    sums = [0] * 6
    for row in await plane.records.usage_by_workspace(org.id):
        values = (row.requests, row.input_tokens, row.cache_write_tokens, row.cache_read_tokens, row.output_tokens,
                  row.cost_picousd)
        sums = [a + b for a, b in zip(sums, values, strict=True)]
        name = f"{row.workspace_name} ({row.workspace_id})" if row.workspace_name else row.workspace_id
        table.add_row(name, *(f"{v:,}" for v in values[:5]), usd(row.cost_picousd))
    table.add_section()
    table.add_row("total", *(f"{v:,}" for v in sums[:5]), usd(sums[5]), style="bold")
    return table


async def audit_table(plane: ControlPlane, limit: int) -> Table:
    org = await plane.admin.organization.current()
    names = await plane.admin.reports.names(org.id)
    table = Table("time (UTC)", "call", "workspace", "API key", "model", "in", "out", "tools", "stop", "ms",
                  "decision", title=f"Latest {limit} audit events (newest first; never keys or content)")
    for ev in await plane.records.latest_audit(limit):
        endpoint = str((ev.data or {}).get("endpoint", ev.event))
        decision = ev.decision + (f": {ev.reason[:60]}" if ev.reason else "")
        table.add_row(ev.created_at.strftime("%H:%M:%S"), endpoint,
                      names.of("workspace_id", ev.workspace_id) or ev.workspace_id or "-",
                      names.of("api_key_id", ev.api_key_id) or ev.api_key_id or "-", ev.model or "",
                      str(ev.input_tokens or ""), str(ev.output_tokens or ""), ",".join(ev.tools_used or []),
                      ev.stop_reason or "",
                      str(ev.latency_ms if ev.latency_ms is not None else ""), decision)
    return table


@usage_app.callback()
def usage(ctx: typer.Context) -> None:
    """Usage and cost per workspace, from the usage records (without a subcommand); unpriced usage is named."""
    if ctx.invoked_subcommand is not None:
        return

    async def action(plane: ControlPlane) -> None:
        console.print(await usage_table(plane))
        for line in await unpriced_lines(plane, datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)):
            say(line)

    run_with_control_plane(action)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD).", param_hint=option) from None


def _since(value: str | None, end: date | None) -> date | None:
    """``--since 7d`` (the last 7 days, today included), ``2w``, or a date."""
    if value is None:
        return None
    text = value.strip().lower()
    if text[:-1].isdigit() and text[-1:] in ("d", "w") and int(text[:-1]) > 0:
        days = int(text[:-1]) * (7 if text.endswith("w") else 1)
        return (end or datetime.now(UTC).date()) - timedelta(days=days - 1)
    return _date(value, "--since")


def _print(report: Mapping[str, Any], kind: str, fmt: str, title: str) -> None:
    rows, group = report["data"], report["group_by"]
    first = [c for g in group for c in (g, NAME_COLUMNS.get(g)) if c is not None]
    if fmt == "csv":
        sys.stdout.write(to_csv(rows, columns_of(rows, first)))
    elif fmt == "jsonl":
        sys.stdout.buffer.write(to_jsonl(rows))
    else:
        console.print(report_table(kind, rows, group, f"{title}, {report['start_date']} to {report['end_date']} "
                                                      "(UTC)"))


def _options(fmt: str, sort: str | None) -> None:
    if fmt not in ("table", "csv", "jsonl"):
        raise typer.BadParameter("must be table, csv or jsonl.", param_hint="--format")
    if sort is not None and sort not in SORTS:
        raise typer.BadParameter(f"must be one of {', '.join(SORTS)}.", param_hint="--sort")


def _run_report(kind: str, group_by: str, start: str | None, end: str | None, since: str | None, sort: str,
                fmt: str) -> None:
    _options(fmt, sort)
    if since is not None and start is not None:
        raise typer.BadParameter("give --since or --from, not both.", param_hint="--since")
    groups = [g.strip() for g in group_by.split(",") if g.strip()]
    last = _date(end, "--to")
    first = _since(since, last) if since is not None else _date(start, "--from")

    async def action(plane: ControlPlane) -> None:
        who = await plane.system()
        if kind == "usage":
            report = await plane.admin.reports.seed_usage(who, first, last, groups, sort=sort)
            title = f"Usage (cost {money(report['total_cost_usd'])})"
        elif kind == "cost":
            report = await plane.admin.reports.seed_cost(who, first, last, groups, sort=sort)
            title = f"Cost (total {money(report['total_cost_usd'])}), sorted by {sort}"
        else:
            report = await plane.admin.reports.refusals(who, first, last, groups)
            title = f"Refused requests (never forwarded; {report['total_refusals']:,} in all)"
        _print(report, kind, fmt, title)

    run_with_control_plane(action)


@usage_app.command("report")
def usage_report(group_by: GroupBy = "workspace", start: From = None, end: To = None, since: Since = None,
                 sort: Sort = "cost", fmt: Format = "table") -> None:
    """Token usage and cost per group over whole UTC days, from the daily rollups (requests that reached the
    upstream only; see "steward usage refusals" for the rest)."""
    _run_report("usage", group_by, start, end, since, sort, fmt)


@usage_app.command("cost")
def usage_cost(group_by: GroupBy = "workspace", start: From = None, end: To = None, since: Since = None,
               sort: Sort = "cost", fmt: Format = "table") -> None:
    """Exact cost in USD per group, most expensive first, split by cost type (input, output, cache writes and
    reads, web search). Who spent the most this week, on what: --group-by key,model --since 7d."""
    _run_report("cost", group_by, start, end, since, sort, fmt)


@usage_app.command("refusals")
def usage_refusals(group_by: Annotated[str, typer.Option(
        "--group-by", help="Comma list: reason, workspace, key, model, status, day.")] = "reason",
        start: From = None, end: To = None, since: Since = None, fmt: Format = "table") -> None:
    """Requests Steward refused or failed itself (never forwarded, so not in usage), most first: reasons are
    authentication, budget, rate_limit, policy, validation, not_found, client_timeout, unavailable, gateway_error,
    other."""
    _run_report("refusals", group_by, start, end, since, "cost", fmt)


@usage_app.command("rebuild-rollups")
def rebuild_rollups(start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
                    end: Annotated[str | None, typer.Option("--to", help="Last day, included (default: --from).")]
                    = None) -> None:
    """Recompute the rollups of whole UTC days from the raw usage records (the repair path)."""
    first = _date(start, "--from") or date.today()
    last = _date(end, "--to") or first

    async def action(plane: ControlPlane) -> None:
        days, records, rows = await plane.admin.reports.rebuild(await plane.system(), first, last)
        console.print(f"Rebuilt {days} day(s): {records:,} usage records -> {rows:,} rollup rows.")

    run_with_control_plane(action)
