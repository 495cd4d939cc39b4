"""Usage records and audit events: written in batches by the journal shipper, never updated.

Cost is stored as integer pico-dollars (1e-12 USD): exact for every catalog price and multiplier, and summable
in SQL on both backends. The audit table is append-only (triggers in the migrations refuse UPDATE/DELETE).
Raw usage rows carry one full index (organization, time) and one partial index (Claude Code rows only): every
index costs the shipper on each insert, and reports are meant to read rollups, not raw rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base, JSONType


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_org_time", "org_id", "created_at"),
        # Claude Code traffic only (a small share of rows): the claude_code report's gateway side reads it
        # without scanning every request of the period.
        Index("ix_usage_claude_code", "org_id", "created_at",
              postgresql_where=text("claude_code_session_id IS NOT NULL"),
              sqlite_where=text("claude_code_session_id IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    org_id: Mapped[str] = mapped_column(String(64))
    workspace_id: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(256))
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    endpoint: Mapped[str] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(100))
    batch_id: Mapped[str | None] = mapped_column(String(64))
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_5m_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_1h_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    thinking_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    web_search_requests: Mapped[int] = mapped_column(Integer, default=0)
    web_fetch_requests: Mapped[int] = mapped_column(Integer, default=0)
    code_execution_requests: Mapped[int] = mapped_column(Integer, default=0)
    service_tier: Mapped[str | None] = mapped_column(String(32))
    inference_geo: Mapped[str | None] = mapped_column(String(32))
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    tools_used: Mapped[list[str] | None] = mapped_column(JSONType)
    status: Mapped[int] = mapped_column(Integer)
    complete: Mapped[bool]
    latency_ms: Mapped[int] = mapped_column(Integer)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    cost_picousd: Mapped[int] = mapped_column(BigInteger, default=0)
    pricing_version: Mapped[str | None] = mapped_column(String(40))
    claude_code_session_id: Mapped[str | None] = mapped_column(String(128))
    # No catalog price applied (not even by the family rule): cost_picousd is 0 but the usage is not free.
    unpriced: Mapped[bool] = mapped_column(default=False, server_default=false())
    # What spend caps were charged when it is not cost_picousd (unpriced: the usage at the catalog's highest
    # rates); NULL means the cost. Recorded spend for caps sums COALESCE(charged_picousd, cost_picousd).
    charged_picousd: Mapped[int | None] = mapped_column(BigInteger, default=None)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_org_time", "org_id", "created_at"),
        Index("ix_audit_request", "request_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]
    org_id: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    workspace_id: Mapped[str | None] = mapped_column(String(64))
    api_key_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    tools_used: Mapped[list[str] | None] = mapped_column(JSONType)
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[int | None] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
