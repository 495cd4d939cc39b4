"""Every control-plane service, built once from the database and settings (the app, the CLI and tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from steward.compliance.access_review import AccessReviewService
from steward.compliance.activities import ActivityService
from steward.compliance.chain import build_chains
from steward.compliance.content import ContentReader, KeyRing
from steward.compliance.crypto import MasterKey, master_key_source
from steward.compliance.directory import DirectoryService
from steward.compliance.groups import ComplianceGroupService
from steward.compliance.siem import AuditTrailService
from steward.controlplane.catalog import CatalogService
from steward.controlplane.invitations import InvitationService
from steward.controlplane.keys import AdminKeyService, KeyRules, KeyService
from steward.controlplane.organization import OrganizationService
from steward.controlplane.policies import PolicyService
from steward.controlplane.rate_limits import RateLimitService
from steward.controlplane.spend_limits import SpendLimitService
from steward.controlplane.spend_requests import IncreaseRequestService
from steward.controlplane.users import UserService
from steward.controlplane.webhooks import WebhookService
from steward.controlplane.workspaces import MemberService, WorkspaceService
from steward.governance.catalog_source import CatalogSource
from steward.reporting.claude_code import ClaudeCodeReports
from steward.reporting.service import ReportService
from steward.settings import Settings
from steward.storage.engine import Database
from steward.storage.repositories.admin import AdminStore
from steward.storage.repositories.audit import AuditRepository
from steward.storage.repositories.catalog import CatalogRepository, UnpricedUsage
from steward.storage.repositories.claude_code import ClaudeCodeRepository
from steward.storage.repositories.governance import ContentRepository
from steward.storage.repositories.policies import PolicyRepository
from steward.storage.repositories.reports import ReportsRepository


@dataclass(slots=True, frozen=True)
class AdminServices:
    store: AdminStore
    organization: OrganizationService
    users: UserService
    invitations: InvitationService
    workspaces: WorkspaceService
    members: MemberService
    keys: KeyService
    admin_keys: AdminKeyService
    rate_limits: RateLimitService
    spend_limits: SpendLimitService
    increase_requests: IncreaseRequestService
    webhooks: WebhookService
    compliance_groups: ComplianceGroupService
    claude_code: ClaudeCodeReports
    policies: PolicyService
    reports: ReportService
    activities: ActivityService
    access_review: AccessReviewService
    directory: DirectoryService
    audit_trail: AuditTrailService
    catalog: CatalogService

    @classmethod
    def build(cls, database: Database, settings: Settings) -> AdminServices:
        store = AdminStore(database.sessions)
        rules = KeyRules(settings.key_name_pattern, settings.key_rotation_grace_seconds)
        # One source of the catalog in force for every service (newest stored version, else the packaged file).
        catalogs = CatalogSource(CatalogRepository(database.sessions))
        master = master_key_source(settings)  # one loader for every service that seals or opens secrets
        return cls(store, OrganizationService(store), UserService(store),
                   InvitationService(store, settings.invitation_expiry_days), WorkspaceService(store),
                   MemberService(store), KeyService(store, rules), AdminKeyService(store),
                   RateLimitService(store, catalogs), SpendLimitService(store),
                   IncreaseRequestService(store),
                   WebhookService(store, master=master,
                                  allow_private=settings.webhook_allow_private),
                   compliance_groups=ComplianceGroupService(store, master),
                   claude_code=ClaudeCodeReports(ClaudeCodeRepository(database.sessions, database.dialect)),
                   policies=PolicyService(store, PolicyRepository(database.sessions), catalogs,
                                          unknown_models=settings.unknown_models),
                   reports=ReportService(ReportsRepository(database.sessions, database.dialect), catalogs),
                   catalog=CatalogService(store, UnpricedUsage(database.sessions)),
                   **_audit_services(store, database, settings, master))


def _audit_services(store: AdminStore, database: Database, settings: Settings,
                    master: Callable[[], MasterKey]) -> dict[str, Any]:
    """The audit trail's and the Compliance API's services (activities, access review, directory, chains)."""
    audit = AuditRepository(database.sessions, database.dialect)
    content = ContentRepository(database.sessions)
    reader = ContentReader(content, KeyRing(content, master))
    return {"activities": ActivityService(store, audit, reader), "access_review": AccessReviewService(audit),
            "directory": DirectoryService(audit), "audit_trail": AuditTrailService(build_chains(settings, database))}
