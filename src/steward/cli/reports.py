"""``steward usage`` and ``steward audit tail``: Rich tables over the records (also used by the demo)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table

from steward.cli.common import console, run_with_control_plane
from steward.controlplane.services import ControlPlane

audit_app = typer.Typer(help="Read the audit trail.", no_args_is_help=True)
PICO = Decimal(10) ** 12


def usd(picousd: int) -> str:
    """Pico-dollars as a dollar amount with enough places to be exact for small requests."""
    return f"${(Decimal(picousd) / PICO).quantize(Decimal('0.000001'))}"


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


def usage() -> None:
    """Usage and cost per workspace, from the usage records."""
    async def action(plane: ControlPlane) -> None:
        console.print(await usage_table(plane))

    run_with_control_plane(action)


@audit_app.command("tail")
def audit_tail(limit: Annotated[int, typer.Option("-n", help="How many events.")] = 20) -> None:
    """The latest audit events, newest first."""
    async def action(plane: ControlPlane) -> None:
        console.print(await audit_table(plane, limit))

    run_with_control_plane(action)
