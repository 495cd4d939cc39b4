"""``steward admin-keys ...``: the keys that authenticate on the Admin API (each acts with its user's role).

Calls the admin key service as the local operator. The operator is not a user, so ``create`` needs the
``--user-id`` of the key's owner (the service says so when it is missing).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from steward.cli.common import (
    AfterId,
    Cell,
    JsonFlag,
    Limit,
    print_json,
    print_result,
    print_secret,
    run_as_operator,
    say,
    show_page,
)
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane

admin_keys_app = typer.Typer(help="Create, list and revoke admin keys (sk-stw-admin01-...).", no_args_is_help=True)

ADMIN_KEY_COLUMNS: dict[str, Cell] = {
    "id": "id", "name": "name", "user": "user_id", "status": "status", "scopes": "scopes",
    "hint": "partial_key_hint", "last used": "last_used_at"}


@admin_keys_app.command("create")
def admin_keys_create(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    user_id: Annotated[str | None, typer.Option(help="The user the key acts as (user_...).")] = None,
    read_only: Annotated[bool, typer.Option(help="Refuse every write made with this key.")] = False,
    expires_in_days: Annotated[int | None, typer.Option(help="Expire after this many days.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an admin key for a user. The secret is printed once and never stored."""
    scopes = ["read_only"] if read_only else []
    async def action(plane: ControlPlane, me: Principal) -> tuple[dict[str, Any], str]:
        created = await plane.admin.admin_keys.create(me, name, user_id=user_id, scopes=scopes,
                                                      expires_in_days=expires_in_days)
        owner = await plane.admin.users.get(me, created["user_id"])
        return created, f"{owner['email']} ({owner['id']})"

    created, owner = run_as_operator(action)
    if as_json:
        print_json(created)
        return
    say(f"Created admin key {created['name']} ({created['id']}) for {owner}"
        + (", read-only" if created["scopes"] else ""))
    print_secret("Secret", created["secret"])


@admin_keys_app.command("list")
def admin_keys_list(limit: Limit = 100, after_id: AfterId = None, as_json: JsonFlag = False) -> None:
    """List admin keys (hints only, never secrets), newest first."""
    show_page(lambda plane, me: plane.admin.admin_keys.list(me, Paging.of(limit, after_id=after_id)), as_json,
              ADMIN_KEY_COLUMNS)


@admin_keys_app.command("revoke")
def admin_keys_revoke(key_id: Annotated[str, typer.Argument(help="Admin key id (adminkey_...).")],
                      as_json: JsonFlag = False) -> None:
    """Revoke an admin key for good (status archived)."""
    key = run_as_operator(lambda plane, me: plane.admin.admin_keys.revoke(me, key_id))
    print_result(key, as_json, f"Revoked admin key {key['name']} ({key['id']}): status {key['status']}")
