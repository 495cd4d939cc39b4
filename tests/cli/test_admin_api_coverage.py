"""docs/cli.md's promise, "every Admin API operation has a command", checked against the routes themselves.

Every route of every Admin API router (``ROUTERS``: ``/v1/admin``, ``/v1/organizations`` and the Compliance
API) must appear below, mapped to the ``steward`` command that performs it, or listed as an exception with the
reason. A new route without a command, or a mapped command that no longer exists, fails this test.
"""

from __future__ import annotations

import typer
from fastapi.routing import APIRoute

from steward.cli.main import app
from steward.controlplane.api.app import ROUTERS

# (method, path) -> the command (words after `steward`) that performs the same service call.
COMMANDS: dict[tuple[str, str], str] = {
    # Workspaces: Steward's paths and Anthropic's.
    ("POST", "/v1/admin/workspaces"): "workspaces create",
    ("GET", "/v1/admin/workspaces"): "workspaces list",
    ("GET", "/v1/admin/workspaces/{workspace_id}"): "workspaces get",
    ("PUT", "/v1/admin/workspaces/{workspace_id}"): "workspaces update",
    ("POST", "/v1/admin/workspaces/{workspace_id}/archive"): "workspaces archive",
    ("POST", "/v1/organizations/workspaces"): "workspaces create",
    ("GET", "/v1/organizations/workspaces"): "workspaces list",
    ("GET", "/v1/organizations/workspaces/{workspace_id}"): "workspaces get",
    ("POST", "/v1/organizations/workspaces/{workspace_id}"): "workspaces update",
    ("POST", "/v1/organizations/workspaces/{workspace_id}/archive"): "workspaces archive",
    # Members.
    ("POST", "/v1/admin/workspaces/{workspace_id}/members"): "members add",
    ("GET", "/v1/admin/workspaces/{workspace_id}/members"): "members list",
    ("GET", "/v1/admin/workspaces/{workspace_id}/members/{user_id}"): "members get",
    ("PUT", "/v1/admin/workspaces/{workspace_id}/members/{user_id}"): "members update",
    ("DELETE", "/v1/admin/workspaces/{workspace_id}/members/{user_id}"): "members remove",
    ("POST", "/v1/organizations/workspaces/{workspace_id}/members"): "members add",
    ("GET", "/v1/organizations/workspaces/{workspace_id}/members"): "members list",
    ("GET", "/v1/organizations/workspaces/{workspace_id}/members/{user_id}"): "members get",
    ("POST", "/v1/organizations/workspaces/{workspace_id}/members/{user_id}"): "members update",
    ("DELETE", "/v1/organizations/workspaces/{workspace_id}/members/{user_id}"): "members remove",
    # Users and the organization.
    ("GET", "/v1/admin/users"): "users list",
    ("GET", "/v1/admin/users/{user_id}"): "users get",
    ("PUT", "/v1/admin/users/{user_id}"): "users update",
    ("DELETE", "/v1/admin/users/{user_id}"): "users remove",
    ("GET", "/v1/organizations/users"): "users list",
    ("GET", "/v1/organizations/users/{user_id}"): "users get",
    ("POST", "/v1/organizations/users/{user_id}"): "users update",
    ("DELETE", "/v1/organizations/users/{user_id}"): "users remove",
    ("GET", "/v1/organizations/me"): "organization",
    # Invitations.
    ("POST", "/v1/admin/invitations"): "invitations create",
    ("GET", "/v1/admin/invitations"): "invitations list",
    ("GET", "/v1/admin/invitations/{invite_id}"): "invitations get",
    ("DELETE", "/v1/admin/invitations/{invite_id}"): "invitations revoke",
    ("POST", "/v1/admin/invitations/accept"): "invitations accept",
    ("POST", "/v1/organizations/invites"): "invitations create",
    ("GET", "/v1/organizations/invites"): "invitations list",
    ("GET", "/v1/organizations/invites/{invite_id}"): "invitations get",
    ("DELETE", "/v1/organizations/invites/{invite_id}"): "invitations revoke",
    # API keys and admin keys.
    ("POST", "/v1/admin/keys"): "keys create",
    ("GET", "/v1/admin/keys"): "keys list",
    ("GET", "/v1/admin/keys/report"): "keys report",
    ("GET", "/v1/admin/keys/{key_id}"): "keys get",
    ("PUT", "/v1/admin/keys/{key_id}"): "keys update",
    ("DELETE", "/v1/admin/keys/{key_id}"): "keys revoke",
    ("POST", "/v1/admin/keys/{key_id}/rotate"): "keys rotate",
    ("GET", "/v1/organizations/api_keys"): "keys list",
    ("GET", "/v1/organizations/api_keys/{api_key_id}"): "keys get",
    ("POST", "/v1/organizations/api_keys/{api_key_id}"): "keys update",
    ("POST", "/v1/admin/admin_keys"): "admin-keys create",
    ("GET", "/v1/admin/admin_keys"): "admin-keys list",
    ("DELETE", "/v1/admin/admin_keys/{admin_key_id}"): "admin-keys revoke",
    # Rate limits (organization, workspace, key).
    ("GET", "/v1/organizations/rate_limits"): "rate-limits list",
    ("POST", "/v1/organizations/rate_limits/{rate_limit_id}"): "rate-limits set",
    ("GET", "/v1/organizations/workspaces/{workspace_id}/rate_limits"): "rate-limits list",
    ("POST", "/v1/organizations/workspaces/{workspace_id}/rate_limits/{rate_limit_id}"): "rate-limits set",
    ("GET", "/v1/admin/keys/{key_id}/rate_limits"): "rate-limits list",
    ("POST", "/v1/admin/keys/{key_id}/rate_limits/{rate_limit_id}"): "rate-limits set",
    # Spend limits and increase requests.
    ("POST", "/v1/organizations/spend_limits"): "spend-limits create",
    ("GET", "/v1/organizations/spend_limits"): "spend-limits list",
    ("GET", "/v1/organizations/spend_limits/effective"): "spend-limits effective",
    ("GET", "/v1/organizations/spend_limits/{spend_limit_id}"): "spend-limits get",
    ("POST", "/v1/organizations/spend_limits/{spend_limit_id}"): "spend-limits update",
    ("DELETE", "/v1/organizations/spend_limits/{spend_limit_id}"): "spend-limits delete",
    ("POST", "/v1/organizations/spend_limit_increase_requests"): "spend-requests create",
    ("GET", "/v1/organizations/spend_limit_increase_requests"): "spend-requests list",
    ("GET", "/v1/organizations/spend_limit_increase_requests/{request_id}"): "spend-requests get",
    ("POST", "/v1/organizations/spend_limit_increase_requests/{request_id}/approve"): "spend-requests approve",
    ("POST", "/v1/organizations/spend_limit_increase_requests/{request_id}/deny"): "spend-requests deny",
    # Webhooks.
    ("POST", "/v1/organizations/webhooks"): "webhooks create",
    ("GET", "/v1/organizations/webhooks"): "webhooks list",
    ("GET", "/v1/organizations/webhooks/{webhook_id}"): "webhooks get",
    ("POST", "/v1/organizations/webhooks/{webhook_id}"): "webhooks update",
    ("DELETE", "/v1/organizations/webhooks/{webhook_id}"): "webhooks delete",
    ("GET", "/v1/organizations/webhooks/{webhook_id}/deliveries"): "webhooks deliveries",
    # Policies (organization, workspace, key).
    ("GET", "/v1/admin/policy"): "policy show",
    ("PUT", "/v1/admin/policy"): "policy set",
    ("DELETE", "/v1/admin/policy"): "policy clear",
    ("GET", "/v1/admin/workspaces/{workspace_id}/policy"): "policy show",
    ("PUT", "/v1/admin/workspaces/{workspace_id}/policy"): "policy set",
    ("DELETE", "/v1/admin/workspaces/{workspace_id}/policy"): "policy clear",
    ("GET", "/v1/admin/keys/{api_key_id}/policy"): "policy show",
    ("PUT", "/v1/admin/keys/{api_key_id}/policy"): "policy set",
    ("DELETE", "/v1/admin/keys/{api_key_id}/policy"): "policy clear",
    ("GET", "/v1/admin/policies"): "export",  # every live document at once, as policy-as-code writes them
    ("POST", "/v1/admin/policies/check"): "policy check",
    ("GET", "/v1/admin/policies/versions"): "policy versions",
    ("GET", "/v1/admin/policies/shadow_report"): "policy shadow",
    # The model catalog.
    ("GET", "/v1/admin/catalog"): "catalog show",
    ("POST", "/v1/admin/catalog"): "catalog import",
    # Usage and cost reports.
    ("GET", "/v1/admin/usage/messages"): "usage report",
    ("GET", "/v1/admin/usage/cost"): "usage cost",
    ("GET", "/v1/admin/usage/refusals"): "usage refusals",
    ("GET", "/v1/organizations/usage_report/messages"): "usage report",
    ("GET", "/v1/organizations/cost_report"): "usage cost",
    ("GET", "/v1/admin/usage/claude-code"): "usage claude-code",
    ("GET", "/v1/organizations/usage_report/claude_code"): "usage claude-code",
    # Compliance and the audit trail.
    ("POST", "/v1/admin/compliance/groups"): "compliance groups create",
    ("GET", "/v1/admin/compliance/groups"): "compliance groups list",
    ("GET", "/v1/admin/compliance/groups/{group_id}"): "compliance groups get",
    ("POST", "/v1/admin/compliance/groups/{group_id}"): "compliance groups update",
    ("DELETE", "/v1/admin/compliance/groups/{group_id}"): "compliance groups delete",
    ("POST", "/v1/admin/compliance/groups/{group_id}/workspaces"): "compliance groups add-workspace",
    ("DELETE", "/v1/admin/compliance/groups/{group_id}/workspaces/{workspace_id}"):
        "compliance groups remove-workspace",
    ("POST", "/v1/admin/compliance/groups/{group_id}/legal_hold"): "compliance legal-hold",
    ("POST", "/v1/admin/compliance/activities/query"): "compliance activities",
    ("GET", "/v1/compliance/activities"): "compliance activities",
    ("GET", "/v1/admin/compliance/access_review"): "access-review",
    ("GET", "/v1/admin/audit/verify"): "audit verify",
    ("GET", "/v1/admin/audit/events"): "audit tail",
}

# Operations with no command of their own, and why.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("GET", "/v1/admin/compliance/organizations"):
        "the caller's organizations: one database holds one organization, shown by `steward organization`",
    ("GET", "/v1/admin/compliance/users"):
        "the Compliance API's user directory (removed users included) for compliance tools; people use "
        "`steward users list`",
}


def _operations() -> set[tuple[str, str]]:
    found = set()
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            found |= {(method, route.path) for method in route.methods}
    return found


def _cli_commands() -> set[str]:
    found: set[str] = set()

    def walk(command: object, path: tuple[str, ...]) -> None:
        found.add(" ".join(path))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def test_every_admin_api_operation_has_a_command_or_a_reason() -> None:
    operations = _operations()
    assert len(operations) > 100
    unmapped = sorted(operations - COMMANDS.keys() - EXCEPTIONS.keys())
    assert not unmapped, f"Admin API operations with no CLI command (add one, or an exception): {unmapped}"
    stale = sorted((COMMANDS.keys() | EXCEPTIONS.keys()) - operations)
    assert not stale, f"mapped operations that no longer exist: {stale}"
    assert not COMMANDS.keys() & EXCEPTIONS.keys()


def test_every_mapped_command_exists_and_is_documented() -> None:
    commands = _cli_commands()
    missing = sorted({command for command in COMMANDS.values() if command not in commands})
    assert not missing, f"mapped commands that the CLI does not have: {missing}"
    from tests.cli.test_admin_cli import DOC

    table = DOC.read_text()
    undocumented = sorted({c for c in COMMANDS.values() if f"`steward {c}" not in table and f"/ `{c.split()[-1]}" not
                           in table})
    assert not undocumented, f"docs/cli.md's table lacks: {undocumented}"
