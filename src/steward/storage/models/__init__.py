"""SQLAlchemy 2 typed models, one module per aggregate."""

from __future__ import annotations

from steward.storage.models.audit_chain import AuditChainLink, AuditCheckpoint, AuditPending
from steward.storage.models.base import Base
from steward.storage.models.batch import BatchRecord
from steward.storage.models.catalog import CatalogVersion
from steward.storage.models.claude_code import ClaudeCodeUsage, OtlpSeries
from steward.storage.models.console import ConsoleLink, ConsoleSession
from steward.storage.models.file import FileRecord
from steward.storage.models.governance import (
    ComplianceGroup,
    ComplianceGroupWorkspace,
    OrgDataKey,
    Policy,
    PolicyVersion,
    StoredContent,
)
from steward.storage.models.identity import ApiKey, ConfigChange, ConfigVersion, Organization, Workspace
from steward.storage.models.limits import RateLimit
from steward.storage.models.people import AdminKey, Invitation, User, WorkspaceMember
from steward.storage.models.records import AuditEvent, UsageRecord
from steward.storage.models.rollups import UsageRollup
from steward.storage.models.spend import SpendLimit, SpendLimitIncreaseRequest
from steward.storage.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "AdminKey", "ApiKey", "AuditChainLink", "AuditCheckpoint", "AuditEvent", "AuditPending", "Base", "BatchRecord",
    "CatalogVersion", "ClaudeCodeUsage", "ComplianceGroup", "ComplianceGroupWorkspace", "ConfigChange",
    "ConfigVersion", "ConsoleLink", "ConsoleSession", "FileRecord", "Invitation", "OrgDataKey", "Organization",
    "OtlpSeries", "Policy", "PolicyVersion", "RateLimit", "SpendLimit", "SpendLimitIncreaseRequest", "StoredContent",
    "UsageRecord", "UsageRollup", "User", "Webhook", "WebhookAttempt", "WebhookDelivery", "Workspace",
    "WorkspaceMember",
]
