"""The organization: ``/me``, and first-run set-up (organization, first admin user, first admin key)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from steward.controlplane.audit import admin_event
from steward.controlplane.principal import Principal, system_principal
from steward.errors import NotFoundError
from steward.identity.keyformat import ADMIN_KEY_PREFIX, mint
from steward.ids import new_id
from steward.storage.models import AdminKey, Organization, User
from steward.storage.repositories.admin import AdminStore


@dataclass(slots=True, frozen=True)
class Initialised:
    organization: Organization
    created: bool
    admin_user: User | None = None
    admin_secret: str | None = None


class OrganizationService:
    def __init__(self, store: AdminStore) -> None:
        self._store = store

    async def me(self, principal: Principal) -> dict[str, Any]:
        async with self._store.unit() as unit:
            org = await unit.get(Organization, principal.org_id)
            if org is None:
                raise NotFoundError("organization not found")
            return {"id": org.id, "type": "organization", "name": org.name}

    async def current(self) -> Organization:
        async with self._store.unit() as unit:
            org = await unit.organization()
        if org is None:
            raise NotFoundError("No organization yet: run `steward init` first.")
        return org

    async def init(self, name: str, admin_email: str, label: str = "steward init") -> Initialised:
        """Create the organization and its first admin (with an admin key, secret shown once); idempotent."""
        async with self._store.unit() as unit:
            existing = await unit.organization()
            if existing is not None:
                return Initialised(existing, created=False)
            now = datetime.now(UTC)
            org = Organization(id=str(uuid.uuid4()), name=name, created_at=now)
            user = User(id=new_id("user"), org_id=org.id, email=admin_email.lower(), name="Administrator",
                        role="admin", added_at=now, removed_at=None)
            minted = mint(ADMIN_KEY_PREFIX)
            key = AdminKey(id=new_id("adminkey"), org_id=org.id, user_id=user.id, name="first admin key",
                           status="active", key_hash=minted.key_hash, partial_key_hint=minted.hint, scopes=[],
                           created_at=now, expires_at=None, last_used_at=None)
            unit.add(org)
            await unit.flush()
            unit.add(user)
            await unit.flush()
            unit.add(key)
            unit.audit(admin_event(system_principal(org.id, label), "admin.organization.init",
                                   target={"organization_id": org.id},
                                   after={"name": name, "admin_user_id": user.id, "admin_key_id": key.id}))
            return Initialised(org, True, user, minted.secret)
