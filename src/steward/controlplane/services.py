"""The control plane for local callers (the CLI, the demo, tests): services plus the operator's principal.

The local operator has database access, which already implies full control, so it acts as the
``system`` principal (organization admin); its actions are audited like any other admin action.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from typing import Any

from steward.controlplane.container import AdminServices
from steward.controlplane.organization import Initialised
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal, system_principal
from steward.errors import NotFoundError
from steward.settings import Settings
from steward.storage.engine import Database
from steward.storage.models import Workspace
from steward.storage.repositories.identity import IdentityRepository
from steward.storage.repositories.records import RecordsRepository


class ControlPlane:
    """Database handles and services for one CLI command or test; close it when done."""

    def __init__(self, settings: Settings) -> None:
        self.database = Database(settings.resolved_database_url())
        self.admin = AdminServices.build(self.database, settings)
        self.repo = IdentityRepository(self.database.sessions)
        self.records = RecordsRepository(self.database.sessions, self.database.dialect)

    async def close(self) -> None:
        await self.database.close()

    async def system(self) -> Principal:
        org = await self.admin.organization.current()
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return system_principal(org.id, f"cli:{user}")

    async def init(self, name: str, admin_email: str = "admin@localhost") -> Initialised:
        return await self.admin.organization.init(name, admin_email)

    async def workspace(self, name_or_id: str) -> Workspace:
        org = await self.admin.organization.current()
        found = await self.repo.find_workspace(org.id, name_or_id)
        if found is None:
            raise NotFoundError(f"No workspace {name_or_id!r}.")
        return found

    async def create_workspace(self, name: str, *, allowed_models: Sequence[str] | None = None) -> dict[str, Any]:
        return await self.admin.workspaces.create(await self.system(), name, allowed_models=allowed_models)

    async def archive_workspace(self, name_or_id: str) -> dict[str, Any]:
        ws = await self.workspace(name_or_id)
        return await self.admin.workspaces.archive(await self.system(), ws.id)

    async def create_key(self, workspace: str, name: str, *, expires_in_days: int | None = None,
                         scopes: dict[str, Any] | None = None, owner: str | None = None) -> dict[str, Any]:
        """A key in ``workspace`` (name or id); ``owner``, a user's id or email, makes it that person's."""
        ws = await self.workspace(workspace)
        system = await self.system()
        owner_id = None
        if owner is not None:
            found = (await self.admin.users.list(system, Paging.of(1), email=owner))["data"] if "@" in owner else []
            owner_id = found[0]["id"] if found else owner
        return await self.admin.keys.create(system, ws.id, name, expires_in_days=expires_in_days, scopes=scopes,
                                            owner=owner_id)

    async def set_key_status(self, key_id: str, status: str) -> dict[str, Any]:
        return await self.admin.keys.update(await self.system(), key_id, status=status)
