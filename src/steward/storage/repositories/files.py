"""Which workspace owns which uploaded file (the Files API); read on file calls, never per message.

Messages that reference a file read ``owner`` once per (workspace, file) and cache the answer
(dataplane/files.py); messages without file references never reach this repository.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import FileRecord


class FileRepository:
    """File ownership rows: written on upload and delete, listed newest first per workspace."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, record: FileRecord) -> None:
        async with self._sessions.begin() as session:
            session.add(record)

    async def get(self, file_id: str) -> FileRecord | None:
        async with self._sessions() as session:
            return await session.get(FileRecord, file_id)

    async def owners(self, file_ids: Sequence[str]) -> dict[str, str]:
        """The owning workspace of each live file among ``file_ids`` (unknown and deleted ones are left out)."""
        out: dict[str, str] = {}
        ids = list(file_ids)
        async with self._sessions() as session:
            for start in range(0, len(ids), 500):  # bounded IN lists
                stmt = select(FileRecord.id, FileRecord.workspace_id).where(
                    FileRecord.id.in_(ids[start:start + 500]), FileRecord.deleted_at.is_(None))
                out.update({row.id: row.workspace_id for row in await session.execute(stmt)})
        return out

    async def page(self, workspace_id: str, *, limit: int, after: FileRecord | None = None,
                   before: FileRecord | None = None) -> tuple[list[FileRecord], bool]:
        """Up to ``limit`` live files, newest first, and whether more lie beyond them in the paging direction.

        ``after`` pages to older files, ``before`` to newer ones (the page nearest the cursor).
        """
        stmt = select(FileRecord).where(FileRecord.workspace_id == workspace_id, FileRecord.deleted_at.is_(None))
        if before is not None:
            stmt = stmt.where(or_(FileRecord.created_at > before.created_at,
                                  and_(FileRecord.created_at == before.created_at, FileRecord.id > before.id)))
            stmt = stmt.order_by(FileRecord.created_at.asc(), FileRecord.id.asc())
        else:
            if after is not None:
                stmt = stmt.where(or_(FileRecord.created_at < after.created_at,
                                      and_(FileRecord.created_at == after.created_at, FileRecord.id < after.id)))
            stmt = stmt.order_by(FileRecord.created_at.desc(), FileRecord.id.desc())
        async with self._sessions() as session:
            rows = list((await session.execute(stmt.limit(limit + 1))).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        if before is not None:
            rows.reverse()
        return rows, more

    async def with_ids(self, workspace_id: str, ids: Sequence[str]) -> list[FileRecord]:
        """The workspace's live files among ``ids``, newest first (others are silently left out, as the API does)."""
        stmt = select(FileRecord).where(FileRecord.workspace_id == workspace_id, FileRecord.deleted_at.is_(None),
                                        FileRecord.id.in_(list(ids)))
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
        return sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)

    async def mark_deleted(self, file_id: str, when: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(FileRecord).where(FileRecord.id == file_id).values(deleted_at=when))
