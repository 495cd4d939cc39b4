"""The console's navigation: which pages a principal may open, from the permission matrix (rbac.py).

A link is shown only when its page would show the principal something; the services refuse anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, allowed, visible_workspaces


@dataclass(slots=True, frozen=True)
class NavItem:
    label: str
    href: str
    prefix: str


def _some(principal: Principal, permission: Permission) -> bool:
    return visible_workspaces(principal, permission) != []


def nav_items(principal: Principal) -> list[NavItem]:
    """The links of the header for this principal, in page order."""
    items = [NavItem("Dashboard", "/console/", "/console/")]
    wanted = [
        ("Workspaces", "workspaces", _some(principal, Permission.WORKSPACES_READ)),
        ("API keys", "keys", _some(principal, Permission.KEYS_READ)),
        ("Users", "users", allowed(principal, Permission.USERS_READ)),
        ("Invitations", "invitations", allowed(principal, Permission.INVITES_READ)),
        ("Limits", "limits", allowed(principal, Permission.ORG_READ)),
        ("Policies", "policies", _some(principal, Permission.POLICIES_READ)),
        ("Usage", "usage", _some(principal, Permission.USAGE_READ)),
        ("Audit", "audit", allowed(principal, Permission.AUDIT_READ)),
    ]
    items += [NavItem(label, f"/console/{slug}", f"/console/{slug}") for label, slug, ok in wanted if ok]
    return items
