"""Which workspace owns which Message Batch, and whether its results have been metered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import BatchRecord


class BatchRepository:
    """Batch ownership rows (written on batch creation, which is not the messages hot path)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, record: BatchRecord) -> None:
        """Write a batch's row once: the row of a batch created while the database refused it is written both by
        the shipper (from the journal) and by the metering worker's retry, in either order; the second is a no-op."""
        row = {column.key: getattr(record, column.key) for column in BatchRecord.__table__.columns}
        async with self._sessions.begin() as session:
            connection = await session.connection()
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            await connection.execute(insert(BatchRecord).values(**row).on_conflict_do_nothing(index_elements=["id"]))

    async def get(self, batch_id: str) -> BatchRecord | None:
        async with self._sessions() as session:
            return await session.get(BatchRecord, batch_id)

    async def page(self, workspace_id: str, *, limit: int, before_id: str | None,
                   after_id: str | None) -> Sequence[BatchRecord]:
        """Newest first, like the API: ``after_id`` pages to older batches, ``before_id`` to newer."""
        async with self._sessions() as session:
            stmt = select(BatchRecord).where(BatchRecord.workspace_id == workspace_id,
                                             BatchRecord.deleted_at.is_(None))
            if after_id:
                stmt = stmt.where(BatchRecord.id < after_id).order_by(BatchRecord.id.desc())
            elif before_id:
                stmt = stmt.where(BatchRecord.id > before_id).order_by(BatchRecord.id.asc())
            else:
                stmt = stmt.order_by(BatchRecord.id.desc())
            rows = list((await session.execute(stmt.limit(limit + 1))).scalars().all())
        if before_id and not after_id:
            rows.reverse()
        return rows

    async def queued_requests(self, org_id: str, *, workspace_id: str | None = None,
                              api_key_id: str | None = None) -> int:
        """Requests in this scope's batches that have not ended (not yet metered, not deleted)."""
        stmt = select(func.coalesce(func.sum(BatchRecord.request_count), 0)).where(
            BatchRecord.org_id == org_id, BatchRecord.metered_at.is_(None), BatchRecord.deleted_at.is_(None))
        if workspace_id is not None:
            stmt = stmt.where(BatchRecord.workspace_id == workspace_id)
        if api_key_id is not None:
            stmt = stmt.where(BatchRecord.api_key_id == api_key_id)
        async with self._sessions() as session:
            return int(await session.scalar(stmt) or 0)

    async def unmetered(self, limit: int = 100) -> Sequence[BatchRecord]:
        async with self._sessions() as session:
            stmt = select(BatchRecord).where(BatchRecord.metered_at.is_(None),
                                             BatchRecord.deleted_at.is_(None)).limit(limit)
            return (await session.execute(stmt)).scalars().all()

    async def mark(self, batch_id: str, *, metered_at: datetime | None = None,
                   deleted_at: datetime | None = None) -> None:
        values = {k: v for k, v in (("metered_at", metered_at), ("deleted_at", deleted_at)) if v}
        async with self._sessions.begin() as session:
            await session.execute(update(BatchRecord).where(BatchRecord.id == batch_id).values(**values))
