"""``steward policy show|set|clear|check|versions|shadow``: governance policies from the command line.

Every command calls ``PolicyService`` as the local operator (never Steward's HTTP API). Documents are read from
JSON or YAML files (a YAML file may hold the document itself or a ``policy:`` block). ``check`` exits with 1
when the request would be refused, so it can gate a script.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from steward.cli.common import (
    JsonFlag,
    Limit,
    console,
    print_json,
    print_result,
    rows_table,
    run_as_operator,
    say,
    workspace_id,
)
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane

policy_app = typer.Typer(help="Show, set and dry-run governance policies (docs/policies.md).", no_args_is_help=True)

Workspace = Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace name or id.")]
KeyId = Annotated[str | None, typer.Option("--key", help="API key id (apikey_...).")]
File = Annotated[Path | None, typer.Option("--file", "-f", exists=True, dir_okay=False,
                                           help="A JSON or YAML file.")]


def read_document(file: Path | None, inline: str | None, option: str) -> dict[str, Any]:
    """A JSON or YAML object from ``file`` or given inline (a top-level ``policy:`` block is unwrapped)."""
    if (file is None) == (inline is None):
        raise typer.BadParameter(f"give --file or {option}, one of them")
    text = file.read_text() if file is not None else inline or ""
    where = str(file) if file is not None else option
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"{where}: not valid JSON or YAML ({exc})") from None
    if isinstance(data, dict) and set(data) == {"policy"}:
        data = data["policy"]
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{where}: must hold an object")
    return data


async def _scope(plane: ControlPlane, workspace: str | None, key: str | None) -> tuple[str, str | None]:
    if workspace and key:
        raise typer.BadParameter("give --workspace or --key, not both")
    if key:
        return "key", key
    if workspace:
        return "workspace", await workspace_id(plane, workspace)
    return "organization", None


async def _where(plane: ControlPlane, me: Principal, scope: str, scope_id: str | None) -> str:
    """A policy's scope as people read it: ``workspace Marketing (wrkspc_...)``, ``key ci-bot (apikey_...)``."""
    if scope_id is None:
        return "the organization"
    names = await plane.admin.reports.names(me.org_id)
    name = names.of("workspace_id" if scope == "workspace" else "api_key_id", scope_id)
    return f"{scope} {name} ({scope_id})" if name else f"{scope} {scope_id}"


@policy_app.command("show")
def show(workspace: Workspace = None, key: KeyId = None, as_json: JsonFlag = False) -> None:
    """The live policy of the organization (default), a workspace or a key."""
    async def action(plane: ControlPlane, me: Principal) -> tuple[dict[str, Any] | None, str]:
        scope, scope_id = await _scope(plane, workspace, key)
        return await plane.admin.policies.get(me, scope, scope_id), await _where(plane, me, scope, scope_id)

    found, where = run_as_operator(action)
    if as_json:
        print_json(found)
    elif found is None:
        say(f"No policy is set on {where}.")
    else:
        say(f"{where[0].upper()}{where[1:]}: policy v{found['version']} "
            f"(by {found['updated_by']}, {found['updated_at'][:16]})")
        typer.echo(yaml.safe_dump(found["document"], sort_keys=False).rstrip())


@policy_app.command("set")
def set_policy(file: File = None,
               document_text: Annotated[str | None, typer.Option("--document", help="The document, inline.")] = None,
               workspace: Workspace = None, key: KeyId = None, as_json: JsonFlag = False) -> None:
    """Set the policy of the organization (default), a workspace or a key from a JSON or YAML document."""
    document = read_document(file, document_text, "--document")

    async def action(plane: ControlPlane, me: Principal) -> tuple[dict[str, Any], str]:
        scope, scope_id = await _scope(plane, workspace, key)
        done = await plane.admin.policies.put(me, scope, scope_id, document, source="cli")
        return done, await _where(plane, me, scope, scope_id)

    done, where = run_as_operator(action)
    print_result(done, as_json, f"Policy of {where} is now at version {done['version']}.")


@policy_app.command("clear")
def clear(workspace: Workspace = None, key: KeyId = None, as_json: JsonFlag = False) -> None:
    """Remove the policy of the organization (default), a workspace or a key."""
    async def action(plane: ControlPlane, me: Principal) -> tuple[dict[str, Any], str]:
        scope, scope_id = await _scope(plane, workspace, key)
        done = await plane.admin.policies.delete(me, scope, scope_id, source="cli")
        return done, await _where(plane, me, scope, scope_id)

    done, where = run_as_operator(action)
    print_result(done, as_json, f"Policy of {where} removed (version {done['version']}).")


@policy_app.command("check")
def check(workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace name or id.")],
          file: File = None,
          request: Annotated[str | None, typer.Option("--request", help="The Messages API body, inline.")] = None,
          key: KeyId = None, as_json: JsonFlag = False) -> None:
    """Dry run: every rule that would refuse a Messages API body (nothing is sent upstream)."""
    body = read_document(file, request, "--request")

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.policies.check(me, await workspace_id(plane, workspace), key, body)

    result = run_as_operator(action)
    if as_json:
        print_json(result)
    else:
        verdict = "allowed" if result["allowed"] else "refused"
        say(f"{verdict} (policy v{result['policy_version']}, model {result['model']})")
        if result["decisions"]:
            console.print(rows_table(result["decisions"], {"rule": "rule", "action": "action", "status": "status",
                                                            "message": "message"}))
        if result["pii"]:
            say("personal data found: " + ", ".join(f"{k} x{v}" for k, v in sorted(result["pii"].items())))
    if not result["allowed"]:
        raise typer.Exit(1)


@policy_app.command("versions")
def versions(limit: Limit = 20, after_id: Annotated[str | None, typer.Option(help="Continue after this id.")] = None,
             as_json: JsonFlag = False) -> None:
    """The organization's policy history, newest first."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.policies.versions(me, Paging.of(limit, None, after_id))

    page = run_as_operator(action)
    if as_json:
        print_json(page)
        return
    console.print(rows_table(page["data"], {"version": "version", "scope": "scope", "scope id": "scope_id",
                                            "by": "actor", "source": "source", "at": "created_at",
                                            "removed": lambda v: "yes" if v["document"] is None else ""}))
    if page["has_more"]:
        say(f"More results: add --after-id {page['last_id']}")


@policy_app.command("shadow")
def shadow(days: Annotated[int, typer.Option(min=1, help="Look back this many days.")] = 7,
           workspace: Workspace = None, as_json: JsonFlag = False) -> None:
    """How many requests each shadow-mode rule would have refused, by rule and workspace."""
    end = datetime.now(UTC)

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        ws = await workspace_id(plane, workspace) if workspace else None
        return await plane.admin.policies.shadow_report(me, starting_at=end - timedelta(days=days), ending_at=end,
                                                        workspace_id=ws)

    report = run_as_operator(action)
    if as_json:
        print_json(report)
        return
    console.print(rows_table(report["data"], {"workspace": "workspace_id", "rule": "rule",
                                              "would refuse": "would_refuse"}))
    say(f"{report['total']} would-refuse decisions since {report['starting_at'][:16]}")
