"""``steward init``, ``steward organization``, ``steward workspaces ...`` and ``steward keys ...``.

Every command calls the Admin API's services as the local operator; none goes through Steward's HTTP API.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from steward.cli.common import (
    AfterId,
    Cell,
    JsonFlag,
    Limit,
    console,
    print_json,
    print_object,
    print_page,
    print_result,
    print_secret,
    rows_table,
    run_as_operator,
    run_in_workspace,
    run_listing,
    run_with_control_plane,
    say,
    show_page,
    split_csv,
    workspace_id,
)
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane
from steward.errors import InvalidRequestError

workspaces_app = typer.Typer(help="Create, list, show, change and archive workspaces.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list, rotate, deactivate and revoke workspace API keys.", no_args_is_help=True)

WORKSPACE_COLUMNS: dict[str, Cell] = {
    "id": "id", "name": "name", "allowed models": lambda w: w["allowed_models"] or ["(all)"],
    "color": "display_color", "created": "created_at", "archived": "archived_at"}
KEY_COLUMNS: dict[str, Cell] = {
    "id": "id", "name": "name", "workspace": "workspace_id", "status": "status", "hint": "partial_key_hint",
    "models": lambda k: (k["scopes"] or {}).get("models", ["(workspace's)"]), "expires": "expires_at",
    "last used": "last_used_at"}
REPORT_COLUMNS: dict[str, Cell] = {
    "id": "id", "name": "name", "workspace": "workspace_id", "status": "status", "hint": "partial_key_hint",
    "created": "created_at", "rotated": "rotated_at", "last used": "last_used_at"}
Workspace = Annotated[str, typer.Argument(help="Workspace name or id.")]
ApiKeyId = Annotated[str, typer.Argument(
    help="API key id (apikey_...), or the key's secret itself (sk-stw-api01-...: a leaked key, found by its hash; "
         "never printed back), or - to read either from standard input (keeps a secret out of shell history).")]


async def key_id_of(plane: ControlPlane, me: Principal, ref: str) -> str:
    """The key id an argument names: an id as it is, a secret through its hash (``KeyService.id_of_secret``); ``-``
    reads the id or secret from standard input's first line."""
    if ref == "-":
        ref = sys.stdin.readline().strip()
        if not ref:
            raise InvalidRequestError("standard input held no key id or secret.")
    return await plane.admin.keys.id_of_secret(me, ref) if ref.strip().startswith("sk-") else ref
Models = Annotated[str | None, typer.Option(help="Comma-separated model ids or patterns, e.g. claude-haiku-*.")]


def init(name: Annotated[str, typer.Option(help="Organization name.")] = "My Organization",
         admin_email: Annotated[str, typer.Option(help="Email of the first admin user.")] = "admin@localhost",
         ) -> None:
    """Create the database schema, the organization and its first admin (idempotent)."""
    async def action(plane: ControlPlane) -> None:
        done = await plane.init(name, admin_email)
        if not done.created:
            say(f"Already initialised: organization {done.organization.name} "
                f"({done.organization.id})")
            return
        say(f"Created organization {done.organization.name} ({done.organization.id})")
        assert done.admin_user is not None
        say(f"First admin: {done.admin_user.email} ({done.admin_user.id}). Admin key (shown once, "
            "store it now; use it as STEWARD_ADMIN_KEY):")
        print(done.admin_secret)

    run_with_control_plane(action)


def organization(as_json: JsonFlag = False) -> None:
    """Show the organization (id and name)."""
    print_object(run_as_operator(lambda plane, me: plane.admin.organization.me(me)), as_json)


@workspaces_app.command("create")
def workspaces_create(
    name: Annotated[str, typer.Argument(help="The workspace's name (unique in the organization).")],
    allowed_models: Annotated[str | None, typer.Option(
        help="Comma-separated model ids or patterns this workspace may use (default: all).")] = None,
    color: Annotated[str | None, typer.Option(help="Display colour, e.g. #6C5BB9.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a workspace."""
    ws = run_as_operator(lambda plane, me: plane.admin.workspaces.create(
        me, name, display_color=color, allowed_models=split_csv(allowed_models)))
    print_result(ws, as_json, f"Created workspace {ws['name']} ({ws['id']})")


@workspaces_app.command("list")
def workspaces_list(include_archived: Annotated[bool, typer.Option(
                        help="Also list archived workspaces.")] = False, limit: Limit = 100, after_id: AfterId = None,
                    as_json: JsonFlag = False) -> None:
    """List workspaces."""
    page = run_as_operator(lambda plane, me: plane.admin.workspaces.list(
        me, Paging.of(limit, after_id=after_id), include_archived=include_archived))
    print_page(page, as_json, WORKSPACE_COLUMNS)


@workspaces_app.command("get")
def workspaces_get(workspace: Workspace, as_json: JsonFlag = False) -> None:
    """Show one workspace."""
    print_object(run_in_workspace(workspace, lambda plane, me, ws: plane.admin.workspaces.get(me, ws)), as_json)


@workspaces_app.command("update")
def workspaces_update(
    workspace: Workspace,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    color: Annotated[str | None, typer.Option(help="Display colour, e.g. #6C5BB9.")] = None,
    allowed_models: Models = None,
    all_models: Annotated[bool, typer.Option(help="Allow every model again (clears --allowed-models).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Rename a workspace, change its colour or the models it may use."""
    changes: dict[str, Any] = {"name": name, "display_color": color, "allowed_models": split_csv(allowed_models)}
    changes = {field: value for field, value in changes.items() if value is not None}
    if all_models:
        changes["allowed_models"] = None

    print_object(run_in_workspace(workspace, lambda plane, me, ws: plane.admin.workspaces.update(me, ws, changes)),
                 as_json)


@workspaces_app.command("archive")
def workspaces_archive(name: Workspace, as_json: JsonFlag = False) -> None:
    """Archive a workspace: its keys stop working within a second."""
    ws = run_with_control_plane(lambda plane: plane.archive_workspace(name))
    print_result(ws, as_json, f"Archived workspace {ws['name']} ({ws['id']})")


@keys_app.command("create")
def keys_create(
    workspace: Annotated[str, typer.Option(help="Workspace name or id.")],
    name: Annotated[str, typer.Option(help="Key name, e.g. ml-prod-inference.")],
    expires_in_days: Annotated[int | None, typer.Option(help="Expire after this many days.")] = None,
    models: Models = None,
    owner: Annotated[str | None, typer.Option(
        help="The person the key is for (user email or id): shown as its creator, and their person spend limits "
             "(spend-limits create --person) cover it.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the secret.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a key (--models narrows it below its workspace). The secret is printed once and never stored."""
    allowed = split_csv(models)
    scopes = {"models": allowed} if allowed else None
    created = run_with_control_plane(lambda plane: plane.create_key(
        workspace, name, expires_in_days=expires_in_days, scopes=scopes, owner=owner))
    if quiet:
        print(created["secret"])
    elif as_json:
        print_json(created)
    else:
        say(f"Created key {created['name']} ({created['id']}) in {workspace}")
        print_secret("Secret", created["secret"])


@keys_app.command("list")
def keys_list(workspace: Annotated[str | None, typer.Option(help="Workspace name or id.")] = None,
              status: Annotated[str | None, typer.Option(help="active, inactive, archived or expired.")] = None,
              created_by: Annotated[str | None, typer.Option(help="Only keys created by this user id.")] = None,
              limit: Limit = 100, after_id: AfterId = None, as_json: JsonFlag = False) -> None:
    """List keys (hints only, never secrets), newest first."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        ws_id = await workspace_id(plane, workspace) if workspace else None
        return await plane.admin.keys.list(me, Paging.of(limit, after_id=after_id), workspace_id=ws_id,
                                           status=status, created_by=created_by)

    show_page(action, as_json, KEY_COLUMNS)


@keys_app.command("get")
def keys_get(key_id: ApiKeyId, as_json: JsonFlag = False) -> None:
    """Show one key (its hint, never its secret)."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.keys.get(me, await key_id_of(plane, me, key_id))
    print_object(run_as_operator(action), as_json)


@keys_app.command("update")
def keys_update(key_id: ApiKeyId,
                name: Annotated[str | None, typer.Option(help="New name (naming convention applies).")] = None,
                status: Annotated[str | None, typer.Option(help="active, inactive or archived.")] = None,
                as_json: JsonFlag = False) -> None:
    """Rename a key or set its status."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.keys.update(me, await key_id_of(plane, me, key_id), name=name, status=status)
    print_object(run_as_operator(action), as_json)


@keys_app.command("rotate")
def keys_rotate(key_id: ApiKeyId,
                grace_seconds: Annotated[int | None, typer.Option(
                    help="How long the old secret keeps working (default STEWARD_KEY_ROTATION_GRACE_SECONDS).")]
                = None,
                as_json: JsonFlag = False) -> None:
    """Give a key a new secret (printed once); the old one works until the grace period ends."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.keys.rotate(me, await key_id_of(plane, me, key_id),
                                             grace_period_seconds=grace_seconds)
    rotated = run_as_operator(action)
    if as_json:
        print_json(rotated)
        return
    grace = f"{grace_seconds} s" if grace_seconds is not None else "the default grace period"
    say(f"Rotated key {rotated['name']} ({rotated['id']}); the old secret keeps working for {grace}")
    print_secret("New secret", rotated["secret"])


@keys_app.command("report")
def keys_report(rotation_age_days: Annotated[int, typer.Option(min=0, help="Rotation is due after this.")] = 90,
                unused_days: Annotated[int, typer.Option(min=0, help="Unused for this long.")] = 30,
                as_json: JsonFlag = False) -> None:
    """Key hygiene: keys due for rotation and keys unused for a while (active and inactive keys)."""
    report, names = run_listing(lambda plane, me: plane.admin.keys.report(
        me, rotation_age_days=rotation_age_days, unused_days=unused_days), as_json)
    if as_json:
        print_json(report)
        return
    console.print(rows_table(report["rotation_due"], REPORT_COLUMNS,
                             f"Not rotated for {rotation_age_days} days or more", names))
    console.print(rows_table(report["unused"], REPORT_COLUMNS, f"Unused for {unused_days} days or more", names))


def _set_status(key_id: str, status: str, verb: str, as_json: bool) -> None:
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.keys.update(me, await key_id_of(plane, me, key_id), status=status)
    key: Mapping[str, Any] = run_as_operator(action)
    print_result(key, as_json, f"{verb} key {key['name']} ({key['id']}): status {key['status']}")


@keys_app.command("revoke")
def keys_revoke(key_id: ApiKeyId, as_json: JsonFlag = False) -> None:
    """Revoke a key for good (status archived); refused everywhere within a second."""
    async def action(plane: ControlPlane, me: Principal) -> tuple[dict[str, Any], bool]:
        found = await key_id_of(plane, me, key_id)
        if (await plane.admin.keys.get(me, found))["status"] == "archived":
            return await plane.admin.keys.get(me, found), False
        return await plane.admin.keys.update(me, found, status="archived"), True
    key, changed = run_as_operator(action)
    done = f"Revoked key {key['name']} ({key['id']}): status {key['status']}" if changed else \
        f"Key {key['name']} ({key['id']}) was already revoked; nothing changed"
    print_result(key, as_json, done)


@keys_app.command("deactivate")
def keys_deactivate(key_id: ApiKeyId, as_json: JsonFlag = False) -> None:
    """Deactivate a key (status inactive); it can be activated again."""
    _set_status(key_id, "inactive", "Deactivated", as_json)


@keys_app.command("activate")
def keys_activate(key_id: ApiKeyId, as_json: JsonFlag = False) -> None:
    """Activate an inactive key."""
    _set_status(key_id, "active", "Activated", as_json)
