"""``steward init``, ``steward workspaces ...`` and ``steward keys ...``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from steward.cli.common import console, run_with_control_plane
from steward.controlplane.services import ControlPlane

workspaces_app = typer.Typer(help="Create, list and archive workspaces.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list, deactivate and revoke workspace API keys.", no_args_is_help=True)


def init(name: Annotated[str, typer.Option(help="Organization name.")] = "My Organization",
         admin_email: Annotated[str, typer.Option(help="Email of the first admin user.")] = "admin@localhost",
         ) -> None:
    """Create the database schema, the organization and its first admin (idempotent)."""
    async def action(plane: ControlPlane) -> None:
        done = await plane.init(name, admin_email)
        if not done.created:
            console.print(f"Already initialised: organization [bold]{done.organization.name}[/bold] "
                          f"({done.organization.id})")
            return
        console.print(f"Created organization [bold]{done.organization.name}[/bold] ({done.organization.id})")
        assert done.admin_user is not None
        console.print(f"First admin: {done.admin_user.email} ({done.admin_user.id}). Admin key (shown once, "
                      "store it now; use it as STEWARD_ADMIN_KEY):")
        print(done.admin_secret)

    run_with_control_plane(action)


@workspaces_app.command("create")
def workspaces_create(
    name: str,
    allowed_models: Annotated[str | None, typer.Option(
        help="Comma-separated model ids or patterns this workspace may use (default: all).")] = None,
) -> None:
    """Create a workspace."""
    models = [m.strip() for m in allowed_models.split(",") if m.strip()] if allowed_models else None

    async def action(plane: ControlPlane) -> None:
        ws = await plane.create_workspace(name, allowed_models=models)
        console.print(f"Created workspace [bold]{ws['name']}[/bold] ({ws['id']})")

    run_with_control_plane(action)


@workspaces_app.command("list")
def workspaces_list(include_archived: bool = False) -> None:
    """List workspaces."""
    async def action(plane: ControlPlane) -> None:
        org = await plane.admin.organization.current()
        table = Table("id", "name", "allowed models", "created", "archived")
        for ws in await plane.repo.list_workspaces(org.id, include_archived=include_archived):
            table.add_row(ws.id, ws.name, ", ".join(ws.allowed_models or ["(all)"]),
                          ws.created_at.isoformat(timespec="seconds"),
                          ws.archived_at.isoformat(timespec="seconds") if ws.archived_at else "")
        console.print(table)

    run_with_control_plane(action)


@workspaces_app.command("archive")
def workspaces_archive(name: str) -> None:
    """Archive a workspace: its keys stop working within a second."""
    async def action(plane: ControlPlane) -> None:
        ws = await plane.archive_workspace(name)
        console.print(f"Archived workspace {ws['name']} ({ws['id']})")

    run_with_control_plane(action)


@keys_app.command("create")
def keys_create(
    workspace: Annotated[str, typer.Option(help="Workspace name or id.")],
    name: Annotated[str, typer.Option(help="Key name, e.g. ml-prod-inference.")],
    expires_in_days: Annotated[int | None, typer.Option(help="Expire after this many days.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the secret.")] = False,
) -> None:
    """Create a key. The secret is printed once and never stored."""
    async def action(plane: ControlPlane) -> None:
        created = await plane.create_key(workspace, name, expires_in_days=expires_in_days)
        if quiet:
            print(created["secret"])
            return
        console.print(f"Created key [bold]{created['name']}[/bold] ({created['id']}) in {workspace}")
        console.print("Secret (shown once, store it now):")
        print(created["secret"])

    run_with_control_plane(action)


@keys_app.command("list")
def keys_list(workspace: Annotated[str | None, typer.Option(help="Workspace name or id.")] = None,
              status: Annotated[str | None, typer.Option(help="active, inactive or archived.")] = None) -> None:
    """List keys (hints only, never secrets)."""
    async def action(plane: ControlPlane) -> None:
        org = await plane.admin.organization.current()
        ws_id = (await plane.workspace(workspace)).id if workspace else None
        table = Table("id", "name", "workspace", "status", "hint", "expires", "last used")
        for key in await plane.repo.list_keys(org.id, workspace_id=ws_id, status=status):
            table.add_row(key.id, key.name, key.workspace_id, key.status, key.partial_key_hint,
                          key.expires_at.isoformat(timespec="seconds") if key.expires_at else "",
                          key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "")
        console.print(table)

    run_with_control_plane(action)


def _set_status(key_id: str, status: str, verb: str) -> None:
    async def action(plane: ControlPlane) -> None:
        key = await plane.set_key_status(key_id, status)
        console.print(f"{verb} key {key['name']} ({key['id']}): status {key['status']}")

    run_with_control_plane(action)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key for good (status archived); refused everywhere within a second."""
    _set_status(key_id, "archived", "Revoked")


@keys_app.command("deactivate")
def keys_deactivate(key_id: str) -> None:
    """Deactivate a key (status inactive); it can be activated again."""
    _set_status(key_id, "inactive", "Deactivated")


@keys_app.command("activate")
def keys_activate(key_id: str) -> None:
    """Activate an inactive key."""
    _set_status(key_id, "active", "Activated")
