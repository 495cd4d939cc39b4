"""``steward compliance activities``: the Compliance API's activity feed (metadata) from the command line.

Calls the activity service's query (``POST /v1/admin/compliance/activities/query``) as the local operator. Never
content: reading stored prompts needs an admin key with the ``compliance`` scope, which the operator is not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from steward.cli.common import Cell, JsonFlag, console, print_json, rows_table, run_listing, say, split_csv
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane
from steward.errors import InvalidRequestError

When = Annotated[str | None, typer.Option(help="An RFC 3339 time or a UTC day (YYYY-MM-DD).")]
COLUMNS: dict[str, Cell] = {
    "id": "id", "when": "created_at", "type": "type",
    "actor": lambda a: a["actor"].get("name") or a["actor"].get("user_id") or a["actor"].get("api_key_id"),
    "workspace": "workspace_id", "key": "api_key_id", "model": "model", "decision": "decision",
    "status": "status"}


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(f"{name}: not an RFC 3339 time or a day: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def compliance_activities(
    start: Annotated[str | None, typer.Option("--from", help="From this time (RFC 3339, or a UTC day).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Before this time (RFC 3339, or a UTC day).")] = None,
    types: Annotated[str | None, typer.Option(
        "--type", help="Activity types, comma-separated (e.g. api_call, admin.keys.create).")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user's activities (user_...).")] = None,
    workspace: Annotated[str | None, typer.Option(help="Only this workspace (wrkspc_...).")] = None,
    key: Annotated[str | None, typer.Option(help="Only this API key (apikey_...).")] = None,
    model: Annotated[str | None, typer.Option(help="Only requests for this model.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000, help="At most this many (1-5000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue after this activity (the previous next_cursor).")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """The activity feed, newest first: requests and admin actions with who, where and the decision (never
    content)."""
    filters = {"activity_type": split_csv(types), "user_id": user, "workspace_id": workspace, "api_key_id": key,
               "model": model}

    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        return await plane.admin.activities.query(
            me, start=_time("--from", start), end=_time("--to", end),
            filters={k: v for k, v in filters.items() if v}, limit=limit, cursor=cursor)

    page, names = run_listing(action, as_json)
    if as_json:
        print_json(page)
        return
    console.print(rows_table(page["data"], COLUMNS, names=names))
    if page["has_more"]:
        say(f"More results: add --cursor {page['next_cursor']}")
