"""``steward catalog show|versions|import|sync``: the model catalog and its prices, updated without a release.

Every command calls ``CatalogService`` as the local operator (never Steward's HTTP API). ``import`` takes a file in
the format of the packaged ``pricing_catalog.json``; ``sync`` reads the upstream's ``GET /v1/models`` with the
configured upstream key and adds the models the catalog lacks. Running gateways pick a new version up within
their snapshot poll interval (docs/catalog.md).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from steward.cli.common import JsonFlag, console, print_json, rows_table, run_as_operator, say
from steward.controlplane.catalog import fetch_upstream_models
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane
from steward.settings import Settings


async def unpriced_lines(plane: ControlPlane, start: datetime, end: datetime) -> list[str]:
    """Sentences naming the usage recorded without a price (its cost is unknown, not $0), for usage reports."""
    rows = await plane.admin.catalog.unpriced_usage(await plane.system(), start, end)
    return [f"Unpriced usage (not in the cost above): {r['model']}: {r['requests']} requests, "
            f"{r['input_tokens']:,} input and {r['output_tokens']:,} output tokens; add its prices with "
            "`steward catalog import FILE`." for r in rows]


catalog_app = typer.Typer(help="Show and update the model catalog and prices (docs/catalog.md).",
                          no_args_is_help=True)


@catalog_app.command("show")
def show(as_json: JsonFlag = False) -> None:
    """The catalog in force: each model with today's status and its price (or the family rule)."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.catalog.show(me)

    found = run_as_operator(action)
    if as_json:
        print_json(found)
        return
    origin = found["stored_version"]["id"] if found["stored_version"] else "the packaged file"
    say(f"Catalog {found['version']} (from {origin})")
    console.print(rows_table(found["data"], {
        "Model": "id", "Family": "family", "Status": "status", "Retires": "retires_at", "Priced": "priced",
        "Input $/MTok": "input_usd_per_mtok", "Output $/MTok": "output_usd_per_mtok"}))


@catalog_app.command("versions")
def versions(limit: Annotated[int, typer.Option(min=1, max=1000, help="How many.")] = 20,
             as_json: JsonFlag = False) -> None:
    """Stored catalog versions, newest first."""
    async def action(plane: ControlPlane, me: Principal) -> list[dict[str, Any]]:
        return await plane.admin.catalog.versions(me, limit)

    found = run_as_operator(action)
    if as_json:
        print_json(found)
    elif not found:
        say("No catalog version is stored: the packaged file is in force.")
    else:
        console.print(rows_table(found, {"Id": "id", "Version": "version", "Source": "source", "By": "actor",
                                         "At": lambda r: r["created_at"][:19], "Summary": "summary"}))


@catalog_app.command("import")
def import_file(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A catalog JSON file.")],
                as_json: JsonFlag = False) -> None:
    """Store FILE (the format of pricing_catalog.json, effective-dated prices) as the new catalog version."""
    try:
        document = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"{file}: not valid JSON ({exc})") from None

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.catalog.import_document(me, document, origin=file.name)

    stored = run_as_operator(action)
    if as_json:
        print_json(stored)
    else:
        say(f"Catalog {stored['version']} stored as {stored['id']}; gateways load it within their poll interval.")


@catalog_app.command("sync")
def sync(as_json: JsonFlag = False) -> None:
    """Add the models the upstream's GET /v1/models lists and the catalog lacks (priced by their family rule), and
    update the lifecycle (status, deprecated_at, retires_at) of the listed ones from it."""
    settings = Settings()
    if not settings.upstream_api_keys:
        raise typer.BadParameter("STEWARD_UPSTREAM_API_KEYS is not set: sync reads the API's model list with it")

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        models = await fetch_upstream_models(settings.upstream_url,
                                             settings.upstream_api_keys[0].get_secret_value())
        return await plane.admin.catalog.sync(me, models)

    result = run_as_operator(action)
    if as_json:
        print_json(result)
        return
    if not result["added"] and not result["updated"]:
        say("The catalog already lists every model the API serves, with the API's lifecycle dates.")
        return
    if result["added"]:
        say(f"Added {', '.join(result['added'])} (priced by their family rule until prices are imported).")
    for model in result["updated"]:
        changes = ", ".join(f"{field} {old or 'none'} -> {new or 'none'}"
                            for field, (old, new) in model["changes"].items())
        say(f"Updated {model['id']}: {changes}.")
    say(f"Stored as {result['version']['id']}; gateways load it within their poll interval.")
