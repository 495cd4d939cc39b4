"""``steward compliance``: compliance groups (create, list, show, update, delete, join and leave workspaces,
legal hold), the retention purge (``--dry-run`` counts only) and a fresh master key for ``STEWARD_MASTER_KEY``.
Every command goes through ``ComplianceGroupService`` (or the retention job) as the local operator."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from steward.cli.common import (
    AfterId,
    Cell,
    JsonFlag,
    Limit,
    print_json,
    print_object,
    print_page,
    print_result,
    run_as_operator,
    run_with_control_plane,
    say,
    split_csv,
    workspace_id,
)
from steward.compliance.crypto import generate_key_text
from steward.compliance.retention import purge as run_purge
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane
from steward.storage.repositories.governance import ContentRepository

compliance_app = typer.Typer(help="Compliance groups, stored content retention and legal hold.", no_args_is_help=True)
groups_app = typer.Typer(help="Compliance groups: restrictions that member workspaces inherit.", no_args_is_help=True)
compliance_app.add_typer(groups_app, name="groups")

GroupArg = Annotated[str, typer.Argument(help="Compliance group id or name.")]
Days = Annotated[int | None, typer.Option(help="data_retention_days: purge stored content after this many days.")]
Regions = Annotated[str | None, typer.Option(help="allowed_regions, comma-separated (e.g. us).")]
Level = Annotated[str | None, typer.Option(help="audit_level: metadata or full (full stores content, encrypted).")]
Encryption = Annotated[bool | None, typer.Option("--require-encryption/--no-require-encryption",
                                                 help="require_encryption.")]
COLUMNS: dict[str, Cell] = {"id": "id", "name": "name", "audit": lambda g: g["restrictions"]["audit_level"],
           "retention days": lambda g: g["restrictions"]["data_retention_days"],
           "regions": lambda g: g["restrictions"]["allowed_regions"], "legal hold": "legal_hold",
           "workspaces": "workspace_ids"}


def _restrictions(days: int | None, encryption: bool | None, regions: str | None,
                  level: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if days is not None:
        out["data_retention_days"] = days
    if encryption is not None:
        out["require_encryption"] = encryption
    if regions is not None:
        out["allowed_regions"] = split_csv(regions)
    if level is not None:
        out["audit_level"] = level
    return out


async def _group_id(plane: ControlPlane, me: Principal, id_or_name: str) -> str:
    found = await plane.admin.compliance_groups.find(me, id_or_name)
    return str(found["id"]) if found is not None else id_or_name


@groups_app.command("create")
def groups_create(name: Annotated[str, typer.Argument(help="The group's name (unique in the organization).")],
                  description: Annotated[str | None, typer.Option(help="What the group is for.")] = None,
                  retention_days: Days = None, require_encryption: Encryption = None, regions: Regions = None,
                  audit_level: Level = None, as_json: JsonFlag = False) -> None:
    """Create a compliance group."""
    restrictions = _restrictions(retention_days, require_encryption, regions, audit_level)

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.compliance_groups.create(me, name, description, restrictions)
    group = run_as_operator(action)
    print_result(group, as_json, f"Created compliance group {group['name']} ({group['id']}).")


@groups_app.command("list")
def groups_list(limit: Limit = 100, after_id: AfterId = None, as_json: JsonFlag = False) -> None:
    """List compliance groups, oldest first."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.compliance_groups.list(me, Paging.of(limit, None, after_id))
    print_page(run_as_operator(action), as_json, COLUMNS)


@groups_app.command("get")
def groups_get(group: GroupArg, as_json: JsonFlag = False) -> None:
    """Show one compliance group."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.compliance_groups.get(me, await _group_id(plane, me, group))
    print_object(run_as_operator(action), as_json)


@groups_app.command("update")
def groups_update(group: GroupArg, name: Annotated[str | None, typer.Option(help="New name.")] = None,
                  description: Annotated[str | None, typer.Option(help="New description.")] = None,
                  retention_days: Days = None, require_encryption: Encryption = None, regions: Regions = None,
                  audit_level: Level = None, as_json: JsonFlag = False) -> None:
    """Change a group (restrictions given are merged over the current ones)."""
    changes: dict[str, Any] = {"restrictions": _restrictions(retention_days, require_encryption, regions,
                                                             audit_level)}
    if name is not None:
        changes["name"] = name
    if description is not None:
        changes["description"] = description

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.compliance_groups.update(me, await _group_id(plane, me, group), changes)
    updated = run_as_operator(action)
    print_result(updated, as_json, f"Updated compliance group {updated['name']}.")


@groups_app.command("delete")
def groups_delete(group: GroupArg, as_json: JsonFlag = False) -> None:
    """Delete a group (its workspaces leave it; stored content stays until retention purges it)."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.compliance_groups.delete(me, await _group_id(plane, me, group))
    print_result(run_as_operator(action), as_json, f"Deleted compliance group {group}.")


@groups_app.command("add-workspace")
def groups_add_workspace(group: GroupArg, workspace: Annotated[str, typer.Argument(help="Workspace name or id.")],
                         as_json: JsonFlag = False) -> None:
    """Put a workspace under the group's restrictions."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.compliance_groups.add_workspace(me, await _group_id(plane, me, group),
                                                                 await workspace_id(plane, workspace))
    updated = run_as_operator(action)
    print_result(updated, as_json, f"Workspace {workspace} is in compliance group {updated['name']}.")


@groups_app.command("remove-workspace")
def groups_remove_workspace(group: GroupArg, workspace: Annotated[str, typer.Argument(help="Workspace name or id.")],
                            as_json: JsonFlag = False) -> None:
    """Take a workspace out of the group."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.compliance_groups.remove_workspace(me, await _group_id(plane, me, group),
                                                                    await workspace_id(plane, workspace))
    updated = run_as_operator(action)
    print_result(updated, as_json, f"Workspace {workspace} left compliance group {updated['name']}.")


@compliance_app.command("legal-hold")
def legal_hold(group: GroupArg,
               release: Annotated[bool, typer.Option("--release", help="End the hold (purging resumes).")] = False,
               reason: Annotated[str | None, typer.Option(help="Why (written to the audit trail).")] = None,
               as_json: JsonFlag = False) -> None:
    """Put a group's workspaces under legal hold (retention stops purging their content), or release it."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.compliance_groups.legal_hold(me, await _group_id(plane, me, group), not release,
                                                              reason)
    updated = run_as_operator(action)
    state = "under legal hold" if updated["legal_hold"] else "released from legal hold"
    print_result(updated, as_json, f"Compliance group {updated['name']} is {state}.")


@compliance_app.command("purge")
def purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what is due; delete nothing.")] = False,
          as_json: JsonFlag = False) -> None:
    """Delete stored content past its retention now (what the retention job does on its interval)."""
    async def action(plane: ControlPlane) -> dict[str, Any]:
        report = await run_purge(ContentRepository(plane.database.sessions), dry_run=dry_run, actor="cli:purge")
        return {"dry_run": dry_run, "deleted" if not dry_run else "would_delete": report.deleted,
                "held_by_legal_hold": report.held,
                "organizations": [{"org_id": c.org_id, "due": c.deleted, "held": c.held}
                                  for c in report.organizations]}
    result = run_with_control_plane(action)
    if as_json:
        print_json(result)
        return
    verb = "Would delete" if dry_run else "Deleted"
    count = result["would_delete" if dry_run else "deleted"]
    say(f"{verb} {count} stored content record{'s' if count != 1 else ''}; "
        f"{result['held_by_legal_hold']} kept by a legal hold.")


@compliance_app.command("master-key")
def master_key() -> None:
    """Print a new random master key for STEWARD_MASTER_KEY (base64 of 32 bytes); store it in a secret manager."""
    print(generate_key_text())
