"""Stored model-catalog versions: each import or sync writes a whole new catalog document, never edits one.

The newest row (by ``seq``) is the catalog every gateway serves; with no row the packaged file is used.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base, JSONType


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[str] = mapped_column(String(64))       # the document's own "version" field
    source: Mapped[str] = mapped_column(String(16))        # import | sync
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    summary: Mapped[str | None] = mapped_column(Text)      # what changed, in words
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
