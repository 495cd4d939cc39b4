"""``steward webhooks ...``: where Steward POSTs audit events (``spend.alert``, ``admin.*``), and their deliveries.

Calls the webhook service as the local operator (never Steward's HTTP API). The signing secret is printed once,
by ``create``. ``deliver`` runs one round of the dispatcher a serving gateway runs every second, from this
process: what it claims, it sends and records; a gateway running beside it never sends the same event twice.
"""

from __future__ import annotations

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
    print_result,
    print_secret,
    rows_table,
    run_as_operator,
    run_with_control_plane,
    say,
    show_page,
    split_csv,
)
from steward.compliance.crypto import master_key_source
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane
from steward.controlplane.webhooks import DELIVERY_STATUSES
from steward.settings import Settings
from steward.storage.repositories.webhooks import DeliveryRepository
from steward.workers.webhooks import WebhookDispatcher

webhooks_app = typer.Typer(help="Send audit events (spend alerts, admin changes) to your own HTTPS endpoints.",
                           no_args_is_help=True)

WebhookId = Annotated[str, typer.Argument(help="Webhook id (whk_...).")]
WEBHOOK_COLUMNS: dict[str, Cell] = {"id": "id", "url": "url", "events": "events",
                                    "active": lambda hook: "yes" if hook["active"] else "no",
                                    "created": "created_at", "updated": "updated_at"}
DELIVERY_COLUMNS: dict[str, Cell] = {
    "id": "id", "event": "event", "status": "status", "tries": "attempt_count",
    "last answer": lambda d: d["last_error"] or d["last_status_code"], "created": "created_at",
    "done / next try": lambda d: d["completed_at"] or d["next_attempt_at"]}
_EVENTS_HELP = ('Comma-separated audit event names: spend.alert, admin.<...>, or a prefix ending in * '
                '(admin.*, or * for all).')


def _state(hook: dict[str, Any]) -> str:
    return "active" if hook["active"] else "inactive"


@webhooks_app.command("create")
def webhooks_create(
    url: Annotated[str, typer.Option(help="Where to POST: an absolute http:// or https:// URL.")],
    events: Annotated[str, typer.Option(help=_EVENTS_HELP)],
    inactive: Annotated[bool, typer.Option("--inactive", help="Create it switched off.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a webhook. Its signing secret (whsec_...) is printed once and never shown again."""
    hook = run_as_operator(lambda plane, me: plane.admin.webhooks.create(
        me, url, split_csv(events) or [], active=not inactive))
    if as_json:
        print_json(hook)
        return
    say(f"Created webhook {hook['id']} for {hook['url']} ({_state(hook)}; events: {', '.join(hook['events'])})")
    print_secret("Signing secret", hook["secret"])


@webhooks_app.command("list")
def webhooks_list(limit: Limit = 100, after_id: AfterId = None, as_json: JsonFlag = False) -> None:
    """List webhooks, newest first (never their secrets)."""
    show_page(lambda plane, me: plane.admin.webhooks.list(me, Paging.of(limit, after_id=after_id)), as_json,
              WEBHOOK_COLUMNS)


@webhooks_app.command("get")
def webhooks_get(webhook_id: WebhookId, as_json: JsonFlag = False) -> None:
    """Show one webhook."""
    print_object(run_as_operator(lambda plane, me: plane.admin.webhooks.get(me, webhook_id)), as_json)


@webhooks_app.command("update")
def webhooks_update(
    webhook_id: WebhookId,
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    events: Annotated[str | None, typer.Option(help=f"New events (replace the old ones). {_EVENTS_HELP}")] = None,
    active: Annotated[bool | None, typer.Option(
        "--active/--inactive", help="Switch it on or off; events from while it was off are not sent.",
        show_default=False)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a webhook's URL, events, or whether it is active."""
    changes = {"url": url, "events": split_csv(events) if events is not None else None, "active": active}
    hook = run_as_operator(lambda plane, me: plane.admin.webhooks.update(me, webhook_id, changes))
    print_result(hook, as_json, f"Updated webhook {hook['id']} for {hook['url']} ({_state(hook)}; events: "
                                f"{', '.join(hook['events'])})")


@webhooks_app.command("delete")
def webhooks_delete(webhook_id: WebhookId, as_json: JsonFlag = False) -> None:
    """Delete a webhook and its delivery records; pending retries stop."""
    async def action(plane: ControlPlane, me: Principal) -> tuple[dict[str, Any], dict[str, Any]]:
        hook = await plane.admin.webhooks.get(me, webhook_id)
        return hook, await plane.admin.webhooks.delete(me, webhook_id)

    hook, deleted = run_as_operator(action)
    print_result(deleted, as_json, f"Deleted webhook {hook['id']} for {hook['url']}")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    webhook_id: WebhookId,
    status: Annotated[str | None, typer.Option(help=f"Only these: {', '.join(DELIVERY_STATUSES)}.")] = None,
    limit: Limit = 100, after_id: AfterId = None, as_json: JsonFlag = False,
) -> None:
    """A webhook's deliveries, newest first: status, attempts, the last HTTP status and error (--json: every
    attempt)."""
    async def action(plane: ControlPlane, me: Principal) -> tuple[dict[str, Any], dict[str, Any]]:
        hook = await plane.admin.webhooks.get(me, webhook_id)
        page = await plane.admin.webhooks.deliveries(me, webhook_id, Paging.of(limit, after_id=after_id),
                                                     status=status)
        return hook, page

    hook, page = run_as_operator(action)
    if as_json:
        print_json(page)
        return
    console.print(rows_table(page["data"], DELIVERY_COLUMNS, title=f"Deliveries to {hook['url']} ({hook['id']})"))
    if page["has_more"]:
        say(f"More results: add --after-id {page['last_id']}")


@webhooks_app.command("deliver")
def webhooks_deliver(as_json: JsonFlag = False) -> None:
    """Deliver now: one round of what a serving gateway does every second (new events and due retries of every
    active webhook are sent, each attempt recorded). Check the outcome with deliveries."""
    settings = Settings()

    async def action(plane: ControlPlane) -> int:
        dispatcher = WebhookDispatcher(DeliveryRepository(plane.database.sessions, plane.database.dialect),
                                       allow_private=settings.webhook_allow_private,
                                       master=master_key_source(settings))
        try:
            return await dispatcher.deliver_once()
        finally:
            await dispatcher.close()

    attempts = run_with_control_plane(action)
    print_result({"attempts": attempts}, as_json, f"Made {attempts} delivery attempt(s).")

