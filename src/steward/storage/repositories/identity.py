"""Organization, workspace and API key persistence, and the config version that drives snapshots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage import config_log
from steward.storage.models import (
    ApiKey,
    ComplianceGroup,
    ComplianceGroupWorkspace,
    Organization,
    Policy,
    RateLimit,
    SpendLimit,
    User,
    Workspace,
)
from steward.storage.models.spend import PERSON_SCOPE


@dataclass(slots=True, frozen=True)
class ConfigRows:
    """The snapshot's small tables (everything but the keys), read in one transaction with their version."""

    version: int
    organizations: Sequence[Organization]
    workspaces: Sequence[Workspace]
    rate_limits: Sequence[RateLimit] = ()
    spend_limits: Sequence[SpendLimit] = ()
    policies: Sequence[Policy] = ()
    compliance_groups: Sequence[ComplianceGroup] = ()
    group_workspaces: Sequence[ComplianceGroupWorkspace] = ()
    people: Mapping[str, str] = field(default_factory=dict)  # user id -> email, of the people a spend limit caps


class KeyRow(NamedTuple):
    """What the snapshot needs of an API key (read with Core, without ORM objects: a million keys load in seconds)."""

    id: str
    org_id: str
    workspace_id: str
    name: str
    status: str
    key_hash: str
    expires_at: datetime | None
    scopes: dict[str, Any] | None
    previous_key_hash: str | None
    previous_valid_until: datetime | None
    created_by: str | None  # the person whose key it is (their per-person spend limits apply to it)


_KEY_COLUMNS = (ApiKey.id, ApiKey.org_id, ApiKey.workspace_id, ApiKey.name, ApiKey.status, ApiKey.key_hash,
                ApiKey.expires_at, ApiKey.scopes, ApiKey.previous_key_hash, ApiKey.previous_valid_until,
                ApiKey.created_by)


class IdentityRepository:
    """Reads and writes organizations, workspaces and keys; every write bumps the config version."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def _bump(self, session: AsyncSession) -> None:
        await config_log.bump(session)

    async def add(self, *objects: Organization | Workspace | ApiKey) -> None:
        """Insert new objects and bump the version."""
        async with self._sessions.begin() as session:
            session.add_all(objects)
            await session.flush()
            await self._bump(session)

    async def first_organization(self) -> Organization | None:
        async with self._sessions() as session:
            return (await session.execute(select(Organization).order_by(Organization.created_at)
                                          .limit(1))).scalar_one_or_none()

    async def find_workspace(self, org_id: str, name_or_id: str) -> Workspace | None:
        async with self._sessions() as session:
            stmt = select(Workspace).where(Workspace.org_id == org_id,
                                           or_(Workspace.id == name_or_id, Workspace.name == name_or_id))
            return (await session.execute(stmt)).scalar_one_or_none()

    async def list_workspaces(self, org_id: str, *, include_archived: bool = False) -> Sequence[Workspace]:
        async with self._sessions() as session:
            stmt = select(Workspace).where(Workspace.org_id == org_id).order_by(Workspace.id)
            if not include_archived:
                stmt = stmt.where(Workspace.archived_at.is_(None))
            return (await session.execute(stmt)).scalars().all()

    async def update_workspace(self, workspace_id: str, values: Mapping[str, object]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(Workspace).where(Workspace.id == workspace_id).values(**values))
            await self._bump(session)

    async def get_key(self, key_id: str) -> ApiKey | None:
        async with self._sessions() as session:
            return await session.get(ApiKey, key_id)

    async def list_keys(self, org_id: str, *, workspace_id: str | None = None,
                        status: str | None = None) -> Sequence[ApiKey]:
        async with self._sessions() as session:
            stmt = select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.id)
            if workspace_id:
                stmt = stmt.where(ApiKey.workspace_id == workspace_id)
            if status:
                stmt = stmt.where(ApiKey.status == status)
            return (await session.execute(stmt)).scalars().all()

    async def update_key(self, key_id: str, values: Mapping[str, object]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))
            config_log.note_keys(session, [key_id])
            await self._bump(session)

    async def version(self) -> int:
        """The current config version (a one-row read, done by the snapshot poller, not per request)."""
        async with self._sessions() as session:
            return await config_log.current_version(session)

    async def config_rows(self) -> ConfigRows:
        """Every organization, workspace, limit, policy and compliance group, with the config version they belong
        to (read first, in the same transaction: a change committed meanwhile is applied again as a delta)."""
        async with self._sessions.begin() as session:
            version = await config_log.current_version(session)

            async def every(model: type[Any]) -> Sequence[Any]:
                return (await session.execute(select(model))).scalars().all()

            spend = await every(SpendLimit)
            capped = [limit.scope_id for limit in spend if limit.scope == PERSON_SCOPE]
            found = (await session.execute(select(User.id, User.email).where(User.id.in_(capped)))).all() \
                if capped else []
            people = {user_id: email for user_id, email in found}
            return ConfigRows(version, await every(Organization), await every(Workspace), await every(RateLimit),
                              spend, await every(Policy), await every(ComplianceGroup),
                              await every(ComplianceGroupWorkspace), people)

    async def key_page(self, after_id: str, limit: int) -> list[KeyRow]:
        """Up to ``limit`` keys that are not archived, by id after ``after_id`` (the snapshot's full load)."""
        async with self._sessions() as session:
            rows = await session.execute(select(*_KEY_COLUMNS).where(ApiKey.id > after_id,
                                                                      ApiKey.status != "archived")
                                         .order_by(ApiKey.id).limit(limit))
            return [KeyRow._make(row) for row in rows]

    async def keys_by_id(self, ids: Sequence[str]) -> list[KeyRow]:
        """These keys, whatever their status (a delta: an archived or missing key leaves the snapshot)."""
        async with self._sessions() as session:
            rows = await session.execute(select(*_KEY_COLUMNS).where(ApiKey.id.in_(ids)))
            return [KeyRow._make(row) for row in rows]

    async def changes_since(self, version: int, limit: int) -> list[tuple[int, str, str]]:
        async with self._sessions() as session:
            return await config_log.changes_since(session, version, limit)

    async def record_last_used(self, last_used: Mapping[str, datetime]) -> None:
        """Write keys' last-use times, keeping the later of stored and given (no version bump)."""
        if not last_used:
            return
        async with self._sessions.begin() as session:
            for key_id, when in last_used.items():
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key_id,
                                         or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < when))
                    .values(last_used_at=when))

    async def count_keys(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)
