"""Usage records and audit events: idempotent batch inserts (the journal may replay) and simple reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from steward.storage.models import AuditEvent, UsageRecord, Workspace
from steward.storage.models.base import UTCDateTime
from steward.storage.repositories.audit import Sealing, plain_json, seal_queued
from steward.storage.repositories.reports import rollup_upsert, upsert_rollups

# Turns the usage rows a batch really inserted into rollup deltas (reporting.rollups; storage stays plane-free).
RollupDeriver = Callable[[Sequence[Mapping[str, Any]]], Sequence[Mapping[str, Any]]]
# The chain's sealing function of one organization ("" for events without one): compliance.chain.sealing_for.
SealingFor = Callable[[str], Sealing]
# A usage row's field that is not a column: the meter's cost split, which the rollups read (reporting.rollups).
EXTRA = "cost_split"
SEAL_LIMIT = 5000  # queued events sealed per chain in a shipper's transaction; the sealer takes any rest


def _first_of_each(rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """The rows with their first copy of each id (the rows themselves when no id repeats)."""
    if len({row["id"] for row in rows}) == len(rows):
        return rows
    first: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        first.setdefault(row["id"], row)
    return list(first.values())


class _Replayed(Exception):
    """Some rows of a batch were stored already (a replay after a crash): redo it the slow, exact way."""


class _SealRaced(Exception):
    """Another sealer took the chain positions first: store the batch without sealing (its events stay queued)."""


def _column_defaults(table: Table) -> dict[str, Any]:
    """Each column's value for a row that lacks it (an older journal line): its scalar default, else NULL."""
    return {c.name: c.default.arg if c.default is not None and c.default.is_scalar else None  # type: ignore[attr-defined]
            for c in table.columns}


class _SqliteRows:
    """One table's insert as SQLite's own driver takes it: the statement text once, named parameters read from the
    row dicts in C (keys it does not name are ignored), so per row only the datetime and JSON values are converted
    (to what SQLAlchemy's SQLite types store: ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, JSON text, ``null`` for
    None). A fraction of the Core path's CPU per row; rows are stored byte for byte as that path stores them."""

    def __init__(self, table: Table) -> None:
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=["id"])
        self.sql = str(statement.compile(dialect=sqlite.dialect(paramstyle="named")))
        self._times = [c.name for c in table.columns if isinstance(c.type, UTCDateTime)]
        self._json = [c.name for c in table.columns if isinstance(c.type, JSON)]
        self._defaults = _column_defaults(table)

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            params = {**self._defaults, **row}
            for name in self._times:
                if (value := params[name]) is not None:
                    params[name] = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            for name in self._json:
                params[name] = orjson.dumps(params[name]).decode()
            out.append(params)
        return out


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

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str, *, driver_rows: bool = True) -> None:
        """``driver_rows=False`` keeps SQLite on the Core path too (the tests compare what the two store)."""
        self._sessions = sessions
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        tables = UsageRecord.metadata.tables
        self._usage_insert = insert(tables["usage_records"]).on_conflict_do_nothing(index_elements=["id"])
        self._audit_insert = insert(tables["audit_events"]).on_conflict_do_nothing(index_elements=["id"])
        self._content_insert = insert(tables["stored_content"]).on_conflict_do_nothing(index_elements=["id"])
        self._batch_insert = insert(tables["batches"]).on_conflict_do_nothing(index_elements=["id"])
        self._usage_returning = self._usage_insert.returning(tables["usage_records"].c.id)
        self._rollup_upsert = rollup_upsert(dialect)
        self._dialect = dialect
        self._usage_defaults = _column_defaults(tables["usage_records"])
        self._sqlite = (_SqliteRows(tables["usage_records"]), _SqliteRows(tables["audit_events"])) \
            if dialect == "sqlite" and driver_rows else None

    async def insert(self, usage: Sequence[Mapping[str, Any]], audit: Sequence[Mapping[str, Any]],
                     rollups: RollupDeriver | None = None, sealing: SealingFor | None = None) -> None:
        """Insert both kinds in one transaction; rows already present (a replay) are skipped. With ``rollups``,
        the usage rows actually inserted (never a replayed one) are added to the rollups in the same transaction.
        With ``sealing``, the audit chains of these rows' organizations are extended in that transaction too, from
        the rows in memory (events queued earlier by other writers first, read back: arrival order holds)."""
        # One record per id: the same batch result journaled twice (concurrent downloads meter it twice) must count
        # once in the rollups, as it is stored once.
        usage, audit = _first_of_each(usage), _first_of_each(audit)
        try:
            await self._insert(usage, audit, rollups, sealing)
        except _SealRaced:  # rolled back; never a reason to refuse the rows
            await self._insert(usage, audit, rollups, None)

    async def _insert(self, usage: Sequence[Mapping[str, Any]], audit: Sequence[Mapping[str, Any]],
                      rollups: RollupDeriver | None, sealing: SealingFor | None) -> None:
        if self._sqlite is not None:
            try:
                async with self._sessions.begin() as session:
                    await self._insert_sqlite(await session.connection(), usage, audit, rollups, sealing)
                return
            except _Replayed:
                pass  # rolled back: the Core path below tells the fresh rows from the replayed ones
        # One executemany needs one set of keys, all columns: rows journaled before the unpriced flag or the charged
        # column existed lack them, and the cost split is no column (the rollups read it from ``usage``).
        columns = [self._usage_defaults | {k: v for k, v in u.items() if k != EXTRA}
                   if EXTRA in u or u.keys() != self._usage_defaults.keys() else u for u in usage]
        async with self._sessions.begin() as session:
            connection = await session.connection()
            if usage and rollups is not None:
                fresh = set((await connection.execute(self._usage_returning, columns)).scalars())
                deltas = rollups([u for u in usage if u["id"] in fresh] if len(fresh) < len(usage) else usage)
                await upsert_rollups(connection, self._rollup_upsert, deltas)
            elif usage:
                await connection.execute(self._usage_insert, columns)
            if audit:
                await connection.execute(self._audit_insert, list(audit))
                await self._seal(connection, audit, sealing)

    async def _insert_sqlite(self, connection: AsyncConnection, usage: Sequence[Mapping[str, Any]],
                             audit: Sequence[Mapping[str, Any]], rollups: RollupDeriver | None,
                             sealing: SealingFor | None) -> None:
        assert self._sqlite is not None
        usage_rows, audit_rows = self._sqlite
        if usage:
            result = await connection.exec_driver_sql(usage_rows.sql, usage_rows.params(usage))
            if rollups is not None:
                if result.rowcount != len(usage):
                    raise _Replayed
                await upsert_rollups(connection, self._rollup_upsert, rollups(usage))
        if audit:
            await connection.exec_driver_sql(audit_rows.sql, audit_rows.params(audit))
            await self._seal(connection, audit, sealing)

    async def _seal(self, connection: AsyncConnection, audit: Sequence[Mapping[str, Any]],
                    sealing: SealingFor | None) -> None:
        """Seal the chains these events belong to (a replayed event was never queued again: only fresh ones are)."""
        if sealing is None:
            return
        # Hashed from memory only when the value reads back as written: JSON numbers other than integers (PostgreSQL's
        # JSONB writes 1e16 back as an integer, -0.0 as 0.0) are read back and hashed as stored.
        known = {event["id"]: event for event in audit if plain_json(event.get("data"))}
        try:
            for org in sorted({event["org_id"] or "" for event in audit}):
                await seal_queued(connection, self._dialect, org, max(SEAL_LIMIT, len(known)), sealing(org), known)
        except IntegrityError as exc:
            raise _SealRaced from exc

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
                    .group_by(UsageRecord.workspace_id, Workspace.name)
                    .order_by(func.sum(UsageRecord.cost_picousd).desc(), Workspace.name))  # the most expensive first
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
