"""Webhooks (where audit events are POSTed), their deliveries (one per webhook and event) and every attempt.

The unique (webhook, event) index is the claim: a process delivers an event only after inserting its delivery
row, so two processes never deliver the same event twice. This module also declares the partial index on
``audit_events`` that the dispatcher scans, because only webhooks need it (see ``ix_audit_deliverable``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, literal_column
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base, JSONType
from steward.storage.models.records import AuditEvent

# The dispatcher looks for deliverable events (admin actions, spend alerts) among an organization's recent
# audit events. Nearly every audit row is an ``api_call``: a partial index leaves those out, so the scan reads
# only the rare rows it can deliver and the shipper's inserts of ``api_call`` rows never touch this index.
# Queries must repeat the predicate literally (not as a bound parameter) for either database to use it.
NOT_API_CALL = AuditEvent.event != literal_column("'api_call'")
Index("ix_audit_deliverable", AuditEvent.org_id, AuditEvent.created_at,
      sqlite_where=NOT_API_CALL, postgresql_where=NOT_API_CALL)


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_org", "org_id", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSONType)
    active: Mapped[bool]
    # Stored as is (not hashed): the dispatcher needs it to sign. Shown once, when the webhook is created.
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Events created at or after this time are delivered: the creation time, moved on when the webhook is
    # switched back on or its subscriptions change (so neither replays older events).
    deliver_since: Mapped[datetime]


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("uq_webhook_deliveries_event", "webhook_id", "event_id", unique=True),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))      # the audit event delivered
    event: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))        # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)         # attempts started (the claim counts as the first)
    # While pending: when the next attempt may start. During an attempt it is the lease: a process that dies
    # mid-attempt leaves a row that another picks up once this time has passed.
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
                                             primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None]               # None: this attempt was the last
