"""The audit trail's reads and the chain's writes: sealing, checkpoints, the SIEM feed, activities, access review.

Sealing runs in one transaction per organization: on PostgreSQL under a transaction-scoped advisory lock, so
that concurrent sealers in several processes queue instead of racing; on every backend the unique
(org, seq) and event_id indexes make a lost race fail (and retry next round) rather than fork the chain.
Chain ``org_id`` "" is the chain of events that have no organization.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from steward.storage.models import (
    AdminKey,
    ApiKey,
    AuditChainLink,
    AuditCheckpoint,
    AuditEvent,
    AuditPending,
    Invitation,
    Organization,
    UsageRecord,
    User,
    Workspace,
    WorkspaceMember,
)

# (head seq, head link, events to seal in order, as column mappings) -> chain rows to insert
Sealing = Callable[[int, str, Sequence[Mapping[str, Any]]], list[dict[str, Any]]]
# Sealing and verification read events as plain rows (Core, not ORM objects): several times faster per event.
_EVENT_COLUMNS = tuple(AuditEvent.__table__.c)


def _of_org(org_id: str) -> ColumnElement[bool]:
    return AuditEvent.org_id.is_(None) if org_id == "" else AuditEvent.org_id == org_id


_INT64 = 2**63


def plain_json(value: Any) -> bool:
    """Whether this JSON value is only strings, booleans, None, 64-bit integers, lists and string-keyed objects of
    those. Such a value reads back from either database as written (floats may not: JSONB normalises them) and
    orjson writes it byte for byte as the chain's canonical form (stdlib ``json``) does (every code point was
    compared): the sealer hashes it from memory, by orjson. A loop, not recursion: it runs for every event sealed."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if not -_INT64 <= item < _INT64:
                return False
        elif kind is dict:
            for key, nested in item.items():
                if type(key) is not str:
                    return False
                stack.append(nested)
        elif kind is list or kind is tuple:
            stack.extend(item)
        else:
            return False
    return True


async def seal_queued(connection: AsyncConnection, dialect: str, org_id: str, limit: int, sealing: Sealing,
                      known: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """In the caller's transaction: append the next ``limit`` queued events of one chain to it, in arrival order,
    and dequeue them; returns how many. ``known`` holds events the caller has in memory (the shipper: the rows it
    just inserted), by id: only the others are read back. Raises IntegrityError when another sealer took these
    positions first (the transaction must then be rolled back)."""
    if dialect == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                                 {"k": f"steward.audit_chain:{org_id}"})
    head = (await connection.execute(
        select(AuditChainLink.seq, AuditChainLink.link).where(AuditChainLink.org_id == org_id)
        .order_by(AuditChainLink.seq.desc()).limit(1))).first()
    # No anti-join against the chain: a queued event is dequeued in the transaction that seals it, and a sealer
    # that raced another fails on the chain's unique indexes. (An anti-join also misled PostgreSQL's planner on a
    # freshly filled chain table into a nested loop over every link: seconds per round.)
    queued = (await connection.execute(
        select(AuditPending.id, AuditPending.event_id).where(AuditPending.org_id == org_id)
        .order_by(AuditPending.id).limit(limit))).all()
    if not queued:
        return 0
    known = known or {}
    unknown = [event_id for _, event_id in queued if event_id not in known]
    read: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(unknown), 1000):
        found = await connection.execute(select(*_EVENT_COLUMNS).where(AuditEvent.id.in_(unknown[start:start + 1000])))
        read.update((row.id, cast(Mapping[str, Any], row._mapping)) for row in found)
    # An event queued but gone (never the case: the trail is append-only) would otherwise be skipped silently.
    events = [known.get(event_id) or read[event_id] for _, event_id in queued]
    rows = sealing(int(head[0]) if head else 0, str(head[1]) if head else "", events)
    await connection.execute(insert(AuditChainLink), rows)
    await connection.execute(delete(AuditPending).where(AuditPending.id.in_([pending_id for pending_id, _ in queued])))
    return len(queued)


@dataclass(slots=True, frozen=True)
class ActivityFilter:
    """What an activity query selects (None: no filter on that column)."""

    org_id: str
    start: datetime | None = None
    end: datetime | None = None
    events: Sequence[str] | None = None          # audit event names (admin.*, spend.alert, ...)
    endpoints: Sequence[str] | None = None       # api_call events with one of these data.endpoint values
    user_ids: Sequence[str] | None = None
    model: str | None = None
    workspace_id: str | None = None
    api_key_id: str | None = None


@dataclass(slots=True, frozen=True)
class AccessFacts:
    """Everything an access review of one workspace reads."""

    workspace: Workspace
    users: Sequence[User]
    members: Sequence[WorkspaceMember]
    api_keys: Sequence[ApiKey]
    admin_keys: Sequence[AdminKey]
    invitations: Sequence[Invitation]
    role_events: Sequence[AuditEvent]


class AuditRepository:
    """Reads and writes of the audit trail and its chain, each in a short transaction of its own."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect

    # --- sealing -------------------------------------------------------------------------------------------

    async def orgs_with_unsealed(self, since: datetime | None) -> list[str]:
        """Chains ("" for no organization) that have audit events not sealed yet (created at or after ``since``)."""
        stmt = (select(AuditEvent.org_id).distinct()
                .join(AuditChainLink, AuditChainLink.event_id == AuditEvent.id, isouter=True)
                .where(AuditChainLink.event_id.is_(None)))
        if since is not None:
            stmt = stmt.where(AuditEvent.created_at >= since)
        async with self._sessions() as session:
            return [org or "" for org in (await session.execute(stmt)).scalars()]

    async def org_ids(self) -> list[str]:
        async with self._sessions() as session:
            return list((await session.execute(select(Organization.id).order_by(Organization.id))).scalars())

    async def pending_orgs(self) -> list[str]:
        """Chains with events queued for sealing (the trigger-fed ``audit_pending``: cheap at any trail size)."""
        async with self._sessions() as session:
            return list((await session.execute(select(AuditPending.org_id).distinct())).scalars())

    async def seal(self, org_id: str, limit: int, sealing: Sealing) -> int:
        """Append the next queued events of one chain, in arrival order, and dequeue them; returns how many were
        sealed (0 when the queue is empty or another sealer won the race: the caller stops this round)."""
        try:
            async with self._sessions.begin() as session:
                return await seal_queued(await session.connection(), self._dialect, org_id, limit, sealing)
        except IntegrityError:  # another process sealed these positions first: its chain stands
            return 0

    async def head(self, org_id: str) -> AuditChainLink | None:
        async with self._sessions() as session:
            stmt = (select(AuditChainLink).where(AuditChainLink.org_id == org_id)
                    .order_by(AuditChainLink.seq.desc()).limit(1))
            return (await session.execute(stmt)).scalars().first()

    async def last_checkpoint(self, org_id: str) -> AuditCheckpoint | None:
        async with self._sessions() as session:
            stmt = (select(AuditCheckpoint).where(AuditCheckpoint.org_id == org_id)
                    .order_by(AuditCheckpoint.seq.desc()).limit(1))
            return (await session.execute(stmt)).scalars().first()

    async def add_checkpoint(self, row: Mapping[str, Any]) -> bool:
        """Store a signed checkpoint; False when one for that position exists already."""
        try:
            async with self._sessions.begin() as session:
                await session.execute(insert(AuditCheckpoint), [dict(row)])
            return True
        except IntegrityError:
            return False

    # --- verification and export -----------------------------------------------------------------------------

    async def chain_candidates(self) -> list[str]:
        """Every chain that may exist, cheaply: each organization and "" (events without one). ``chains`` reads the
        chain table itself, which grows with the trail: too slow to run every second."""
        return ["", *await self.org_ids()]

    async def chains(self) -> list[str]:
        async with self._sessions() as session:
            stmt = select(AuditChainLink.org_id).distinct().order_by(AuditChainLink.org_id)
            return list((await session.execute(stmt)).scalars())

    async def links(self, org_id: str, after_seq: int, limit: int, until_seq: int | None = None
                    ) -> Sequence[AuditChainLink]:
        stmt = (select(AuditChainLink).where(AuditChainLink.org_id == org_id, AuditChainLink.seq > after_seq)
                .order_by(AuditChainLink.seq).limit(limit))
        if until_seq is not None:
            stmt = stmt.where(AuditChainLink.seq <= until_seq)
        async with self._sessions() as session:
            return (await session.execute(stmt)).scalars().all()

    async def events(self, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """The events with these ids, as column mappings."""
        if not ids:
            return {}
        async with self._sessions() as session:
            rows = (await session.execute(select(*_EVENT_COLUMNS).where(AuditEvent.id.in_(list(ids))))).all()
            return {row.id: cast(Mapping[str, Any], row._mapping) for row in rows}

    async def checkpoints(self, org_id: str, first_seq: int = 0, last_seq: int | None = None
                          ) -> Sequence[AuditCheckpoint]:
        stmt = (select(AuditCheckpoint).where(AuditCheckpoint.org_id == org_id, AuditCheckpoint.seq >= first_seq)
                .order_by(AuditCheckpoint.seq))
        if last_seq is not None:
            stmt = stmt.where(AuditCheckpoint.seq <= last_seq)
        async with self._sessions() as session:
            return (await session.execute(stmt)).scalars().all()

    async def link_at(self, org_id: str, seq: int) -> AuditChainLink | None:
        async with self._sessions() as session:
            return await session.get(AuditChainLink, (org_id, seq))

    async def seq_bounds(self, org_id: str, start: datetime | None, end: datetime | None) -> tuple[int, int] | None:
        """The first and last chain positions whose events were created in [start, end)."""
        stmt = (select(func.min(AuditChainLink.seq), func.max(AuditChainLink.seq))
                .join(AuditEvent, AuditEvent.id == AuditChainLink.event_id)
                .where(AuditChainLink.org_id == org_id))
        if start is not None:
            stmt = stmt.where(AuditEvent.created_at >= start)
        if end is not None:
            stmt = stmt.where(AuditEvent.created_at < end)
        async with self._sessions() as session:
            low, high = (await session.execute(stmt)).one()
        return None if low is None else (int(low), int(high))

    async def unsealed_count(self, org_id: str | None = None) -> int:
        stmt = (select(func.count()).select_from(AuditEvent)
                .join(AuditChainLink, AuditChainLink.event_id == AuditEvent.id, isouter=True)
                .where(AuditChainLink.event_id.is_(None)))
        if org_id is not None:
            stmt = stmt.where(_of_org(org_id))
        async with self._sessions() as session:
            return int(await session.scalar(stmt) or 0)

    async def missing_audit(self, org_id: str, since: datetime | None, limit: int) -> tuple[int, list[str]]:
        """Real-time usage records (not batch results: those share their batch's id and have no event of their
        own) whose request has no ``api_call`` audit event: (how many, the first ``limit`` request ids by time).

        An anti-join (NOT EXISTS) that walks ``ix_usage_org_time`` for the organization and window and probes
        ``ix_audit_request`` once per record: linear in the window's records, never in the whole trail."""
        event = AuditEvent.__table__.alias("e")
        orphan = [UsageRecord.org_id == org_id, UsageRecord.batch_id.is_(None),
                  ~select(event.c.id).where(event.c.request_id == UsageRecord.request_id,
                                            event.c.event == "api_call").exists()]
        if since is not None:
            orphan.append(UsageRecord.created_at >= since)
        async with self._sessions() as session:
            count = int(await session.scalar(select(func.count()).select_from(UsageRecord).where(*orphan)) or 0)
            if not count:
                return 0, []
            first = await session.execute(select(UsageRecord.request_id).where(*orphan)
                                          .order_by(UsageRecord.created_at, UsageRecord.id).limit(limit))
            return count, list(first.scalars())

    async def feed(self, org_id: str, after_seq: int, limit: int) -> list[tuple[AuditChainLink, AuditEvent]]:
        """Sealed events in chain order after ``after_seq``: gap-free and stable, so a cursor never skips one."""
        stmt = (select(AuditChainLink, AuditEvent).join(AuditEvent, AuditEvent.id == AuditChainLink.event_id)
                .where(AuditChainLink.org_id == org_id, AuditChainLink.seq > after_seq)
                .order_by(AuditChainLink.seq).limit(limit))
        async with self._sessions() as session:
            return [(link, event) for link, event in (await session.execute(stmt)).all()]

    # --- activities ----------------------------------------------------------------------------------------

    async def activities(self, where: ActivityFilter, *, limit: int, after_id: str | None = None,
                         before_id: str | None = None) -> tuple[list[AuditEvent], bool]:
        """Newest first; ``after_id`` continues back in time, ``before_id`` forward. Returns (rows, has_more)."""
        stmt = select(AuditEvent).where(AuditEvent.org_id == where.org_id, *_activity_conditions(where))
        if before_id is not None:
            stmt = stmt.where(AuditEvent.id > before_id).order_by(AuditEvent.id.asc())
        else:
            if after_id is not None:
                stmt = stmt.where(AuditEvent.id < after_id)
            stmt = stmt.order_by(AuditEvent.id.desc())
        async with self._sessions() as session:
            rows = list((await session.execute(stmt.limit(limit + 1))).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        if before_id is not None:
            rows.reverse()
        return rows, more

    # --- organizations, users and access review ---------------------------------------------------------------

    async def organizations(self, ids: Sequence[str] | None) -> Sequence[Organization]:
        stmt = select(Organization).order_by(Organization.created_at)
        if ids is not None:
            stmt = stmt.where(Organization.id.in_(list(ids)))
        async with self._sessions() as session:
            return (await session.execute(stmt)).scalars().all()

    async def users(self, org_id: str, *, limit: int, after_id: str | None) -> tuple[Sequence[User], bool]:
        stmt = select(User).where(User.org_id == org_id).order_by(User.id)
        if after_id:
            stmt = stmt.where(User.id > after_id)
        async with self._sessions() as session:
            rows = (await session.execute(stmt.limit(limit + 1))).scalars().all()
        return rows[:limit], len(rows) > limit

    async def access_facts(self, org_id: str, workspace_id: str, start: datetime, end: datetime
                           ) -> AccessFacts | None:
        async with self._sessions() as session:
            workspace = await session.get(Workspace, workspace_id)
            if workspace is None or workspace.org_id != org_id:
                return None

            async def all_of(stmt: Any) -> Sequence[Any]:
                rows: Sequence[Any] = (await session.execute(stmt)).scalars().all()
                return rows
            users = await all_of(select(User).where(User.org_id == org_id).order_by(User.id))
            members = await all_of(select(WorkspaceMember).where(WorkspaceMember.workspace_id == workspace_id))
            keys = await all_of(select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.id))
            admin_keys = await all_of(select(AdminKey).where(AdminKey.org_id == org_id).order_by(AdminKey.id))
            invitations = await all_of(select(Invitation).where(Invitation.org_id == org_id)
                                       .order_by(Invitation.id))
            role_events = await all_of(
                select(AuditEvent).where(
                    AuditEvent.org_id == org_id, AuditEvent.created_at >= start, AuditEvent.created_at < end,
                    AuditEvent.event.in_(ROLE_EVENTS),
                    or_(AuditEvent.workspace_id.is_(None), AuditEvent.workspace_id == workspace_id))
                .order_by(AuditEvent.created_at, AuditEvent.id))
        return AccessFacts(workspace, users, members, keys, admin_keys, invitations, role_events)


# Admin actions that change who may do what.
ROLE_EVENTS = ("admin.users.update", "admin.users.remove", "admin.members.add", "admin.members.update",
               "admin.members.remove", "admin.invitations.accept", "admin.admin_keys.create",
               "admin.admin_keys.revoke", "admin.keys.create", "admin.keys.revoke", "admin.organization.init")


def _activity_conditions(where: ActivityFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if where.start is not None:
        out.append(AuditEvent.created_at >= where.start)
    if where.end is not None:
        out.append(AuditEvent.created_at < where.end)
    kinds: list[ColumnElement[bool]] = []
    if where.events:
        kinds.append(AuditEvent.event.in_(list(where.events)))
    if where.endpoints:
        kinds.append(and_(AuditEvent.event == "api_call",
                          AuditEvent.data["endpoint"].as_string().in_(list(where.endpoints))))
    if where.events is not None or where.endpoints is not None:
        out.append(or_(*kinds) if kinds else AuditEvent.id.is_(None))
    if where.user_ids is not None:
        users = list(where.user_ids)
        out.append(or_(AuditEvent.actor.in_(users), AuditEvent.data["user_id"].as_string().in_(users)))
    if where.model is not None:
        out.append(AuditEvent.model == where.model)
    if where.workspace_id is not None:
        out.append(AuditEvent.workspace_id == where.workspace_id)
    if where.api_key_id is not None:
        out.append(AuditEvent.api_key_id == where.api_key_id)
    return out
