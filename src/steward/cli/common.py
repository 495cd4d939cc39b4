"""What every CLI command shares: settings, running a coroutine against the control plane, errors, output.

Output is a Rich table by default; ``--json`` prints the service's own dict (the Admin API's shape) to
stdout and nothing else, so scripts can pipe it. Secrets are printed on a line of their own.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from steward.controlplane.paging import Paging
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
_ID = re.compile(r"^([a-z]+_[A-Za-z0-9]+|sk-stw-[a-z0-9]+-[A-Za-z0-9.]+)$")
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
        err_console.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
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


async def workspace_names(plane: ControlPlane, me: Principal) -> dict[str, str]:
    """Workspace names by id (archived ones too): tables show names where the API gives ids."""
    page = await plane.admin.workspaces.list(me, Paging.of(1000), include_archived=True)
    return {ws["id"]: ws["name"] for ws in page["data"]}


def run_listing(action: Callable[[ControlPlane, Principal], Awaitable[T]],
                as_json: bool) -> tuple[T, dict[str, str]]:
    """Run ``action`` as the local operator; for a table (not ``--json``) also fetch the workspace names."""
    async def with_names(plane: ControlPlane, me: Principal) -> tuple[T, dict[str, str]]:
        result = await action(plane, me)
        return result, ({} if as_json else await workspace_names(plane, me))

    return run_as_operator(with_names)


def split_csv(value: str | None) -> list[str] | None:
    """``"a, b"`` as ``["a", "b"]``; None (or only commas) as None."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    return items or None


def cell(value: Any) -> str:
    """One value as table text: timestamps to the minute, lists joined, objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str) and len(value) > 16 and value[4:5] == "-" and value[10:11] == "T":
        return value[:16].replace("T", " ")
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _named(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with every workspace id in it replaced by the workspace's name."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list):
        return [_named(item, names) for item in value]
    if isinstance(value, dict):
        return {key: _named(item, names) for key, item in value.items()}
    return value


def _column(obj: Mapping[str, Any], spec: Cell) -> str:
    return cell(obj.get(spec) if isinstance(spec, str) else spec(obj))


def rows_table(rows: list[dict[str, Any]], columns: Mapping[str, Cell], title: str | None = None,
               names: Mapping[str, str] | None = None) -> Table:
    """A table with one row per object; ``columns`` maps a header to a field name or a function.

    Workspace ids show as names when ``names`` has them. Values are plain text (never Rich markup); a column
    of ids or key hints is never shortened, so it can be copied.
    """
    cells = [[_column(_named(row, names or {}), spec) for spec in columns.values()] for row in rows]
    table = Table(title=title)
    for index, header in enumerate(columns):
        values = [line[index] for line in cells]
        if values and all(_ID.match(value) for value in values):
            table.add_column(header, no_wrap=True, min_width=max(map(len, values)))
        else:
            table.add_column(header)
    for line in cells:
        table.add_row(*(Text(value) for value in line))
    return table


def say(message: str) -> None:
    """One sentence on stdout, as plain text (names are not Rich markup), never wrapped (scripts read it whole)."""
    console.print(message, soft_wrap=True, markup=False)


def print_json(data: Any) -> None:
    """The data as JSON on stdout, nothing else (no colours, no wrapping)."""
    typer.echo(json.dumps(data, indent=2))


def print_result(data: Any, as_json: bool, message: str) -> None:
    """The outcome of a change: JSON, or one sentence."""
    if as_json:
        print_json(data)
    else:
        say(message)


def print_object(data: Mapping[str, Any], as_json: bool, title: str | None = None) -> None:
    """One object: JSON, or a field/value table (secrets are never part of it)."""
    if as_json:
        print_json(data)
        return
    table = Table("field", "value", title=title)
    for name, value in data.items():
        if name not in ("secret", "token"):
            table.add_row(name, Text(cell(value)))
    console.print(table)


def print_page(page: dict[str, Any], as_json: bool, columns: Mapping[str, Cell],
               names: Mapping[str, str] | None = None) -> None:
    """A page ``{"data", "has_more", "first_id", "last_id"}``: JSON, or a table and where the next page starts."""
    if as_json:
        print_json(page)
        return
    console.print(rows_table(page["data"], columns, names=names))
    if page["has_more"]:
        say(f"More results: add --after-id {page['last_id']}")


def show_page(action: Callable[[ControlPlane, Principal], Awaitable[dict[str, Any]]], as_json: bool,
              columns: Mapping[str, Cell]) -> None:
    """Run a listing as the local operator and print its page, workspace ids shown as names in a table."""
    page, names = run_listing(action, as_json)
    print_page(page, as_json, columns, names)


def print_secret(label: str, secret: str) -> None:
    """A one-time secret: a sentence, then the secret alone on its line (easy to copy or to pipe)."""
    say(f"{label} (shown once, store it now):")
    print(secret)
