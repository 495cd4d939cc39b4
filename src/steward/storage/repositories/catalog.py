"""Catalog versions: the newest stored document (read by every gateway's snapshot), the history, and appends.

``CatalogRows`` works inside an admin unit of work (one transaction with the audit event and the config version
bump); ``CatalogRepository`` holds the reads the snapshot poller needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models.catalog import CatalogVersion
from steward.storage.models.records import UsageRecord


class CatalogRows:
    """Catalog-version operations inside one transaction (``AdminStore.unit()``'s session)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def latest(self) -> CatalogVersion | None:
        stmt = select(CatalogVersion).order_by(CatalogVersion.seq.desc()).limit(1)
        return (await self._session.execute(stmt)).scalars().first()

    async def history(self, limit: int) -> Sequence[CatalogVersion]:
        stmt = select(CatalogVersion).order_by(CatalogVersion.seq.desc()).limit(limit)
        return (await self._session.execute(stmt)).scalars().all()

    def add(self, row: CatalogVersion) -> None:
        self._session.add(row)


class CatalogRepository:
    """Reads for the snapshot poller: the newest version's id (cheap) and its document."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def latest_id(self) -> str | None:
        async with self._sessions() as session:
            stmt = select(CatalogVersion.id).order_by(CatalogVersion.seq.desc()).limit(1)
            return (await session.execute(stmt)).scalars().first()

    async def get(self, version_id: str) -> CatalogVersion | None:
        async with self._sessions() as session:
            return (await session.execute(select(CatalogVersion).where(CatalogVersion.id == version_id))
                    ).scalars().first()


class UnpricedUsage:
    """Reads of usage recorded without a price, for the reports' unpriced line."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def by_model(self, org_id: str, start: datetime, end: datetime) -> list[tuple[str, int, int, int]]:
        """(model, requests, input tokens, output tokens) of unpriced usage in [start, end), by model."""
        stmt = (select(UsageRecord.model, func.count(), func.sum(UsageRecord.input_tokens),
                       func.sum(UsageRecord.output_tokens))
                .where(UsageRecord.org_id == org_id, UsageRecord.unpriced.is_(True),
                       UsageRecord.created_at >= start, UsageRecord.created_at < end)
                .group_by(UsageRecord.model).order_by(UsageRecord.model))
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
        return [(str(model or ""), int(n), int(i or 0), int(o or 0)) for model, n, i, o in rows]
