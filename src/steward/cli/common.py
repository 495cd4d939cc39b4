"""What every CLI command shares: settings, running a coroutine against the control plane, errors, output.

Output is a Rich table by default; ``--json`` prints the service's own dict (the Admin API's shape) to
stdout and nothing else, so scripts can pipe it. Secrets are printed on a line of their own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane
from steward.errors import StewardError
from steward.settings import Settings
from steward.storage.migrate import upgrade

T = TypeVar("T")
# Reports are wide; when output is not a terminal (CI logs, pipes) Rich would assume 80 columns.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON (the Admin API's shape).")]
Limit = Annotated[int, typer.Option(min=1, max=1000, help="Page size (1-1000).")]
AfterId = Annotated[str | None, typer.Option(help="Start after this id (the previous page's last_id).")]
# A table column: a field of the object, or a function of the whole object.
Cell = str | Callable[[Mapping[str, Any]], Any]


def run_with_control_plane(action: Callable[[ControlPlane], Awaitable[T]], *, migrate: bool = True) -> T:
    """Migrate (idempotent), open the control plane, run ``action``, close; StewardErrors exit 1."""
    settings = Settings()
    if migrate:
        upgrade(settings.resolved_database_url())

    async def _main() -> T:
        plane = ControlPlane(settings)
        try:
            return await action(plane)
        finally:
            await plane.close()

    try:
        return asyncio.run(_main())
    except StewardError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None


def run_as_operator(action: Callable[[ControlPlane, Principal], Awaitable[T]]) -> T:
    """Run ``action`` as the local operator (the ``system`` principal, an organization admin)."""
    async def with_principal(plane: ControlPlane) -> T:
        return await action(plane, await plane.system())

    return run_with_control_plane(with_principal)


async def workspace_id(plane: ControlPlane, name_or_id: str) -> str:
    """The id of a workspace given by name or id."""
    return (await plane.workspace(name_or_id)).id


def run_in_workspace(workspace: str, action: Callable[[ControlPlane, Principal, str], Awaitable[T]]) -> T:
    """Run ``action`` as the local operator with the id of ``workspace`` (given by name or id)."""
    async def resolved(plane: ControlPlane, me: Principal) -> T:
        return await action(plane, me, await workspace_id(plane, workspace))

    return run_as_operator(resolved)


def split_csv(value: str | None) -> list[str] | None:
    """``"a, b"`` as ``["a", "b"]``; None (or only commas) as None."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    return items or None


def cell(value: Any) -> str:
    """One value as table text: timestamps to the second, lists joined, objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str) and len(value) > 19 and value[4:5] == "-" and value[10:11] == "T":
        return value[:19].replace("T", " ")
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _column(obj: Mapping[str, Any], spec: Cell) -> str:
    return cell(obj.get(spec) if isinstance(spec, str) else spec(obj))


def rows_table(rows: list[Mapping[str, Any]], columns: Mapping[str, Cell], title: str | None = None) -> Table:
    """A table with one row per object; ``columns`` maps a header to a field name or a function."""
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(_column(row, spec) for spec in columns.values()))
    return table


def print_json(data: Any) -> None:
    """The data as JSON on stdout, nothing else (no colours, no wrapping)."""
    typer.echo(json.dumps(data, indent=2))


def print_result(data: Any, as_json: bool, message: str) -> None:
    """The outcome of a change: JSON, or one sentence."""
    if as_json:
        print_json(data)
    else:
        console.print(message)


def print_object(data: Mapping[str, Any], as_json: bool, title: str | None = None) -> None:
    """One object: JSON, or a field/value table (secrets are never part of it)."""
    if as_json:
        print_json(data)
        return
    table = Table("field", "value", title=title)
    for name, value in data.items():
        if name not in ("secret", "token"):
            table.add_row(name, cell(value))
    console.print(table)


def print_page(page: Mapping[str, Any], as_json: bool, columns: Mapping[str, Cell], title: str | None = None) -> None:
    """A page ``{"data", "has_more", "first_id", "last_id"}``: JSON, or a table and where the next page starts."""
    if as_json:
        print_json(page)
        return
    console.print(rows_table(page["data"], columns, title))
    if page.get("has_more"):
        console.print(f"More results: add --after-id {page['last_id']}")


def print_secret(label: str, secret: str) -> None:
    """A one-time secret: a sentence, then the secret alone on its line (easy to copy or to pipe)."""
    console.print(f"{label} (shown once, store it now):")
    print(secret)
