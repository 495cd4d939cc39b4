"""Organization, workspaces, API keys, and the config version the snapshot watches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base, JSONType


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (Index("uq_workspaces_org_name", "org_id", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(40))
    display_color: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]
    allowed_models: Mapped[list[str] | None] = mapped_column(JSONType)
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_workspace", "workspace_id", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    partial_key_hint: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    scopes: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    # After a rotation the old secret keeps working until ``previous_valid_until`` (the grace period).
    previous_key_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    previous_valid_until: Mapped[datetime | None] = mapped_column(default=None)


class ConfigChange(Base):
    """The change log behind the config version: what each version changed, so a gateway applies deltas instead of
    reloading every key (``storage/config_log.py``). ``kind`` is ``key`` (``entity_id`` names one API key) or
    ``config`` (anything else the snapshot holds: organizations, workspaces, policies, limits, compliance groups,
    the catalog; small tables, reloaded whole). Old versions are pruned; a gateway further behind reloads all."""

    __tablename__ = "config_changes"

    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class ConfigVersion(Base):
    """One row; every control-plane change bumps ``version`` so each instance reloads its snapshot."""

    __tablename__ = "config_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
