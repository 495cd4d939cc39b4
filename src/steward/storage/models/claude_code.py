"""Claude Code telemetry rollups: per organization, UTC day, actor, project and session, one counter per row.

``claude_code_usage`` is written on OTLP ingest (``INSERT ... ON CONFLICT DO UPDATE SET value = value + ...``):
a counter (``metric``) with an optional dimension (the model for tokens and cost, the tool for decisions) and
the ``source`` that produced it (``metric`` for OTLP metrics, ``event`` for OTLP log events), so that the report
can prefer one source over the other instead of counting a session twice. ``otlp_series`` keeps the last value
of every cumulative OTLP series, so a cumulative counter adds only its difference.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base


class ClaudeCodeUsage(Base):
    """One counter of one Claude Code session (or of the sessionless remainder) on one UTC day."""

    __tablename__ = "claude_code_usage"

    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(16), primary_key=True)  # user_actor | api_actor
    actor: Mapped[str] = mapped_column(String(320), primary_key=True)      # email, or the API key's name
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # "" when the export has none
    source: Mapped[str] = mapped_column(String(8), primary_key=True)        # metric | event
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(100), primary_key=True)   # model, tool name, or ""
    value: Mapped[int] = mapped_column(BigInteger)
    workspace_id: Mapped[str] = mapped_column(String(64))
    terminal_type: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class OtlpSeries(Base):
    """The last point seen of one cumulative OTLP series (metric name + every attribute, hashed)."""

    __tablename__ = "otlp_series"

    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    series: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    start_ns: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[int] = mapped_column(BigInteger)  # in the counter's stored unit (pico-dollars, ms, count)
    updated_at: Mapped[datetime]
