"""Usage records and audit events: idempotent batch inserts (the journal may replay) and simple reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import AuditEvent, UsageRecord, Workspace
from steward.storage.repositories.reports import rollup_upsert, upsert_rollups

# Turns the usage rows a batch really inserted into rollup deltas (reporting.rollups; storage stays plane-free).
RollupDeriver = Callable[[Sequence[Mapping[str, Any]]], Sequence[Mapping[str, Any]]]


@dataclass(slots=True, frozen=True)
class WorkspaceUsage:
    """Totals of one workspace's usage records."""

    workspace_id: str
    workspace_name: str | None
    requests: int
    input_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    output_tokens: int
    cost_picousd: int


class RecordsRepository:
    """Writes what the journal shipper hands over; reads for the CLI, the demo and tests."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        tables = UsageRecord.metadata.tables
        self._usage_insert = insert(tables["usage_records"]).on_conflict_do_nothing(index_elements=["id"])
        self._audit_insert = insert(tables["audit_events"]).on_conflict_do_nothing(index_elements=["id"])
        self._content_insert = insert(tables["stored_content"]).on_conflict_do_nothing(index_elements=["id"])
        self._batch_insert = insert(tables["batches"]).on_conflict_do_nothing(index_elements=["id"])
        self._usage_returning = self._usage_insert.returning(tables["usage_records"].c.id)
        self._rollup_upsert = rollup_upsert(dialect)

    async def insert(self, usage: Sequence[Mapping[str, Any]], audit: Sequence[Mapping[str, Any]],
                     rollups: RollupDeriver | None = None) -> None:
        """Insert both kinds in one transaction; rows already present (a replay) are skipped. With ``rollups``,
        the usage rows actually inserted (never a replayed one) are added to the rollups in the same transaction."""
        # Core inserts on the tables (not the ORM bulk path): a fraction of the CPU per row. One executemany
        # needs one set of keys: rows journaled before the unpriced flag or the charged column existed lack them.
        usage = [u if "charged_picousd" in u else {"unpriced": False, **u, "charged_picousd": None} for u in usage]
        async with self._sessions.begin() as session:
            connection = await session.connection()
            if usage and rollups is not None:
                fresh = set((await connection.execute(self._usage_returning, list(usage))).scalars())
                deltas = rollups([u for u in usage if u["id"] in fresh] if len(fresh) < len(usage) else usage)
                await upsert_rollups(connection, self._rollup_upsert, deltas)
            elif usage:
                await connection.execute(self._usage_insert, list(usage))
            if audit:
                await connection.execute(self._audit_insert, list(audit))

    async def insert_content(self, content: Sequence[Mapping[str, Any]]) -> None:
        """Insert sealed content rows (full audit); replays are skipped like the other kinds."""
        if content:
            async with self._sessions.begin() as session:
                await (await session.connection()).execute(self._content_insert, list(content))

    async def insert_batches(self, batches: Sequence[Mapping[str, Any]]) -> None:
        """Insert batch rows a gateway journaled because it could not write them; a row already there is kept."""
        if batches:
            async with self._sessions.begin() as session:
                await (await session.connection()).execute(self._batch_insert, list(batches))

    async def usage_by_workspace(self, org_id: str, since: datetime | None = None) -> list[WorkspaceUsage]:
        async with self._sessions() as session:
            stmt = (select(UsageRecord.workspace_id, Workspace.name, func.count(),
                           func.sum(UsageRecord.input_tokens),
                           func.sum(UsageRecord.cache_write_5m_tokens + UsageRecord.cache_write_1h_tokens),
                           func.sum(UsageRecord.cache_read_tokens), func.sum(UsageRecord.output_tokens),
                           func.sum(UsageRecord.cost_picousd))
                    .join(Workspace, Workspace.id == UsageRecord.workspace_id, isouter=True)
                    .where(UsageRecord.org_id == org_id)
                    .group_by(UsageRecord.workspace_id, Workspace.name).order_by(Workspace.name))
            if since is not None:
                stmt = stmt.where(UsageRecord.created_at >= since)
            rows = (await session.execute(stmt)).all()
        return [WorkspaceUsage(r[0], r[1], int(r[2]), int(r[3] or 0), int(r[4] or 0), int(r[5] or 0),
                               int(r[6] or 0), int(r[7] or 0)) for r in rows]

    async def usage_for_requests(self, request_ids: Sequence[str]) -> Sequence[UsageRecord]:
        async with self._sessions() as session:
            stmt = select(UsageRecord).where(UsageRecord.request_id.in_(list(request_ids)))
            return (await session.execute(stmt)).scalars().all()

    async def usage_all(self, org_id: str | None = None) -> Sequence[UsageRecord]:
        async with self._sessions() as session:
            stmt = select(UsageRecord).order_by(UsageRecord.created_at)
            if org_id:
                stmt = stmt.where(UsageRecord.org_id == org_id)
            return (await session.execute(stmt)).scalars().all()

    async def latest_audit(self, limit: int = 20) -> Sequence[AuditEvent]:
        async with self._sessions() as session:
            stmt = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
            return (await session.execute(stmt)).scalars().all()

    async def audit_for_requests(self, request_ids: Sequence[str]) -> Sequence[AuditEvent]:
        async with self._sessions() as session:
            stmt = select(AuditEvent).where(AuditEvent.request_id.in_(list(request_ids)))
            return (await session.execute(stmt)).scalars().all()

    async def counts(self) -> tuple[int, int]:
        """Number of usage records and audit events."""
        async with self._sessions() as session:
            usage = await session.scalar(select(func.count()).select_from(UsageRecord))
            audit = await session.scalar(select(func.count()).select_from(AuditEvent))
            return int(usage or 0), int(audit or 0)
