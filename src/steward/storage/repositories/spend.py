"""Recorded spend: what shipped usage charged one spend limit's scope since its period started.

Read from the daily rollups (``charged_picousd``, kept exact in the shipper's transaction with the usage rows
themselves), never by summing raw usage: a month of a busy workspace is millions of records but thirty rollup rows
per model. Periods start at a UTC midnight, so daily buckets cover them exactly. One query for the spend-limits
report and the Budget stage's counter starts (``dataplane/spend_recovery.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import ApiKey, BatchRecord, UsageRecord, UsageRollup
from steward.storage.models.spend import END_USER_SCOPE, PERSON_SCOPE

_IN_CHUNK = 1000  # ids per IN (...) list
_ROLLUPS = UsageRollup.__table__
# The rollup grain (written daily) that keeps each scope's dimension, and that dimension's column.
# A person's spend is their keys' (the key grain, keys created by them: ``api_keys.created_by``).
SCOPE_ROLLUPS = {"workspace": ("ws", _ROLLUPS.c.workspace_id), "api_key": ("key", _ROLLUPS.c.api_key_id),
                 END_USER_SCOPE: ("all", _ROLLUPS.c.user_id), "organization": ("ws", _ROLLUPS.c.org_id),
                 PERSON_SCOPE: ("key", _ROLLUPS.c.api_key_id)}


@dataclass(slots=True, frozen=True)
class SpendScope:
    """Whose spend, since when."""

    org_id: str
    scope: str  # organization, workspace, api_key, user (an end user), person
    scope_id: str
    since: datetime


def recorded_spend_query(where: SpendScope) -> Select[int]:
    """What was charged to caps: the cost, or the ceiling-rate charge of unpriced usage (``charged_picousd``),
    from the daily rollups of the scope's grain since ``where.since`` (a UTC midnight)."""
    grain, column = SCOPE_ROLLUPS[where.scope]
    whose = column.in_(select(ApiKey.id).where(ApiKey.org_id == where.org_id, ApiKey.created_by == where.scope_id)) \
        if where.scope == PERSON_SCOPE else column == where.scope_id
    return select(func.coalesce(func.sum(_ROLLUPS.c.charged_picousd), 0)).where(
        _ROLLUPS.c.org_id == where.org_id, _ROLLUPS.c.width == "1d", _ROLLUPS.c.grain == grain,
        whose, _ROLLUPS.c.bucket_start >= where.since)


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
