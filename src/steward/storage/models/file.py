"""Files uploaded through Steward (the Files API), owned by the workspace whose key uploaded them.

The upstream organization is shared by every workspace, so its file ids carry no owner; this table does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base


class FileRecord(Base):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_workspace", "workspace_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # the upstream's file id
    org_id: Mapped[str] = mapped_column(String(64))
    workspace_id: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(Text)
    mime_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    downloadable: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
