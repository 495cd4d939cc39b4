"""Governance: policy documents (live and every past version), compliance groups, per-organization data keys
and the encrypted content that ``audit_level: full`` stores.

A policy document is the JSON form of a ``policies`` block in the policy-as-code YAML (docs/policies.md). Every
change writes a new ``policy_versions`` row with the organization's next version number; the live row carries
the version that made it. Stored content is the only thing retention deletes; audit events stay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.storage.models.base import Base, JSONType


class Policy(Base):
    """The live policy document of one scope (organization, workspace or key)."""

    __tablename__ = "policies"
    __table_args__ = (Index("uq_policies_scope", "org_id", "scope", "scope_id", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))       # organization | workspace | key
    scope_id: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(BigInteger)    # the organization's policy version that wrote it
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(128))


class PolicyVersion(Base):
    """Append-only history: one row per policy change, numbered per organization."""

    __tablename__ = "policy_versions"
    __table_args__ = (Index("uq_policy_versions_org", "org_id", "version", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger)
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # None: the policy was removed
    created_at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str | None] = mapped_column(String(64))  # api | apply | cli


class ComplianceGroup(Base):
    """The seed's compliance group: restrictions that every member workspace inherits (strictest wins)."""

    __tablename__ = "compliance_groups"
    __table_args__ = (Index("uq_compliance_groups_name", "org_id", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(2000))
    # data_retention_days, require_encryption, allowed_regions, audit_level ("metadata" | "full")
    restrictions: Mapped[dict[str, Any]] = mapped_column(JSONType)
    legal_hold: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ComplianceGroupWorkspace(Base):
    __tablename__ = "compliance_group_workspaces"

    group_id: Mapped[str] = mapped_column(ForeignKey("compliance_groups.id", ondelete="CASCADE"),
                                          primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime]


class OrgDataKey(Base):
    """A per-organization AES-256 data key, stored only wrapped (AES-GCM) by the master key from settings."""

    __tablename__ = "org_data_keys"
    __table_args__ = (Index("ix_org_data_keys_org", "org_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(64))  # a fingerprint of the wrapping key, never the key
    created_at: Mapped[datetime]


class StoredContent(Base):
    """Request and response content of one request, encrypted; deleted by retention, never updated."""

    __tablename__ = "stored_content"
    __table_args__ = (Index("ix_stored_content_purge", "purge_after"),
                      Index("ix_stored_content_request", "request_id"),
                      Index("ix_stored_content_org_time", "org_id", "created_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    workspace_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    data_key_id: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    content_sha256: Mapped[str] = mapped_column(String(64))  # of the plain text; the audit event carries it too
    purge_after: Mapped[datetime | None]
