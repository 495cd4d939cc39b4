"""Recorded spend: the sum of shipped usage records in one spend limit's scope since a moment (its period start).

One query for the snapshot (every limit's period-to-date spend), the spend-limits report and the Budget stage's
counter starts (``dataplane/spend_recovery.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import UsageRecord

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
    return select(func.coalesce(func.sum(UsageRecord.cost_picousd), 0)).where(
        UsageRecord.org_id == where.org_id, SCOPE_COLUMNS[where.scope] == where.scope_id,
        UsageRecord.created_at >= where.since)


async def recorded_spend(session: AsyncSession, where: SpendScope) -> int:
    """Pico-USD of usage recorded in ``where``."""
    return int(await session.scalar(recorded_spend_query(where)) or 0)


class SpendRecords:
    """Reads recorded spend in its own transaction (the data plane has no unit of work)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def recorded(self, scopes: Sequence[SpendScope]) -> list[int]:
        async with self._sessions() as session:
            return [await recorded_spend(session, where) for where in scopes]
