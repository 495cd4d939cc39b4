"""Identity services used by the CLI now and the Admin API later: one place for the rules.

Every change goes through ``IdentityRepository``, which bumps the config version so that every gateway
process reloads its snapshot within ``snapshot_poll_interval``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from steward.errors import ConflictError, InvalidRequestError, NotFoundError
from steward.identity.keyformat import mint
from steward.ids import new_id
from steward.settings import Settings
from steward.storage.engine import Database
from steward.storage.models import ApiKey, Organization, Workspace
from steward.storage.repositories.identity import IdentityRepository
from steward.storage.repositories.records import RecordsRepository

_WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$")
KEY_STATUSES = ("active", "inactive", "archived")


@dataclass(slots=True, frozen=True)
class CreatedKey:
    """A new key: its row and the secret, which is shown this once and never stored."""

    key: ApiKey
    secret: str


class IdentityService:
    def __init__(self, repo: IdentityRepository) -> None:
        self.repo = repo

    async def organization(self) -> Organization:
        org = await self.repo.first_organization()
        if org is None:
            raise NotFoundError("No organization yet: run `steward init` first.")
        return org

    async def init_organization(self, name: str) -> tuple[Organization, bool]:
        """The organization, created if there is none; the flag says whether it was created now."""
        existing = await self.repo.first_organization()
        if existing is not None:
            return existing, False
        org = Organization(id=str(uuid.uuid4()), name=name, created_at=datetime.now(UTC))
        await self.repo.add(org)
        return org, True

    async def create_workspace(self, name: str, *, allowed_models: Sequence[str] | None = None,
                               display_color: str | None = None) -> Workspace:
        if not _WORKSPACE_NAME.match(name):
            raise InvalidRequestError("name: 1-40 characters: letters, digits, space, _ . - (starting with a "
                                      "letter or digit)")
        org = await self.organization()
        if await self.repo.find_workspace(org.id, name) is not None:
            raise ConflictError(f"A workspace named {name!r} already exists.")
        workspace = Workspace(id=new_id("wrkspc"), org_id=org.id, name=name, display_color=display_color,
                              created_at=datetime.now(UTC), archived_at=None,
                              allowed_models=list(allowed_models) if allowed_models else None, tags=None)
        await self.repo.add(workspace)
        return workspace

    async def workspace(self, name_or_id: str) -> Workspace:
        org = await self.organization()
        workspace = await self.repo.find_workspace(org.id, name_or_id)
        if workspace is None:
            raise NotFoundError(f"No workspace {name_or_id!r}.")
        return workspace

    async def archive_workspace(self, name_or_id: str) -> Workspace:
        workspace = await self.workspace(name_or_id)
        await self.repo.update_workspace(workspace.id, {"archived_at": datetime.now(UTC)})
        return await self.workspace(workspace.id)

    async def create_key(self, workspace: str, name: str, *, expires_in_days: int | None = None,
                         created_by: str | None = None) -> CreatedKey:
        if not 1 <= len(name) <= 500:
            raise InvalidRequestError("name: 1-500 characters")
        ws = await self.workspace(workspace)
        if ws.archived_at is not None:
            raise InvalidRequestError(f"Workspace {ws.name!r} is archived.")
        if expires_in_days is not None and expires_in_days < 1:
            raise InvalidRequestError("expires_in_days: must be at least 1")
        minted = mint()
        now = datetime.now(UTC)
        key = ApiKey(id=new_id("apikey"), org_id=ws.org_id, workspace_id=ws.id, name=name, status="active",
                     key_hash=minted.key_hash, partial_key_hint=minted.hint, created_at=now,
                     created_by=created_by, last_used_at=None,
                     expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None)
        await self.repo.add(key)
        return CreatedKey(key, minted.secret)

    async def set_key_status(self, key_id: str, status: str) -> ApiKey:
        if status not in KEY_STATUSES:
            raise InvalidRequestError(f"status: one of {', '.join(KEY_STATUSES)}")
        key = await self.repo.get_key(key_id)
        if key is None:
            raise NotFoundError(f"No API key {key_id!r}.")
        if key.status == "archived":
            raise InvalidRequestError("An archived key cannot be changed.")
        await self.repo.update_key(key_id, {"status": status})
        updated = await self.repo.get_key(key_id)
        assert updated is not None
        return updated


class ControlPlane:
    """Database handles and services for one CLI command or test; close it when done."""

    def __init__(self, settings: Settings) -> None:
        self.database = Database(settings.resolved_database_url())
        repo = IdentityRepository(self.database.sessions)
        self.identity = IdentityService(repo)
        self.records = RecordsRepository(self.database.sessions, self.database.dialect)

    async def close(self) -> None:
        await self.database.close()
