"""What every CLI command shares: settings, running a coroutine against the control plane, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console

from steward.controlplane.services import ControlPlane
from steward.errors import StewardError
from steward.settings import Settings
from steward.storage.migrate import upgrade

T = TypeVar("T")
# Reports are wide; when output is not a terminal (CI logs, pipes) Rich would assume 80 columns.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True)


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
