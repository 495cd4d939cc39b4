"""``steward usage`` (the per-workspace table, ``report``, ``cost``, ``rebuild-rollups``) and the audit table:
Rich tables over the records and the rollup reports, or CSV / JSON Lines for the reports (the audit table is
also used by the demo and ``steward audit tail``, which lives in ``cli/audit.py``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.catalog import unpriced_lines
from steward.cli.common import console, run_with_control_plane, say
from steward.controlplane.services import ControlPlane
from steward.governance.money import usd as usd_of
from steward.reporting.export import columns_of, to_csv, to_jsonl

usage_app = typer.Typer(help="Usage and cost: the per-workspace summary (no subcommand) and the reports.",
                        invoke_without_command=True)
GroupBy = Annotated[str, typer.Option("--group-by", help="Comma list: workspace, model, key, user, team, feature, "
                                                          "stop_reason, service_tier, context_window, "
                                                          "inference_geo, day.")]
From = Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: 29 days before --to).")]
To = Annotated[str | None, typer.Option("--to", help="Last day, included, YYYY-MM-DD (default: today, UTC).")]
Format = Annotated[str, typer.Option("--format", help="table, csv or jsonl.")]


def usd(picousd: int) -> str:
    """Pico-dollars as a dollar amount with enough places to be exact for small requests."""
    return f"${usd_of(picousd).quantize(Decimal('0.000001'))}"


async def usage_table(plane: ControlPlane) -> Table:
    org = await plane.admin.organization.current()
    table = Table("workspace", "API calls", "input", "cache write", "cache read", "output", "cost (USD)",
                  title="Usage and cost by workspace")
    total = 0
    for row in await plane.records.usage_by_workspace(org.id):
        total += row.cost_picousd
        table.add_row(row.workspace_name or row.workspace_id, str(row.requests), f"{row.input_tokens:,}",
                      f"{row.cache_write_tokens:,}", f"{row.cache_read_tokens:,}", f"{row.output_tokens:,}",
                      usd(row.cost_picousd))
    table.add_section()
    table.add_row("total", "", "", "", "", "", usd(total))
    return table


async def audit_table(plane: ControlPlane, limit: int) -> Table:
    org = await plane.admin.organization.current()
    names = {w.id: w.name for w in await plane.repo.list_workspaces(org.id, include_archived=True)}
    table = Table("time (UTC)", "call", "workspace", "api_key_id", "model", "in", "out", "tools", "stop", "ms",
                  "decision", title=f"Latest {limit} audit events (newest first; never keys or content)")
    for ev in await plane.records.latest_audit(limit):
        endpoint = str((ev.data or {}).get("endpoint", ev.event))
        decision = ev.decision + (f": {ev.reason[:60]}" if ev.reason else "")
        table.add_row(ev.created_at.strftime("%H:%M:%S"), endpoint, names.get(ev.workspace_id or "", "-"),
                      ev.api_key_id or "-", ev.model or "", str(ev.input_tokens or ""),
                      str(ev.output_tokens or ""), ",".join(ev.tools_used or []), ev.stop_reason or "",
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


# Table columns (the CSV and JSON Lines exports carry every column): measure -> header.
_TABLE_COLUMNS = {
    "usage": {"requests": "requests", "input_tokens": "input", "cache_write_5m_tokens": "cache 5m",
              "cache_write_1h_tokens": "cache 1h", "cache_read_tokens": "cache read", "output_tokens": "output",
              "web_search_requests": "searches", "cost_usd": "USD"},
    "cost": {"requests": "requests", "cost_input_usd": "input", "cost_output_usd": "output",
             "cost_cache_write_5m_usd": "cache 5m", "cost_cache_write_1h_usd": "cache 1h",
             "cost_cache_read_usd": "cache read", "cost_web_search_usd": "search", "cost_usd": "USD"},
}


def _print(report: Mapping[str, Any], kind: str, fmt: str, title: str, first: Sequence[str]) -> None:
    rows = report["data"]
    if fmt == "csv":
        sys.stdout.write(to_csv(rows, columns_of(rows, first)))
    elif fmt == "jsonl":
        sys.stdout.buffer.write(to_jsonl(rows))
    else:
        columns = {name: name for name in first} | _TABLE_COLUMNS[kind]
        table = Table(title=f"{title}, {report['start_date']} to {report['end_date']} (UTC)")
        for name, header in columns.items():
            table.add_column(header, overflow="fold", justify="left" if name in first else "right")
        for row in rows:
            table.add_row(*("" if row.get(n) is None else f"{row[n]:,}" if isinstance(row[n], int) else
                            str(row[n]) for n in columns))
        console.print(table)


def _run_report(kind: str, group_by: str, start: str | None, end: str | None, fmt: str) -> None:
    if fmt not in ("table", "csv", "jsonl"):
        raise typer.BadParameter("must be table, csv or jsonl.", param_hint="--format")
    groups = [g.strip() for g in group_by.split(",") if g.strip()]
    first, last = _date(start, "--from"), _date(end, "--to")

    async def action(plane: ControlPlane) -> None:
        who = await plane.system()
        if kind == "usage":
            report = await plane.admin.reports.seed_usage(who, first, last, groups)
            title = "Usage"
        else:
            report = await plane.admin.reports.seed_cost(who, first, last, groups)
            title = f"Cost (total ${report['total_cost_usd']})"
        _print(report, kind, fmt, title, report["group_by"])

    run_with_control_plane(action)


@usage_app.command("report")
def usage_report(group_by: GroupBy = "workspace", start: From = None, end: To = None,
                 fmt: Format = "table") -> None:
    """Token usage and cost per group over whole UTC days, from the daily rollups."""
    _run_report("usage", group_by, start, end, fmt)


@usage_app.command("cost")
def usage_cost(group_by: GroupBy = "workspace", start: From = None, end: To = None, fmt: Format = "table") -> None:
    """Exact cost in USD per group, split by cost type (input, output, cache writes and reads, web search)."""
    _run_report("cost", group_by, start, end, fmt)


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
