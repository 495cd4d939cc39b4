"""Compliance groups, their workspaces, per-organization data keys and encrypted stored content.

``GroupOps`` works inside an Admin API unit of work (one transaction with the audit event and the config version
bump); ``ContentRepository`` serves the data plane's key ring (at snapshot refresh, never per request), the
Compliance API's content reader and the retention job. SQLAlchemy stays in here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import AuditEvent, ComplianceGroup, ComplianceGroupWorkspace, OrgDataKey, StoredContent
from steward.storage.repositories.admin import Page, Unit

GovernanceRow = ComplianceGroup | ComplianceGroupWorkspace | OrgDataKey


class GroupOps:
    """Compliance-group reads and writes inside one admin unit of work."""

    def __init__(self, unit: Unit) -> None:
        self._unit = unit
        self._session = unit.session

    async def add(self, *rows: GovernanceRow) -> None:
        """Insert or update rows; the unit's transaction also bumps the config version (gateways reload)."""
        self._session.add_all(rows)
        await self._session.flush()
        await self._unit.bump_version()

    async def remove(self, row: GovernanceRow) -> None:
        await self._session.delete(row)
        await self._session.flush()
        await self._unit.bump_version()

    async def group(self, group_id: str) -> ComplianceGroup | None:
        return await self._session.get(ComplianceGroup, group_id)

    async def group_by_name(self, org_id: str, name: str) -> ComplianceGroup | None:
        stmt = select(ComplianceGroup).where(ComplianceGroup.org_id == org_id, ComplianceGroup.name == name)
        return (await self._session.execute(stmt.limit(1))).scalars().first()

    async def groups(self, org_id: str) -> Sequence[ComplianceGroup]:
        stmt = select(ComplianceGroup).where(ComplianceGroup.org_id == org_id).order_by(ComplianceGroup.id)
        return (await self._session.execute(stmt)).scalars().all()

    async def groups_page(self, org_id: str, *, limit: int, before_id: str | None,
                          after_id: str | None) -> Page[ComplianceGroup]:
        """Oldest first, by id (ids are time-ordered); ``before_id`` pages backwards."""
        stmt = select(ComplianceGroup).where(ComplianceGroup.org_id == org_id)
        if after_id is not None:
            stmt = stmt.where(ComplianceGroup.id > after_id).order_by(ComplianceGroup.id.asc())
        elif before_id is not None:
            stmt = stmt.where(ComplianceGroup.id < before_id).order_by(ComplianceGroup.id.desc())
        else:
            stmt = stmt.order_by(ComplianceGroup.id.asc())
        rows = list((await self._session.execute(stmt.limit(limit + 1))).scalars().all())
        page: Page[ComplianceGroup] = Page(rows[:limit])
        page.has_more = len(rows) > limit
        if before_id is not None and after_id is None:
            page.reverse()
        return page

    async def members(self, group_ids: Sequence[str]) -> dict[str, list[str]]:
        """Workspace ids of each group (sorted)."""
        out: dict[str, list[str]] = {gid: [] for gid in group_ids}
        if not group_ids:
            return out
        stmt = (select(ComplianceGroupWorkspace).where(ComplianceGroupWorkspace.group_id.in_(list(group_ids)))
                .order_by(ComplianceGroupWorkspace.workspace_id))
        for row in (await self._session.execute(stmt)).scalars().all():
            out[row.group_id].append(row.workspace_id)
        return out

    async def membership(self, group_id: str, workspace_id: str) -> ComplianceGroupWorkspace | None:
        return await self._session.get(ComplianceGroupWorkspace, (group_id, workspace_id))

    async def data_key(self, org_id: str) -> OrgDataKey | None:
        stmt = select(OrgDataKey).where(OrgDataKey.org_id == org_id).order_by(OrgDataKey.created_at.desc())
        return (await self._session.execute(stmt.limit(1))).scalars().first()


@dataclass(slots=True, frozen=True)
class PurgeCounts:
    """What one retention pass found due, per organization: deleted rows and rows kept by a legal hold."""

    org_id: str
    deleted: int
    held: int


class ContentRepository:
    """Data keys for the gateway's key ring; stored content for the reader and the retention job."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def data_keys(self) -> Sequence[OrgDataKey]:
        """Every organization's data keys (wrapped), newest first."""
        async with self._sessions() as session:
            stmt = select(OrgDataKey).order_by(OrgDataKey.org_id, OrgDataKey.created_at.desc())
            return (await session.execute(stmt)).scalars().all()

    async def content(self, org_id: str, request_ids: Sequence[str]) -> Sequence[StoredContent]:
        async with self._sessions() as session:
            stmt = select(StoredContent).where(StoredContent.org_id == org_id,
                                               StoredContent.request_id.in_(list(request_ids)))
            return (await session.execute(stmt)).scalars().all()

    async def count(self, org_id: str | None = None) -> int:
        async with self._sessions() as session:
            stmt = select(func.count()).select_from(StoredContent)
            if org_id is not None:
                stmt = stmt.where(StoredContent.org_id == org_id)
            return int(await session.scalar(stmt) or 0)

    @staticmethod
    async def _held_workspaces(session: AsyncSession) -> list[str]:
        stmt = (select(ComplianceGroupWorkspace.workspace_id)
                .join(ComplianceGroup, ComplianceGroup.id == ComplianceGroupWorkspace.group_id)
                .where(ComplianceGroup.legal_hold.is_(True)))
        return sorted(set((await session.execute(stmt)).scalars().all()))

    @staticmethod
    async def _due(session: AsyncSession, now: datetime, held: list[str]) -> dict[str, list[int]]:
        """Organization -> [due and not held, due but held]."""
        counts: dict[str, list[int]] = {}
        stmt = (select(StoredContent.org_id, StoredContent.workspace_id, func.count())
                .where(StoredContent.purge_after <= now)
                .group_by(StoredContent.org_id, StoredContent.workspace_id))
        for org_id, workspace_id, n in (await session.execute(stmt)).all():
            slot = counts.setdefault(org_id, [0, 0])
            slot[1 if workspace_id in held else 0] += int(n)
        return counts

    async def purge(self, now: datetime, *, dry_run: bool,
                    audit: Callable[[list[PurgeCounts]], Sequence[AuditEvent]] | None = None) -> list[PurgeCounts]:
        """Delete content whose ``purge_after`` passed, except in workspaces under a legal hold.

        ``audit`` (called with the counts, returning audit events) lets the caller write its events in the
        same transaction as the delete: the purge and its record commit together.
        """
        async with self._sessions.begin() as session:
            held = await self._held_workspaces(session)
            counts = await self._due(session, now, held)
            result = [PurgeCounts(org, deleted, kept) for org, (deleted, kept) in sorted(counts.items())]
            if dry_run or not result:
                return result
            stmt = delete(StoredContent).where(StoredContent.purge_after <= now)
            if held:
                stmt = stmt.where(StoredContent.workspace_id.not_in(held))
            await session.execute(stmt)
            if audit is not None:
                session.add_all(audit(result))
            return result
