"""``steward journal quarantine list|reship``: the journal lines the shipper could not store, and retrying them.

``list`` shows where each line was, why it failed and its size, never its content (it may hold request
metadata; ``--json`` with ``--with-lines`` prints the raw lines for an operator who needs them). ``reship`` tries
lines again after their cause is fixed (a widened column, a restored table): the ones that store leave the
quarantine, the others stay with their new error, and a database outage changes nothing (exit 1).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from steward.cli.common import console, err_console
from steward.settings import Settings
from steward.workers.quarantine import Quarantine

journal_app = typer.Typer(help="The local journal of usage records and audit events.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Journal lines that could not be stored, kept for inspection and re-shipping.",
                             no_args_is_help=True)
journal_app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print the entries as JSON lines.")] = False,
          with_lines: Annotated[bool, typer.Option("--with-lines", help="With --json: include each raw line.")]
          = False) -> None:
    """List quarantined lines: id (slot:segment:offset), kind, error, size, when."""
    entries = Quarantine(Settings().resolved_journal_dir()).entries()
    if as_json:
        for e in entries:
            doc = {"id": e.id, "slot": e.slot, "segment": e.segment, "offset": e.offset, "kind": e.kind,
                   "error": e.error, "bytes": len(e.line), "quarantined_at": e.quarantined_at}
            if with_lines:
                doc["line"] = e.line.decode(errors="replace")
            typer.echo(json.dumps(doc))
        return
    if not entries:
        console.print("The quarantine is empty.")
        return
    table = Table("id", "kind", "error", "bytes", "quarantined at")
    for e in entries:
        table.add_row(e.id, e.kind, escape(e.error), str(len(e.line)), e.quarantined_at)
    console.print(table)


@quarantine_app.command("reship")
def reship(ids: Annotated[list[str] | None, typer.Option("--id", help="Only this entry (repeatable).")] = None
           ) -> None:
    """Ship quarantined lines again (all, or the given ids); lines that still fail stay quarantined."""
    from steward.storage.engine import Database
    from steward.storage.health import ping
    from steward.storage.repositories.records import RecordsRepository
    from steward.workers.shipper import Outage, Shipper

    settings = Settings()
    directory = settings.resolved_journal_dir()
    known = {e.id for e in Quarantine(directory).entries()}
    unknown = sorted(set(ids or ()) - known)
    if unknown:
        err_console.print(f"[red]error:[/red] no quarantined line with id {', '.join(unknown)}")
        raise typer.Exit(1)

    async def main() -> tuple[int, dict[str, str]]:
        database = Database(settings.resolved_database_url())
        try:
            shipper = Shipper(directory, RecordsRepository(database.sessions, database.dialect),
                              interval=settings.journal_ship_interval, batch_size=settings.journal_batch_size,
                              ping=lambda: ping(database.engine, 2.0))
            shipped, failing = await shipper.reship(set(ids) if ids else None)
            return len(shipped), failing
        finally:
            await database.close()

    try:
        shipped, failing = asyncio.run(main())
    except Outage as exc:
        err_console.print(f"[red]error:[/red] the database is unavailable ({escape(str(exc))}); nothing changed")
        raise typer.Exit(1) from None
    console.print(f"Re-shipped {shipped} line(s); {len(failing)} still failing.")
    for entry_id, error in sorted(failing.items()):
        console.print(f"  {entry_id}: {escape(error)}", soft_wrap=True)
    if failing:
        raise typer.Exit(1)
