"""Spend limits (caps per organization, workspace, API key, end user or person, per calendar period) and requests
to raise them.

Stored scopes: ``organization``, ``workspace``, ``api_key``, ``user`` (an end user: the ``metadata.user_id``
string clients send; the stored value predates person caps and is kept so existing rows need no migration; the
Admin API calls it ``end_user``) and ``person`` (a Steward user: the keys that person created)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base, JSONType

END_USER_SCOPE = "user"  # stored value of an end-user cap (Admin API scope type ``end_user``)
PERSON_SCOPE = "person"  # a Steward user's keys (Admin API scope type ``person``)


class SpendLimit(Base):
    __tablename__ = "spend_limits"
    __table_args__ = (Index("uq_spend_limits_scope", "org_id", "scope", "scope_id", "period", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))      # organization | workspace | api_key | user (end user) | person
    scope_id: Mapped[str] = mapped_column(String(256))
    period: Mapped[str] = mapped_column(String(16))     # daily | weekly | monthly (UTC calendar periods)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    hard: Mapped[bool]                                   # a soft limit only alerts
    thresholds: Mapped[list[int] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SpendLimitIncreaseRequest(Base):
    __tablename__ = "spend_limit_increase_requests"
    __table_args__ = (Index("ix_spend_requests_org", "org_id", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    spend_limit_id: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16))     # pending | approved | denied
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution_note: Mapped[str | None] = mapped_column(String(2000))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
