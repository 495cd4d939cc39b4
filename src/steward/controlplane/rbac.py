"""The permission matrix: which organization and workspace roles may do what (docs/permissions.md).

Organization-wide rights come from the org role; workspace rights from the org role (admins administer every
workspace, billing reads every workspace) or from a membership in that workspace. A read-only admin key
refuses every write whatever the role.
"""

from __future__ import annotations

from enum import Enum

from steward.controlplane.principal import Principal
from steward.errors import PermissionDeniedError

ORG_ROLES = ("admin", "developer", "billing", "viewer", "user", "claude_code_user")
WORKSPACE_ROLES = ("workspace_admin", "workspace_developer", "workspace_user", "workspace_billing")
KEY_MANAGING_ORG_ROLES = frozenset({"admin", "developer"})


class Permission(Enum):
    ORG_READ = "org.read"
    USERS_READ = "users.read"
    USERS_WRITE = "users.write"
    INVITES_READ = "invites.read"
    INVITES_WRITE = "invites.write"
    WORKSPACES_READ = "workspaces.read"
    WORKSPACES_WRITE = "workspaces.write"
    MEMBERS_READ = "members.read"
    MEMBERS_WRITE = "members.write"
    KEYS_READ = "keys.read"
    KEYS_WRITE = "keys.write"
    SPEND_LIMITS_WRITE = "spend_limits.write"
    RATE_LIMITS_WRITE = "rate_limits.write"
    WEBHOOKS_WRITE = "webhooks.write"
    SPEND_REQUEST = "spend_limits.request_increase"
    SPEND_REVIEW = "spend_limits.review"
    ADMIN_KEYS_SELF = "admin_keys.self"
    ADMIN_KEYS_OTHERS = "admin_keys.others"
    POLICIES_READ = "policies.read"
    POLICIES_WRITE = "policies.write"
    USAGE_READ = "usage.read"
    COMPLIANCE_READ = "compliance.read"
    COMPLIANCE_WRITE = "compliance.write"
    COMPLIANCE_CONTENT = "compliance.content"
    AUDIT_READ = "audit.read"


WRITES = frozenset({Permission.USERS_WRITE, Permission.INVITES_WRITE, Permission.WORKSPACES_WRITE,
                    Permission.MEMBERS_WRITE, Permission.KEYS_WRITE, Permission.ADMIN_KEYS_SELF,
                    Permission.SPEND_REQUEST, Permission.SPEND_REVIEW, Permission.SPEND_LIMITS_WRITE,
                    Permission.RATE_LIMITS_WRITE, Permission.WEBHOOKS_WRITE,
                    Permission.ADMIN_KEYS_OTHERS, Permission.POLICIES_WRITE, Permission.COMPLIANCE_WRITE})

# Organization-wide grants: these roles hold the permission in every workspace.
ORG_GRANTS: dict[Permission, frozenset[str]] = {
    Permission.ORG_READ: frozenset(ORG_ROLES),
    Permission.USERS_READ: frozenset({"admin", "viewer"}),
    Permission.USERS_WRITE: frozenset({"admin"}),
    Permission.INVITES_READ: frozenset({"admin", "viewer"}),
    Permission.INVITES_WRITE: frozenset({"admin"}),
    Permission.WORKSPACES_READ: frozenset({"admin", "viewer", "billing"}),
    Permission.WORKSPACES_WRITE: frozenset({"admin"}),
    Permission.MEMBERS_READ: frozenset({"admin", "viewer"}),
    Permission.MEMBERS_WRITE: frozenset({"admin"}),
    Permission.KEYS_READ: frozenset({"admin", "viewer"}),
    Permission.KEYS_WRITE: frozenset({"admin"}),
    Permission.ADMIN_KEYS_SELF: frozenset(ORG_ROLES),
    Permission.SPEND_LIMITS_WRITE: frozenset({"admin"}),
    Permission.RATE_LIMITS_WRITE: frozenset({"admin"}),
    Permission.WEBHOOKS_WRITE: frozenset({"admin"}),
    Permission.SPEND_REQUEST: frozenset({"admin", "developer", "billing"}),
    Permission.SPEND_REVIEW: frozenset({"admin"}),
    Permission.ADMIN_KEYS_OTHERS: frozenset({"admin"}),
    Permission.POLICIES_READ: frozenset({"admin", "developer", "viewer", "billing"}),
    Permission.POLICIES_WRITE: frozenset({"admin"}),
    Permission.USAGE_READ: frozenset({"admin", "billing", "viewer"}),
    Permission.COMPLIANCE_READ: frozenset({"admin"}),
    Permission.COMPLIANCE_WRITE: frozenset({"admin"}),
    # Content also needs an admin key with the "compliance" scope (Principal.compliance): see allowed().
    Permission.COMPLIANCE_CONTENT: frozenset({"admin"}),
    Permission.AUDIT_READ: frozenset({"admin"}),
}

# Workspace grants: a membership with one of these roles holds the permission in that workspace.
WORKSPACE_GRANTS: dict[Permission, frozenset[str]] = {
    Permission.WORKSPACES_READ: frozenset(WORKSPACE_ROLES),
    Permission.MEMBERS_READ: frozenset({"workspace_admin"}),
    Permission.MEMBERS_WRITE: frozenset({"workspace_admin"}),
    Permission.KEYS_READ: frozenset({"workspace_admin", "workspace_developer"}),
    Permission.KEYS_WRITE: frozenset({"workspace_admin", "workspace_developer"}),
    Permission.POLICIES_READ: frozenset(WORKSPACE_ROLES),
    Permission.USAGE_READ: frozenset({"workspace_admin", "workspace_billing"}),
}


def allowed(principal: Principal, permission: Permission, workspace_id: str | None = None) -> bool:
    """Whether ``principal`` holds ``permission`` (in ``workspace_id`` when the right is per workspace)."""
    if principal.read_only and permission in WRITES:
        return False
    if permission is Permission.COMPLIANCE_CONTENT and not principal.compliance:
        return False
    if principal.role in ORG_GRANTS.get(permission, frozenset()):
        return True
    if workspace_id is None:
        return False
    if permission is Permission.KEYS_WRITE and principal.role not in KEY_MANAGING_ORG_ROLES:
        return False
    role = principal.memberships.get(workspace_id)
    return role is not None and role in WORKSPACE_GRANTS.get(permission, frozenset())


def require(principal: Principal, permission: Permission, workspace_id: str | None = None) -> None:
    """Refuse with 403 ``permission_error`` unless allowed."""
    if not allowed(principal, permission, workspace_id):
        where = f" in workspace {workspace_id}" if workspace_id else ""
        scope = " (this admin key is read-only)" if principal.read_only and permission in WRITES else ""
        if permission is Permission.COMPLIANCE_CONTENT and not principal.compliance:
            scope = " (content needs an admin key with the 'compliance' scope)"
        raise PermissionDeniedError(
            f"Role {principal.role!r} may not {permission.value}{where}{scope}.")


def visible_workspaces(principal: Principal, permission: Permission) -> list[str] | None:
    """Workspaces where ``principal`` holds ``permission``: None means all of them."""
    if principal.role in ORG_GRANTS.get(permission, frozenset()):
        return None
    if permission is Permission.KEYS_WRITE and principal.role not in KEY_MANAGING_ORG_ROLES:
        return []
    grants = WORKSPACE_GRANTS.get(permission, frozenset())
    return [ws for ws, role in principal.memberships.items() if role in grants]
