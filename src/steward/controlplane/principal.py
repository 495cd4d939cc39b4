"""Who is acting on the control plane: a user through an admin key, or the local operator (the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from steward.errors import AuthenticationError, PermissionDeniedError
from steward.identity.keyformat import ADMIN_KEY_PREFIX, API_KEY_PREFIX, hash_key, well_formed
from steward.storage.models import User
from steward.storage.repositories.admin import Unit


@dataclass(slots=True, frozen=True)
class Principal:
    """An authenticated actor with its organization role and workspace roles."""

    org_id: str
    role: str
    user_id: str | None
    key_id: str | None
    memberships: dict[str, str] = field(default_factory=dict)  # workspace id -> workspace role
    read_only: bool = False
    compliance: bool = False  # an admin key with the "compliance" scope: may read stored content
    label: str = ""
    request_id: str | None = None
    ip: str | None = None

    @property
    def actor(self) -> str:
        return self.user_id or self.label or "system"


def system_principal(org_id: str, label: str) -> Principal:
    """The local operator (CLI, init): database access already implies full control."""
    return Principal(org_id=org_id, role="admin", user_id=None, key_id=None, label=label, compliance=True)


async def authenticate_admin(unit: Unit, secret: str | None, *, request_id: str | None = None,
                             ip: str | None = None) -> Principal:
    """Resolve an admin key to its user's role; regular workspace keys are refused with 403."""
    if not secret:
        raise AuthenticationError("x-api-key header is required (an admin key, sk-stw-admin01-...).")
    if secret.startswith(API_KEY_PREFIX):
        raise PermissionDeniedError("This endpoint requires an admin key; workspace API keys cannot manage "
                                    "the organization.")
    if not well_formed(secret, ADMIN_KEY_PREFIX):
        raise AuthenticationError("invalid x-api-key: not a Steward admin key (wrong format or checksum).")
    key = await unit.admin_key_by_hash(hash_key(secret))
    if key is None or key.status != "active":
        raise AuthenticationError("invalid x-api-key")
    now = datetime.now(UTC)
    if key.expires_at is not None and key.expires_at <= now:
        raise AuthenticationError("This admin key has expired.")
    user = await unit.get(User, key.user_id)
    if user is None or user.removed_at is not None:
        raise AuthenticationError("This admin key's user has been removed.")
    memberships = {m.workspace_id: m.workspace_role for m in await unit.memberships(user.id)}
    return Principal(org_id=user.org_id, role=user.role, user_id=user.id, key_id=key.id,
                     memberships=memberships, read_only="read_only" in (key.scopes or []),
                     compliance="compliance" in (key.scopes or []),
                     request_id=request_id, ip=ip)
