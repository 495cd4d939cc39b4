"""The audit trail's integrity: per-organization hash-chain links and signed checkpoints (append-only).

A link row fixes an audit event's place in its organization's chain (``seq``, assigned by the sealer) and
holds the event's canonical hash and the running link. Checkpoints sign a chain head with Ed25519. Both tables
refuse UPDATE and DELETE through triggers (migration 0009), like ``audit_events``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
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
