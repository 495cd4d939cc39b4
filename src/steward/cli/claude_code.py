"""``steward usage claude-code``: Claude Code analytics per user or project, as a table, CSV or JSON Lines.

Calls the same report service as ``GET /v1/admin/usage/claude-code`` (as the local operator); never the HTTP API.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from steward.cli.common import console, run_with_control_plane
from steward.controlplane.services import ControlPlane
from steward.reporting.claude_code import columns
from steward.reporting.export import to_csv, to_jsonl

COLUMNS = ("num_sessions", "lines_added", "lines_removed", "commits", "pull_requests", "tool_accepted",
           "tool_rejected", "requests", "input_tokens", "output_tokens", "cost_usd")


def _day(value: str | None, option: str, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD).", param_hint=option) from None


def _table(rows: list[dict[str, Any]], group_by: str, first: date, last: date) -> Table:
    table = Table(group_by, *COLUMNS, title=f"Claude Code by {group_by}, {first} to {last} (UTC)")
    for row in rows:
        table.add_row(str(row[group_by]), *(f"{row[c]:,}" if isinstance(row[c], int) else str(row[c])
                                            for c in COLUMNS))
    return table


def claude_code(
        group_by: Annotated[str, typer.Option("--group-by", help="user or project.")] = "user",
        start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: 6 days before "
                                                                 "--to).")] = None,
        end: Annotated[str | None, typer.Option("--to", help="Last day, included (default: today, UTC).")] = None,
        fmt: Annotated[str, typer.Option("--format", help="table, csv, jsonl or json.")] = "table") -> None:
    """Claude Code sessions, lines, commits, PRs, tool decisions, tokens and cost (OTLP telemetry + gateway)."""
    if group_by not in ("user", "project"):
        raise typer.BadParameter("must be user or project.", param_hint="--group-by")
    if fmt not in ("table", "csv", "jsonl", "json"):
        raise typer.BadParameter("must be table, csv, jsonl or json.", param_hint="--format")
    last = _day(end, "--to", datetime.now(UTC).date())
    first = _day(start, "--from", last - timedelta(days=6))
    if first > last:
        raise typer.BadParameter("must not be after --to.", param_hint="--from")

    async def action(plane: ControlPlane) -> list[dict[str, Any]]:
        return await plane.admin.claude_code.grouped(await plane.system(), first, last, group_by)

    rows = run_with_control_plane(action)
    if fmt == "table":
        console.print(_table(rows, group_by, first, last))
    elif fmt == "json":
        sys.stdout.write(orjson.dumps({"data": rows, "start_date": first.isoformat(), "end_date": last.isoformat(),
                                       "group_by": group_by}, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "jsonl":
        sys.stdout.buffer.write(to_jsonl(rows))
    else:
        sys.stdout.write(to_csv(rows, columns(group_by)))
