"""``steward plan -f org.yaml``, ``steward apply -f org.yaml`` and ``steward export``: the organization as a
YAML file (docs/policy-as-code.md). The engine is in ``org_file.py`` (read, normalize, live state, export) and
``org_plan.py`` (changes and how to make them); every change goes through the services, audited, with policy
versions recorded as ``source: apply``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from steward.cli.common import console, err_console, run_as_operator
from steward.cli.org_file import Change, dump, export_document, live_state, parse
from steward.cli.org_plan import apply as apply_changes
from steward.cli.org_plan import plan as plan_changes
from steward.cli.org_scopes import OrgFileError
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane

FileOption = Annotated[Path, typer.Option("-f", "--file", exists=True, dir_okay=False, readable=True,
                                          help="The organization file (YAML).")]
PruneOption = Annotated[bool, typer.Option(
    "--prune", help="Also remove policies, limits and group memberships that a described scope no longer names "
                    "(workspaces and compliance groups are never deleted).")]
_COLOURS = {"+": "green", "-": "red", "~": "yellow"}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), sort_keys=True, default=str)


def _show(changes: list[Change]) -> None:
    for change in changes:
        colour = _COLOURS[change.op]
        detail = _compact(change.after) if change.op == "+" else _compact(change.before) if change.op == "-" else \
            f"{_compact(change.before)} -> {_compact(change.after)}"
        console.print(f"[{colour}]{change.op} {escape(change.target)}[/{colour}]: {escape(detail)}",
                      soft_wrap=True, highlight=False)
    counts = {op: sum(1 for c in changes if c.op == op) for op in "+~-"}
    console.print(f"Plan: {counts['+']} to add, {counts['~']} to change, {counts['-']} to remove.",
                  highlight=False)


def _desired(file: Path) -> dict[str, Any]:
    try:
        return parse(file.read_text())
    except OrgFileError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(file))}: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


def _run(file: Path, action: Callable[[ControlPlane, Principal], Awaitable[list[Change]]]) -> list[Change]:
    """Run ``action`` as the operator; a file naming a key or person the organization lacks stops it."""
    try:
        return run_as_operator(action)
    except OrgFileError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(file))}: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


def _say_left_out(live: Mapping[str, Any]) -> None:
    """What the live organization holds that no file can (on stderr: an export on stdout stays a clean file)."""
    for line in live.get("left_out", ()):
        err_console.print(f"[yellow]note:[/yellow] {escape(line)}", soft_wrap=True, highlight=False)


def plan(file: FileOption, prune: PruneOption = False,
         detailed_exitcode: Annotated[bool, typer.Option(
             "--detailed-exitcode", help="Exit 2 when changes are pending (0: none, 1: error).")] = False) -> None:
    """Show what `steward apply` would change to make the live organization match the file."""
    desired = _desired(file)

    async def action(plane: ControlPlane, me: Principal) -> list[Change]:
        live = await live_state(plane, me)
        _say_left_out(live)
        return plan_changes(desired, live, prune=prune)[0]

    changes = _run(file, action)
    if not changes:
        console.print("No changes: the live organization matches the file.", highlight=False)
        return
    _show(changes)
    if detailed_exitcode:
        raise typer.Exit(2)


def apply(file: FileOption, prune: PruneOption = False) -> None:
    """Make the live organization match the file (idempotent: a second run changes nothing)."""
    desired = _desired(file)

    async def action(plane: ControlPlane, me: Principal) -> list[Change]:
        changes, ids = plan_changes(desired, await live_state(plane, me), prune=prune)
        await apply_changes(plane, me, changes, ids)
        return changes

    changes = _run(file, action)
    if not changes:
        console.print("No changes: the live organization already matches the file.", highlight=False)
        return
    _show(changes)
    console.print(f"Applied {len(changes)} change{'s' if len(changes) != 1 else ''}.", highlight=False)


def export(output: Annotated[Path | None, typer.Option("-o", "--output", dir_okay=False,
                                                       help="Write to this file instead of stdout.")] = None) -> None:
    """Write the live organization as a file that `steward plan` shows no changes for: workspaces, compliance
    groups, policies, every rate limit (organization, workspace, key) and every spend limit (organization,
    workspace, key, person, end user). Keys and people appear by name and email; they are not created by apply."""
    async def action(plane: ControlPlane, me: Principal) -> str:
        live = await live_state(plane, me)
        _say_left_out(live)
        return dump(export_document(live))

    text = run_as_operator(action)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"Wrote {output}.", highlight=False)
