"""Rollup storage: the upsert that adds deltas (used inside the shipper's transaction), report reads over the
rollups, raw-row reads for the cases rollups do not cover, and the rebuild's replace.

Dimensions a grain drops are stored as ``''`` and returned as None. Sums come back as Python ints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, cast, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from steward.storage.models import ApiKey, AuditEvent, UsageRecord, UsageRollup, User, Workspace
from steward.storage.models.rollups import DIMENSIONS, MEASURES

_TABLE = UsageRollup.metadata.tables["usage_rollups"]
_KEY = ["org_id", "width", "grain", "bucket_start", *DIMENSIONS]
# Raw columns a rollup needs (the accumulator's input), read for rebuilds and for reports rollups do not cover.
RAW_COLUMNS = ("id", "created_at", "endpoint", "org_id", "workspace_id", "api_key_id", "user_id", "tags", "model",
               "batch_id", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens",
               "output_tokens", "thinking_tokens", "web_search_requests", "web_fetch_requests",
               "code_execution_requests", "service_tier", "inference_geo", "stop_reason", "cost_picousd",
               "charged_picousd")
_RAW_FILTERS = frozenset({"workspace_id", "api_key_id", "model", "service_tier", "inference_geo", "user_id",
                          "stop_reason"})
_UPSERT_CHUNK = 2000
# Audit events of requests Steward answered itself (the refusals report): per request, and per-address summaries
# of sampled unauthenticated refusals (those carry no organization: no key was valid).
_REFUSAL_EVENTS = ("api_call", "auth.refused_summary")
_REFUSAL_COLUMNS = ("created_at", "event", "org_id", "workspace_id", "api_key_id", "model", "status", "decision",
                    "reason", "data")


def rollup_upsert(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET m = m + excluded.m`` for every measure."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_TABLE)
    return stmt.on_conflict_do_update(index_elements=_KEY,
                                      set_={m: _TABLE.c[m] + stmt.excluded[m] for m in MEASURES})


async def upsert_rollups(connection: AsyncConnection, upsert: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add ``rows`` (sorted by key: concurrent writers then lock in the same order) to the rollups."""
    for start in range(0, len(rows), _UPSERT_CHUNK):
        await connection.execute(upsert, list(rows[start:start + _UPSERT_CHUNK]))


class ReportsRepository:
    """Reads rollups and raw usage rows for the reports; replaces rollups for the rebuild."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._upsert = rollup_upsert(dialect)

    async def rollups(self, org_id: str, width: str, grain: str, start: datetime, end: datetime,
                      group: Sequence[str], filters: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
        """Sums per bucket and ``group`` dimensions over ``[start, end)``, with ``filters`` (dimension -> allowed
        values; ``None`` in the values matches ``''``)."""
        columns = [_TABLE.c[d] for d in group]
        # Sums per bucket fit a BIGINT (each stored value does); PostgreSQL would return NUMERIC (Decimal) else.
        sums = [cast(func.sum(_TABLE.c[m]), BigInteger) for m in MEASURES]
        stmt: Select[Any] = select(_TABLE.c.bucket_start, *columns, *sums)
        stmt = stmt.where(_TABLE.c.org_id == org_id, _TABLE.c.width == width, _TABLE.c.grain == grain,
                          _TABLE.c.bucket_start >= start, _TABLE.c.bucket_start < end)
        for name, values in filters.items():
            stmt = stmt.where(_TABLE.c[name].in_(["" if v is None else v for v in values]))
        stmt = stmt.group_by(_TABLE.c.bucket_start, *columns)
        async with self._sessions() as session:
            result = (await session.execute(stmt)).all()
        names = ("bucket_start", *group, *MEASURES)
        out = [dict(zip(names, row, strict=True)) for row in result]
        for name in group:
            if name == "batch":
                for item in out:
                    item[name] = bool(item[name])
            else:
                for item in out:
                    if item[name] == "":
                        item[name] = None
        return out

    async def raw(self, org_id: str, start: datetime, end: datetime,
                  filters: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
        """Raw usage rows over ``[start, end)`` as shipper-style dicts; filters on raw columns are applied in SQL,
        the caller applies the rest."""
        table = UsageRecord.metadata.tables["usage_records"]
        stmt = select(*(table.c[c] for c in RAW_COLUMNS)).where(
            table.c.org_id == org_id, table.c.created_at >= start, table.c.created_at < end)
        for name, values in filters.items():
            if name in _RAW_FILTERS and None not in values:
                stmt = stmt.where(table.c[name].in_(list(values)))
        async with self._sessions() as session:
            result = (await session.execute(stmt)).mappings().all()
        return [dict(row) for row in result]

    async def replace(self, org_id: str, start: datetime, end: datetime, rows: Sequence[Mapping[str, Any]]) -> int:
        """Delete every rollup row of ``org_id`` with a bucket in ``[start, end)`` and write ``rows`` instead, in
        one transaction. Returns the number of rows deleted."""
        async with self._sessions.begin() as session:
            connection = await session.connection()
            result = await connection.execute(delete(_TABLE).where(
                _TABLE.c.org_id == org_id, _TABLE.c.bucket_start >= start, _TABLE.c.bucket_start < end))
            await upsert_rollups(connection, self._upsert, rows)
            return int(result.rowcount or 0)

    async def raw_cost_total(self, org_id: str, start: datetime, end: datetime) -> tuple[int, int]:
        """Number of usage records and the sum of their ``cost_picousd`` over ``[start, end)``."""
        table = UsageRecord.metadata.tables["usage_records"]
        stmt = select(func.count(), func.sum(table.c.cost_picousd)).where(
            table.c.org_id == org_id, table.c.created_at >= start, table.c.created_at < end)
        async with self._sessions() as session:
            row = (await session.execute(stmt)).one()
        return int(row[0] or 0), int(row[1] or 0)

    async def names(self, org_id: str) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str, str]]]:
        """Display names: workspace id -> name, key id -> name, and every user as (id, name, email); archived
        workspaces and inactive keys included (old usage names them too)."""
        async with self._sessions() as session:
            workspaces = (await session.execute(select(Workspace.id, Workspace.name)
                                                .where(Workspace.org_id == org_id))).all()
            keys = (await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.org_id == org_id))).all()
            users = (await session.execute(select(User.id, User.name, User.email)
                                           .where(User.org_id == org_id))).all()
        return ({w: n for w, n in workspaces}, {k: n for k, n in keys},
                [(u, n, e) for u, n, e in users])

    async def refusals(self, org_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Audit events of refused requests over ``[start, end)``: the organization's, and the unauthenticated
        ones (no organization); the caller narrows and classifies them."""
        table = AuditEvent.metadata.tables["audit_events"]
        stmt = select(*(table.c[c] for c in _REFUSAL_COLUMNS)).where(
            table.c.created_at >= start, table.c.created_at < end, table.c.event.in_(_REFUSAL_EVENTS),
            table.c.decision.in_(("refused", "error")),
            (table.c.org_id == org_id) | table.c.org_id.is_(None))
        async with self._sessions() as session:
            result = (await session.execute(stmt)).mappings().all()
        return [dict(row) for row in result]
