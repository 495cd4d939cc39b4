"""Webhooks and their deliveries: the admin service's reads and writes, and the dispatcher's claims.

``WebhookRepository`` works inside an admin unit of work (the change and its audit event commit together).
``DeliveryRepository`` gives the dispatcher short transactions of its own: a claim is an insert that loses
quietly against the unique (webhook, event) index, a retry is a compare-and-set on the attempt count, so
several processes can dispatch side by side and each attempt is made by exactly one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import AuditEvent, Webhook, WebhookAttempt, WebhookDelivery
from steward.storage.models.webhooks import NOT_API_CALL
from steward.storage.repositories.admin import Page, Unit

# Audit events a webhook may receive, whatever it subscribes to: per-request ``api_call`` rows never leave.
DELIVERABLE_EXACT = ("spend.alert",)
DELIVERABLE_PREFIX = "admin."


def _matching(patterns: Sequence[str]) -> ColumnElement[bool]:
    """SQL for "the event matches one of ``patterns``" (exact names, or prefixes ending in ``*``)."""
    deliverable = or_(AuditEvent.event.in_(DELIVERABLE_EXACT),
                      AuditEvent.event.startswith(DELIVERABLE_PREFIX, autoescape=True))
    chosen = [AuditEvent.event.startswith(p[:-1], autoescape=True) if p.endswith("*") else AuditEvent.event == p
              for p in patterns]
    return and_(NOT_API_CALL, deliverable, or_(*chosen) if chosen else false())


class WebhookRepository:
    """Webhook rows inside an admin unit of work.

    Rows go straight to the session rather than through ``Unit.add``: webhooks are not part of the data plane's
    snapshot, so changing one must not bump the config version (which makes every process reload it).
    """

    def __init__(self, unit: Unit) -> None:
        self._unit = unit
        self._session = unit.session

    def add(self, webhook: Webhook) -> None:
        self._session.add(webhook)

    async def get(self, webhook_id: str) -> Webhook | None:
        return await self._session.get(Webhook, webhook_id)

    async def delete(self, webhook: Webhook) -> None:
        """Delete the webhook; its deliveries and attempts go with it (``ON DELETE CASCADE``)."""
        await self._session.delete(webhook)

    async def page(self, org_id: str, *, limit: int, before_id: str | None, after_id: str | None) -> Page[Webhook]:
        stmt = select(Webhook).where(Webhook.org_id == org_id)
        return await self._unit._page(stmt, Webhook.id, limit=limit, before_id=before_id, after_id=after_id)

    async def deliveries_page(self, webhook_id: str, *, status: str | None, limit: int, before_id: str | None,
                              after_id: str | None) -> Page[WebhookDelivery]:
        stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
        if status:
            stmt = stmt.where(WebhookDelivery.status == status)
        return await self._unit._page(stmt, WebhookDelivery.id, limit=limit, before_id=before_id,
                                      after_id=after_id, newest_first=True)

    async def attempts(self, delivery_ids: Sequence[str]) -> dict[str, list[WebhookAttempt]]:
        """Every attempt of these deliveries, oldest first."""
        found: dict[str, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
        if delivery_ids:
            stmt = (select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(list(delivery_ids)))
                    .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt))
            for row in (await self._session.execute(stmt)).scalars():
                found[row.delivery_id].append(row)
        return found


@dataclass(slots=True, frozen=True)
class Job:
    """One attempt to make: the delivery, which attempt it is, where it goes and what it carries."""

    delivery_id: str
    attempt: int
    webhook: Webhook
    event: AuditEvent


@dataclass(slots=True, frozen=True)
class Outcome:
    """What one attempt did, and what the delivery becomes: ``pending`` (retry at ``next_attempt_at``),
    ``delivered`` or ``failed``."""

    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    status: str
    next_attempt_at: datetime | None
    completed_at: datetime | None


class DeliveryRepository:
    """The dispatcher's queries, each in its own short transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def seal_plain_secrets(self, prefix: str, seal: Callable[[str, str], str]) -> int:
        """Replace every signing secret stored in clear (not starting with ``prefix``, from before secrets were
        sealed) by ``seal(webhook id, secret)``; returns how many."""
        async with self._sessions.begin() as session:
            rows = (await session.execute(select(Webhook.id, Webhook.secret)
                                          .where(~Webhook.secret.startswith(prefix)))).all()
            for webhook_id, secret in rows:
                await session.execute(update(Webhook).where(Webhook.id == webhook_id, Webhook.secret == secret)
                                      .values(secret=seal(webhook_id, secret)))
            return len(rows)

    async def active_webhooks(self) -> Sequence[Webhook]:
        async with self._sessions() as session:
            stmt = select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)
            return (await session.execute(stmt)).scalars().all()

    async def undelivered(self, webhook: Webhook, since: datetime, limit: int) -> Sequence[AuditEvent]:
        """Events for ``webhook`` created at or after ``since`` that no process has claimed yet, oldest first."""
        claimed = exists().where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.event_id == AuditEvent.id)
        stmt = (select(AuditEvent)
                .where(AuditEvent.org_id == webhook.org_id, AuditEvent.created_at >= since,
                       _matching(webhook.events), ~claimed)
                .order_by(AuditEvent.created_at, AuditEvent.id).limit(limit))
        async with self._sessions() as session:
            return (await session.execute(stmt)).scalars().all()

    async def claim(self, delivery: Mapping[str, Any]) -> bool:
        """Insert a delivery row (its first attempt under way); False when another process claimed it first."""
        stmt = self._insert(WebhookDelivery).values(**delivery).on_conflict_do_nothing(
            index_elements=["webhook_id", "event_id"]).returning(WebhookDelivery.id)
        async with self._sessions.begin() as session:
            return (await session.execute(stmt)).first() is not None

    async def due(self, now: datetime, limit: int) -> Sequence[tuple[WebhookDelivery, Webhook, AuditEvent]]:
        """Pending deliveries of active webhooks whose next attempt (or expired lease) is due."""
        stmt = (select(WebhookDelivery, Webhook, AuditEvent)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .join(AuditEvent, AuditEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                       Webhook.active.is_(True))
                .order_by(WebhookDelivery.next_attempt_at).limit(limit))
        async with self._sessions() as session:
            return [(d, w, e) for d, w, e in (await session.execute(stmt)).all()]

    async def reclaim(self, delivery_id: str, seen_attempts: int, now: datetime, lease_until: datetime) -> bool:
        """Start the next attempt of a due delivery; False when another process started it first."""
        stmt = (update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
                       WebhookDelivery.attempts == seen_attempts, WebhookDelivery.next_attempt_at <= now)
                .values(attempts=seen_attempts + 1, next_attempt_at=lease_until).returning(WebhookDelivery.id))
        async with self._sessions.begin() as session:
            return (await session.execute(stmt)).first() is not None

    async def abandon(self, delivery_id: str, seen_attempts: int, now: datetime, error: str) -> None:
        """Fail a delivery whose last allowed attempt never reported (its process stopped mid-attempt)."""
        stmt = (update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
                       WebhookDelivery.attempts == seen_attempts)
                .values(status="failed", next_attempt_at=None, last_error=error, completed_at=now))
        async with self._sessions.begin() as session:
            await session.execute(stmt)

    async def record(self, job: Job, outcome: Outcome) -> None:
        """Store the attempt and move the delivery on, unless another process has taken it over since."""
        async with self._sessions.begin() as session:
            if await session.get(WebhookDelivery, job.delivery_id) is None:
                return  # the webhook was deleted meanwhile: nothing left to record against
            session.add(WebhookAttempt(
                delivery_id=job.delivery_id, attempt=job.attempt, started_at=outcome.started_at,
                duration_ms=outcome.duration_ms, status_code=outcome.status_code, error=outcome.error,
                next_attempt_at=outcome.next_attempt_at))
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == job.delivery_id, WebhookDelivery.attempts == job.attempt)
                .values(status=outcome.status, next_attempt_at=outcome.next_attempt_at,
                        last_status_code=outcome.status_code, last_error=outcome.error,
                        completed_at=outcome.completed_at))
