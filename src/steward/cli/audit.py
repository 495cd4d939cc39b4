"""``steward audit verify|export|tail`` and ``steward access-review``: the audit trail from the command line.

These run as the local operator through the same services as the Admin API. ``verify`` exits 1 when any chain
is broken (each problem printed with its position); ``tail --follow --format jsonl`` is a SIEM pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from steward.cli.common import console, err_console, run_as_operator, run_with_control_plane, workspace_id
from steward.cli.reports import audit_table
from steward.compliance.access_review import review_csv
from steward.compliance.chain import Verification
from steward.compliance.siem import jsonl
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane

audit_app = typer.Typer(help="Read, verify and export the tamper-evident audit trail.", no_args_is_help=True)
_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]
From = Annotated[datetime | None, typer.Option("--from", formats=_FORMATS, help="First UTC date or time.")]
To = Annotated[datetime | None, typer.Option("--to", formats=_FORMATS, help="UTC date or time to stop before.")]


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


@audit_app.command("verify")
def verify(as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
           since: Annotated[datetime | None, typer.Option(
               "--since", formats=_FORMATS,
               help="Check usage records from this UTC date or time on for their audit events (default: all).")
           ] = None) -> None:
    """Recompute every organization's chain, check its signed checkpoints and their freshness, and that every
    usage record has its audit event (exit 1 on any problem)."""
    async def action(plane: ControlPlane) -> tuple[list[Verification], str]:
        chains = plane.admin.audit_trail.chains
        # Every organization, chain or not: one whose whole trail was deleted still has its usage records.
        orgs = sorted(set(await chains.repo.chains()) | set(await chains.repo.orgs_with_unsealed(None))
                      | set(await chains.repo.org_ids()))
        return [await chains.verify(org, since=_utc(since)) for org in orgs], chains.key.key_id

    results, key_id = run_with_control_plane(action)
    broken = [r for r in results if r.problems]
    if as_json:
        typer.echo(json.dumps({"valid": not broken, "signing_key_id": key_id,
                               "chains": [r.as_dict() for r in results]}, indent=2))
    else:
        table = Table("organization", "positions", "last checkpoint", "unsealed", "result",
                      title=f"Audit chains (checkpoints signed by key {key_id})")
        for r in results:
            table.add_row(r.org_id or "(none)", str(r.head_seq), str(r.checkpoint_seq), str(r.unsealed),
                          "[green]intact[/green]" if not r.problems else f"[red]{len(r.problems)} problem(s)[/red]")
        console.print(table)
        for r in broken:
            for problem in r.problems:
                console.print(f"[red]TAMPERED[/red] {escape(r.org_id or '(none)')}: {escape(str(problem))}",
                              soft_wrap=True)
    if broken:
        raise typer.Exit(1)


@audit_app.command("export")
def export(output: Annotated[Path, typer.Option("-o", "--output", help="Bundle directory (created).")],
           start: From = None, end: To = None) -> None:
    """Write a bundle (events, chain, signed checkpoints, public key, verify_offline.py, README)."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, object]:
        return await plane.admin.audit_trail.chains.export(me.org_id, output, _utc(start), _utc(end))

    try:
        manifest = run_as_operator(action)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    console.print(f"Wrote {manifest['events']} events (positions {manifest['first_seq']}..{manifest['last_seq']}) "
                  f"to {output}; check it with: python {output / 'verify_offline.py'} {output}", soft_wrap=True)


@audit_app.command("tail")
def tail(limit: Annotated[int, typer.Option("-n", help="How many events.")] = 20,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events (jsonl).")] = False,
         output_format: Annotated[str, typer.Option("--format", help="table or jsonl (sealed events in chain "
                                                                     "order, with a cursor).")] = "table",
         after: Annotated[str | None, typer.Option(help="jsonl: start after this cursor.")] = None,
         interval: Annotated[float, typer.Option(help="Seconds between polls with --follow.")] = 1.0) -> None:
    """The latest audit events; ``--format jsonl --follow`` streams them from a cursor, gap-free."""
    if output_format not in ("table", "jsonl"):
        raise typer.BadParameter("--format: table or jsonl")
    if output_format == "table" and not follow:
        async def show(plane: ControlPlane) -> None:
            console.print(await audit_table(plane, limit))

        run_with_control_plane(show)
        return

    async def stream(plane: ControlPlane, me: Principal) -> None:
        trail = plane.admin.audit_trail
        await trail.chains.seal_once()
        cursor = after
        if cursor is None:
            head = await trail.chains.repo.head(me.org_id)
            cursor = str(max(0, (head.seq if head else 0) - limit))
        while True:
            lines, cursor = await trail.events(me, after=cursor, limit=1000)
            sys.stdout.buffer.write(jsonl(lines))
            sys.stdout.flush()
            if not follow:
                return
            if len(lines) < 1000:
                await asyncio.sleep(interval)
                await trail.chains.seal_once()

    with contextlib.suppress(KeyboardInterrupt):  # ^C ends a --follow
        run_as_operator(stream)


def access_review(workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace name or id.")],
                  start: From = None, end: To = None,
                  unused_days: Annotated[int, typer.Option(help="Flag keys unused this many days.")] = 90,
                  output_format: Annotated[str, typer.Option("--format", help="json or csv.")] = "json") -> None:
    """Access review of one workspace: roles, keys by age and last use, admin keys, invitations, role changes."""
    if output_format not in ("json", "csv"):
        raise typer.BadParameter("--format: json or csv")

    async def action(plane: ControlPlane, me: Principal) -> dict[str, object]:
        ws = await workspace_id(plane, workspace)
        return await plane.admin.access_review.review(me, ws, start=_utc(start), end=_utc(end),
                                                      unused_days=unused_days)

    review = run_as_operator(action)
    typer.echo(review_csv(review) if output_format == "csv" else json.dumps(review, indent=2), nl=False)
    if output_format == "json":
        typer.echo()
