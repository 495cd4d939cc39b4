"""The audit trail's integrity: per-organization hash-chain links and signed checkpoints (append-only).

``audit_pending`` is the sealer's queue: a database trigger adds every audit event's id as it is inserted (by
the shipper, an admin transaction or anything else), so a sealing round reads what arrived since the last one
instead of searching the trail for unsealed events. It is not part of the evidence (verification recomputes
from the events and links); sealed entries are deleted.

A link row fixes an audit event's place in its organization's chain (``seq``, assigned by the sealer) and
holds the event's canonical hash and the running link. Checkpoints sign a chain head with Ed25519. Both tables
refuse UPDATE and DELETE through triggers (migration 0009), like ``audit_events``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base


class AuditChainLink(Base):
    __tablename__ = "audit_chain"
    __table_args__ = (Index("uq_audit_chain_event", "event_id", unique=True),)

    # "" is the chain of events that belong to no organization (requests refused before a key was known).
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64))
    link: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime]


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    link: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))


class AuditPending(Base):
    __tablename__ = "audit_pending"
    __table_args__ = (Index("ix_audit_pending_org", "org_id", "id"),)

    # Arrival order (an integer primary key: SQLite's rowid, a sequence on PostgreSQL).
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(String(64))  # "" for events of no organization
