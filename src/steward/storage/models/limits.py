"""Rate limits configured per organization, workspace or key, per rate-limit group and limiter type."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base


class RateLimit(Base):
    """One limiter value: e.g. workspace W, group "Claude Sonnet", requests_per_minute = 50."""

    __tablename__ = "rate_limits"
    __table_args__ = (Index("uq_rate_limits_scope", "scope", "scope_id", "group_id", "limit_type", unique=True),
                      Index("ix_rate_limits_org", "org_id"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))  # organization | workspace | key
    scope_id: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str] = mapped_column(String(64))
    limit_type: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
