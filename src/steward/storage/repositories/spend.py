"""Recorded spend: the sum of shipped usage records in one spend limit's scope since a moment (its period start).

One query for the snapshot (every limit's period-to-date spend), the spend-limits report and the Budget stage's
counter starts (``dataplane/spend_recovery.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import BatchRecord, UsageRecord

_IN_CHUNK = 1000  # ids per IN (...) list
# The usage column that names each scope of a spend limit.
SCOPE_COLUMNS = {"workspace": UsageRecord.workspace_id, "api_key": UsageRecord.api_key_id,
                 "user": UsageRecord.user_id, "organization": UsageRecord.org_id}


@dataclass(slots=True, frozen=True)
class SpendScope:
    """Whose spend, since when."""

    org_id: str
    scope: str  # organization, workspace, api_key, user
    scope_id: str
    since: datetime


def recorded_spend_query(where: SpendScope) -> Select[int]:
    """What was charged to caps: the cost, or the ceiling-rate charge of unpriced usage (``charged_picousd``)."""
    charged = func.coalesce(UsageRecord.charged_picousd, UsageRecord.cost_picousd)
    return select(func.coalesce(func.sum(charged), 0)).where(
        UsageRecord.org_id == where.org_id, SCOPE_COLUMNS[where.scope] == where.scope_id,
        UsageRecord.created_at >= where.since)


async def recorded_spend(session: AsyncSession, where: SpendScope) -> int:
    """Pico-USD of usage recorded in ``where``."""
    return int(await session.scalar(recorded_spend_query(where)) or 0)


@dataclass(slots=True, frozen=True)
class RecordedSpend:
    """One consistent read for spend counter starts (``dataplane/spend_recovery.py``)."""

    spent: list[int]                 # per scope asked: recorded charges
    present: set[str]                # of the usage ids asked: those the database holds
    batches: set[str]                # of the batch ids asked: those the database holds
    holds: list[dict[str, Any]]      # the holds of every batch not metered yet


class SpendRecords:
    """Reads recorded spend in its own transaction (the data plane has no unit of work)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def read(self, scopes: Sequence[SpendScope], usage_ids: Sequence[str],
                   batch_ids: Sequence[str]) -> RecordedSpend:
        """Which of ``usage_ids`` and ``batch_ids`` are recorded, the charges recorded in each scope and the
        outstanding batch holds, from one snapshot of the database (REPEATABLE READ on PostgreSQL; on SQLite the
        ids are read first, so a row arriving between the statements can only be counted twice, never missed)."""
        async with self._sessions() as session:
            connection = await session.connection()
            if connection.dialect.name == "postgresql":
                await connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            present = await _existing(session, UsageRecord.id, usage_ids)
            batches = await _existing(session, BatchRecord.id, batch_ids)
            spent = [await recorded_spend(session, where) for where in scopes]
            stmt = select(BatchRecord.budget_hold).where(BatchRecord.metered_at.is_(None),
                                                         BatchRecord.deleted_at.is_(None),
                                                         BatchRecord.budget_hold.is_not(None))
            found: list[dict[str, Any] | None] = list((await session.execute(stmt)).scalars())
        return RecordedSpend(spent, present, batches, [hold for hold in found if hold])


async def _existing(session: AsyncSession, column: Any, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for at in range(0, len(ids), _IN_CHUNK):
        chunk = list(ids[at:at + _IN_CHUNK])
        found.update((await session.execute(select(column).where(column.in_(chunk)))).scalars())
    return found
