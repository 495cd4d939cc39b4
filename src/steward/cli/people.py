"""``steward users ...``, ``steward invitations ...`` and ``steward members ...``: the people of the organization.

Every command calls the Admin API's services as the local operator; none goes through Steward's HTTP API.
Roles are checked by the services (an unknown role is an ``error:`` and exit status 1, like any refusal).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from steward.cli.common import (
    AfterId,
    Cell,
    JsonFlag,
    Limit,
    print_json,
    print_object,
    print_result,
    print_secret,
    run_as_operator,
    run_in_workspace,
    run_with_control_plane,
    say,
    show_page,
    workspace_id,
)
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane

users_app = typer.Typer(help="List users, change their role and remove them.", no_args_is_help=True)
invitations_app = typer.Typer(help="Invite people (one-time token), list, revoke and accept invitations.",
                              no_args_is_help=True)
members_app = typer.Typer(help="Add people to a workspace, change their workspace role, remove them.",
                          no_args_is_help=True)

USER_COLUMNS: dict[str, Cell] = {"id": "id", "email": "email", "name": "name", "role": "role",
                                 "workspaces": "workspace_ids", "added": "added_at"}
INVITE_COLUMNS: dict[str, Cell] = {
    "id": "id", "email": "email", "role": "role", "status": "status",
    "workspaces": lambda i: [f"{g['workspace_id']}:{g['workspace_role']}" for g in i["workspaces"]],
    "invited": "invited_at", "expires": "expires_at"}
MEMBER_COLUMNS: dict[str, Cell] = {"email": "email", "user": "user_id", "workspace": "workspace_id",
                                   "role": "workspace_role"}
InviteId = Annotated[str, typer.Argument(help="Invitation id (invite_...).")]
UserId = Annotated[str, typer.Argument(help="User id (user_...).")]
OrgRole = Annotated[str, typer.Option(help="admin, developer, billing, viewer, user or claude_code_user.")]
WorkspaceRole = Annotated[str, typer.Option(
    help="workspace_admin, workspace_developer, workspace_user or workspace_billing.")]
Workspace = Annotated[str, typer.Argument(help="Workspace name or id.")]


@users_app.command("list")
def users_list(email: Annotated[str | None, typer.Option(help="Only this email address.")] = None,
               role: Annotated[list[str] | None, typer.Option(help="Only this role (repeatable).")] = None,
               limit: Limit = 100, after_id: AfterId = None, as_json: JsonFlag = False) -> None:
    """List the organization's users."""
    show_page(lambda plane, me: plane.admin.users.list(
        me, Paging.of(limit, after_id=after_id), email=email, roles=role), as_json, USER_COLUMNS)


@users_app.command("get")
def users_get(user_id: UserId, as_json: JsonFlag = False) -> None:
    """Show one user, with the workspaces they belong to."""
    print_object(run_as_operator(lambda plane, me: plane.admin.users.get(me, user_id)), as_json)


@users_app.command("update")
def users_update(user_id: UserId, role: OrgRole, as_json: JsonFlag = False) -> None:
    """Change a user's organization role (the last admin cannot be demoted)."""
    user = run_as_operator(lambda plane, me: plane.admin.users.update(me, user_id, role))
    print_result(user, as_json, f"User {user['email']} ({user['id']}) now has the role {user['role']}")


@users_app.command("remove")
def users_remove(user_id: UserId, as_json: JsonFlag = False) -> None:
    """Remove a user: their keys are deactivated and their workspace memberships removed."""
    removed = run_as_operator(lambda plane, me: plane.admin.users.remove(me, user_id))
    print_result(removed, as_json,
                 f"Removed user {removed['id']}: their keys are deactivated, their memberships removed")


async def _grant(plane: ControlPlane, item: str) -> str | dict[str, str]:
    """``eng`` or ``eng:workspace_admin`` (name or id) as the service's workspace grant."""
    name, _, role = item.partition(":")
    ws_id = await workspace_id(plane, name)
    return {"workspace_id": ws_id, "workspace_role": role} if role else ws_id


@invitations_app.command("create")
def invitations_create(
    email: Annotated[str, typer.Option(help="Who is invited.")],
    role: OrgRole,
    workspace: Annotated[list[str] | None, typer.Option(
        help="Workspace name or id to join, optionally with :workspace_role (repeatable).")] = None,
    expires_in_days: Annotated[int | None, typer.Option(
        help="Lifetime in days (default STEWARD_INVITATION_EXPIRY_DAYS, 7).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Invite someone; the one-time token is printed once (they run `steward invitations accept`)."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        grants = [await _grant(plane, item) for item in workspace or []]
        return await plane.admin.invitations.create(me, email, role, workspaces=grants,
                                                    expires_in_days=expires_in_days)

    invite = run_as_operator(action)
    if as_json:
        print_json(invite)
        return
    say(f"Invited {invite['email']} as {invite['role']} ({invite['id']}), "
        f"valid until {invite['expires_at']}")
    print_secret("Invitation token", invite["token"])


@invitations_app.command("list")
def invitations_list(status: Annotated[str | None, typer.Option(
                         help="pending, accepted, expired or revoked.")] = None,
                     email: Annotated[str | None, typer.Option(help="Only this email address.")] = None,
                     limit: Limit = 100, after_id: AfterId = None, as_json: JsonFlag = False) -> None:
    """List invitations, newest first (a revoked invitation has the status deleted)."""
    show_page(lambda plane, me: plane.admin.invitations.list(
        me, Paging.of(limit, after_id=after_id), statuses=[status] if status else None, email=email),
        as_json, INVITE_COLUMNS)


@invitations_app.command("get")
def invitations_get(invite_id: InviteId, as_json: JsonFlag = False) -> None:
    """Show one invitation (never its token)."""
    print_object(run_as_operator(lambda plane, me: plane.admin.invitations.get(me, invite_id)), as_json)


@invitations_app.command("revoke")
def invitations_revoke(invite_id: InviteId, as_json: JsonFlag = False) -> None:
    """Revoke a pending invitation: its token stops working."""
    invite = run_as_operator(lambda plane, me: plane.admin.invitations.revoke(me, invite_id))
    print_result(invite, as_json,
                 f"Revoked the invitation of {invite['email']} ({invite['id']}): status {invite['status']}")


@invitations_app.command("accept")
def invitations_accept(token: Annotated[str, typer.Option(help="The invitation token (stw_inv_...).")],
                       name: Annotated[str, typer.Option(help="Your name.")],
                       as_json: JsonFlag = False) -> None:
    """Accept an invitation: creates the user and their first admin key (its secret is printed once)."""
    accepted = run_with_control_plane(lambda plane: plane.admin.invitations.accept(token, name))
    if as_json:
        print_json(accepted)
        return
    user = accepted["user"]
    say(f"Welcome {user['name']}: user {user['id']} ({user['email']}), role {user['role']}, "
        f"workspaces {', '.join(user['workspace_ids']) or '(none)'}")
    print_secret(f"Admin key {accepted['admin_key']['id']}", accepted["secret"])


async def _person(plane: ControlPlane, me: Principal, user_id: str) -> str:
    """``email (user_...)``: how a sentence names a user."""
    return f"{(await plane.admin.users.get(me, user_id))['email']} ({user_id})"


def _member_change(workspace: str, user_id: str,
                   change: Callable[[ControlPlane, Principal, str], Awaitable[dict[str, Any]]]
                   ) -> tuple[dict[str, Any], str]:
    """Run a membership change in ``workspace``; the result and the member named for a sentence."""
    async def action(plane: ControlPlane, me: Principal, ws: str) -> tuple[dict[str, Any], str]:
        result = await change(plane, me, ws)
        return result, await _person(plane, me, user_id)

    return run_in_workspace(workspace, action)


@members_app.command("add")
def members_add(workspace: Workspace, user_id: Annotated[str, typer.Option(help="User id (user_...).")],
                role: WorkspaceRole, as_json: JsonFlag = False) -> None:
    """Add a user to a workspace with a workspace role."""
    member, person = _member_change(workspace, user_id,
                                    lambda plane, me, ws: plane.admin.members.add(me, ws, user_id, role))
    print_result(member, as_json, f"Added {person} to {workspace} as {member['workspace_role']}")


@members_app.command("list")
def members_list(workspace: Workspace, limit: Limit = 100, after_id: AfterId = None,
                 as_json: JsonFlag = False) -> None:
    """List a workspace's members."""
    async def action(plane: ControlPlane, me: Principal) -> dict[str, Any]:
        page = await plane.admin.members.list(me, await workspace_id(plane, workspace),
                                              Paging.of(limit, after_id=after_id))
        if not as_json:  # a table names each member by email, beside the id (the API's member has only the id)
            for member in page["data"]:
                member["email"] = (await plane.admin.users.get(me, member["user_id"]))["email"]
        return page

    show_page(action, as_json, MEMBER_COLUMNS)


@members_app.command("get")
def members_get(workspace: Workspace, user_id: UserId, as_json: JsonFlag = False) -> None:
    """Show one membership."""
    print_object(run_in_workspace(workspace, lambda plane, me, ws: plane.admin.members.get(me, ws, user_id)),
                 as_json)


@members_app.command("update")
def members_update(workspace: Workspace, user_id: UserId, role: WorkspaceRole, as_json: JsonFlag = False) -> None:
    """Change a member's workspace role."""
    member, person = _member_change(workspace, user_id,
                                    lambda plane, me, ws: plane.admin.members.update(me, ws, user_id, role))
    print_result(member, as_json, f"{person} is now {member['workspace_role']} in {workspace}")


@members_app.command("remove")
def members_remove(workspace: Workspace, user_id: UserId, as_json: JsonFlag = False) -> None:
    """Remove a user from a workspace."""
    removed, person = _member_change(workspace, user_id,
                                     lambda plane, me, ws: plane.admin.members.remove(me, ws, user_id))
    print_result(removed, as_json, f"Removed {person} from {workspace}")
