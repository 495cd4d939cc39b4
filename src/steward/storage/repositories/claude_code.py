"""Claude Code analytics storage: counter upserts from OTLP ingest, cumulative-series state, and report reads.

One ingest is one transaction: the last values of the cumulative series it touches are read, the differences
added to the day counters (``value = value + excluded.value`` on both backends) and the new last values stored.
Reads return the day counters and the gateway's own Claude Code traffic (usage records that carry
``claude_code_session_id``) grouped per day, key, end user, session and model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from steward.storage.models import ApiKey, ClaudeCodeUsage, OtlpSeries, UsageRecord, User

_KEY = ("org_id", "day", "actor_type", "actor", "project", "session_id", "source", "metric", "dimension")


@dataclass(slots=True, frozen=True)
class Counter:
    """Where an amount goes: one row of ``claude_code_usage`` (without its value)."""

    day: date
    actor_type: str
    actor: str
    project: str
    session_id: str
    source: str
    metric: str
    dimension: str
    workspace_id: str
    terminal_type: str | None


@dataclass(slots=True, frozen=True)
class Delta:
    """An amount to add (a delta-temporality point, or one log event)."""

    counter: Counter
    value: int


@dataclass(slots=True, frozen=True)
class Cumulative:
    """A cumulative point: only its difference from the series' last value is added."""

    counter: Counter
    series: str
    start_ns: int
    value: int


@dataclass(slots=True, frozen=True)
class StoredCounter:
    """One stored counter, as the report reads it."""

    day: date
    actor_type: str
    actor: str
    project: str
    session_id: str
    source: str
    metric: str
    dimension: str
    value: int
    workspace_id: str
    terminal_type: str | None


@dataclass(slots=True, frozen=True)
class GatewayUsage:
    """The gateway's metering of one Claude Code session's requests to one model on one day."""

    day: date
    session_id: str
    model: str
    workspace_id: str
    api_key_id: str
    api_key_name: str | None
    owner_email: str | None
    end_user: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    cost_picousd: int


def difference(previous: tuple[int, int] | None, start_ns: int, value: int) -> int:
    """What a cumulative point adds: all of it for a new or restarted series, else the growth since last time."""
    if previous is None:
        return value
    last_start, last_value = previous
    if start_ns != last_start or value < last_value:
        return value  # the series restarted (new start time, or a reset the exporter did not announce)
    return value - last_value


class ClaudeCodeRepository:
    """Writes OTLP ingests; reads counters and gateway traffic for the report."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def ingest(self, org_id: str, deltas: Sequence[Delta], points: Sequence[Cumulative]) -> None:
        """Add deltas and the differences of cumulative points, in one transaction."""
        now = datetime.now(UTC)
        sums: dict[Counter, int] = {}
        for d in deltas:
            sums[d.counter] = sums.get(d.counter, 0) + d.value
        async with self._sessions.begin() as session:
            connection = await session.connection()
            latest: dict[str, tuple[int, int]] = {}
            names = sorted({p.series for p in points})
            for chunk in range(0, len(names), 500):
                stmt = select(OtlpSeries.series, OtlpSeries.start_ns, OtlpSeries.value).where(
                    OtlpSeries.org_id == org_id, OtlpSeries.series.in_(names[chunk:chunk + 500]))
                latest.update({r[0]: (int(r[1]), int(r[2])) for r in (await connection.execute(stmt)).all()})
            for p in points:  # in the order sent: an exporter sends a series' points oldest first
                added = difference(latest.get(p.series), p.start_ns, p.value)
                latest[p.series] = (p.start_ns, p.value)
                if added:
                    sums[p.counter] = sums.get(p.counter, 0) + added
            if points:
                rows = [{"org_id": org_id, "series": s, "start_ns": v[0], "value": v[1], "updated_at": now}
                        for s, v in latest.items() if s in {p.series for p in points}]
                stmt_s = self._insert(OtlpSeries.__table__)  # type: ignore[arg-type]
                stmt_s = stmt_s.on_conflict_do_update(
                    index_elements=["org_id", "series"],
                    set_={"start_ns": stmt_s.excluded.start_ns, "value": stmt_s.excluded.value,
                          "updated_at": stmt_s.excluded.updated_at})
                await connection.execute(stmt_s, rows)
            if sums:
                await connection.execute(self._upsert(), [_counter_row(org_id, c, v, now) for c, v in sums.items()])

    def _upsert(self) -> Any:
        table = ClaudeCodeUsage.__table__
        stmt = self._insert(table)  # type: ignore[arg-type]
        return stmt.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={"value": table.c.value + stmt.excluded.value,
                  "terminal_type": func.coalesce(stmt.excluded.terminal_type, table.c.terminal_type),
                  "updated_at": stmt.excluded.updated_at})

    async def counters(self, org_id: str, first: date, last: date) -> list[StoredCounter]:
        """Every counter of the organization from ``first`` to ``last`` (inclusive), as plain values."""
        # Columns, not ORM entities: a report reads thousands of rows and hydrating objects was most of its time.
        names = (*_KEY[1:], "value", "workspace_id", "terminal_type")
        stmt = (select(*(getattr(ClaudeCodeUsage, n) for n in names))
                .where(ClaudeCodeUsage.org_id == org_id, ClaudeCodeUsage.day >= first, ClaudeCodeUsage.day <= last)
                .order_by(*(getattr(ClaudeCodeUsage, k) for k in _KEY[1:])))
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
        return [StoredCounter(*cast_row(row)) for row in rows]

    def _day(self) -> ColumnElement[Any]:
        if self._dialect == "postgresql":
            return cast(func.timezone("UTC", UsageRecord.created_at), Date)
        return func.date(UsageRecord.created_at)

    async def gateway(self, org_id: str, first: date, last: date) -> list[GatewayUsage]:
        """The gateway's Claude Code traffic (requests with ``X-Claude-Code-Session-Id``) per day and session."""
        start = datetime.combine(first, time(), UTC)
        end = datetime.combine(last + timedelta(days=1), time(), UTC)
        day = self._day().label("day")
        group = (day, UsageRecord.claude_code_session_id, UsageRecord.model, UsageRecord.workspace_id,
                 UsageRecord.api_key_id, ApiKey.name, User.email, UsageRecord.user_id)
        stmt = (select(*group, func.count(), func.sum(UsageRecord.input_tokens), func.sum(UsageRecord.output_tokens),
                       func.sum(UsageRecord.cache_read_tokens),
                       func.sum(UsageRecord.cache_write_5m_tokens + UsageRecord.cache_write_1h_tokens),
                       func.sum(UsageRecord.cost_picousd))
                .join(ApiKey, ApiKey.id == UsageRecord.api_key_id, isouter=True)
                .join(User, User.id == ApiKey.created_by, isouter=True)
                .where(UsageRecord.org_id == org_id, UsageRecord.created_at >= start, UsageRecord.created_at < end,
                       UsageRecord.claude_code_session_id.is_not(None), UsageRecord.endpoint == "messages")
                .group_by(*group))
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
        return [GatewayUsage(day=_as_date(r[0]), session_id=str(r[1]), model=str(r[2] or "unknown"),
                             workspace_id=str(r[3]), api_key_id=str(r[4]), api_key_name=r[5], owner_email=r[6],
                             end_user=r[7], requests=int(r[8]), input_tokens=int(r[9] or 0),
                             output_tokens=int(r[10] or 0), cache_read_tokens=int(r[11] or 0),
                             cache_creation_tokens=int(r[12] or 0), cost_picousd=int(r[13] or 0)) for r in rows]


def cast_row(row: Any) -> tuple[Any, ...]:
    """A result row as a plain tuple (typed loosely: the select names the columns in the dataclass's order)."""
    return tuple(row)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _counter_row(org_id: str, c: Counter, value: int, now: datetime) -> dict[str, Any]:
    return {"org_id": org_id, "day": c.day, "actor_type": c.actor_type, "actor": c.actor, "project": c.project,
            "session_id": c.session_id, "source": c.source, "metric": c.metric, "dimension": c.dimension,
            "value": value, "workspace_id": c.workspace_id, "terminal_type": c.terminal_type, "updated_at": now}
