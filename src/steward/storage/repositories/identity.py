"""Organization, workspace and API key persistence, and the config version that drives snapshots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import (
    ApiKey,
    ComplianceGroup,
    ComplianceGroupWorkspace,
    ConfigVersion,
    Organization,
    Policy,
    RateLimit,
    SpendLimit,
    Workspace,
)
from steward.storage.repositories.spend import SpendScope, recorded_spend


@dataclass(slots=True, frozen=True)
class SnapshotRows:
    """Everything the data plane's snapshot is built from, read in one transaction."""

    version: int
    organizations: Sequence[Organization]
    workspaces: Sequence[Workspace]
    keys: Sequence[ApiKey]
    rate_limits: Sequence[RateLimit] = ()
    spend_limits: Sequence[SpendLimit] = ()
    spent: dict[str, int] = field(default_factory=dict)  # spend limit id -> pico-USD recorded since period start
    policies: Sequence[Policy] = ()
    compliance_groups: Sequence[ComplianceGroup] = ()
    group_workspaces: Sequence[ComplianceGroupWorkspace] = ()


class IdentityRepository:
    """Reads and writes organizations, workspaces and keys; every write bumps the config version."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def _bump(self, session: AsyncSession) -> None:
        await session.execute(update(ConfigVersion).where(ConfigVersion.id == 1)
                              .values(version=ConfigVersion.version + 1))

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
            await self._bump(session)

    async def version(self) -> int:
        """The current config version (a one-row read, done by the snapshot poller, not per request)."""
        async with self._sessions() as session:
            value = await session.scalar(select(ConfigVersion.version).where(ConfigVersion.id == 1))
            return int(value or 0)

    async def snapshot_rows(self, period_starts: Mapping[str, datetime] | None = None) -> SnapshotRows:
        """Every organization, workspace, non-archived key and limit, with the version they belong to, and
        for each spend limit the spend recorded since its period started (``period_starts`` by period)."""
        period_starts = period_starts or {}
        async with self._sessions.begin() as session:
            version = int(await session.scalar(select(ConfigVersion.version)) or 0)
            orgs = (await session.execute(select(Organization))).scalars().all()
            workspaces = (await session.execute(select(Workspace))).scalars().all()
            keys = (await session.execute(select(ApiKey).where(ApiKey.status != "archived"))).scalars().all()
            limits = (await session.execute(select(RateLimit))).scalars().all()
            spend = (await session.execute(select(SpendLimit))).scalars().all()
            spent = {s.id: await self._spent(session, s, period_starts[s.period]) for s in spend} \
                if spend else {}
            policies = (await session.execute(select(Policy))).scalars().all()
            groups = (await session.execute(select(ComplianceGroup))).scalars().all()
            members = (await session.execute(select(ComplianceGroupWorkspace))).scalars().all()
            return SnapshotRows(version, orgs, workspaces, keys, limits, spend, spent, policies, groups, members)

    @staticmethod
    async def _spent(session: AsyncSession, limit: SpendLimit, since: datetime) -> int:
        return await recorded_spend(session, SpendScope(limit.org_id, limit.scope, limit.scope_id, since))

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
