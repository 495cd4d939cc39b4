"""Message Batches owned by a workspace key (the upstream knows no workspaces; Steward does)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base, JSONType


class BatchRecord(Base):
    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_workspace", "workspace_id", "id"),
                      Index("ix_batches_unmetered", "metered_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    workspace_id: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[str] = mapped_column(String(64))
    request_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    metered_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    user_id: Mapped[str | None] = mapped_column(String(256))
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The spend-cap hold taken at create (dataplane/batch_budget.py), so that whichever process meters the batch,
    # even after a restart, settles it; None when no limit applied.
    budget_hold: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
