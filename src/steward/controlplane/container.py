"""Every control-plane service, built once from the database and settings (the app, the CLI and tests)."""

from __future__ import annotations

from dataclasses import dataclass

from steward.controlplane.invitations import InvitationService
from steward.controlplane.keys import AdminKeyService, KeyRules, KeyService
from steward.controlplane.organization import OrganizationService
from steward.controlplane.rate_limits import RateLimitService
from steward.controlplane.spend_limits import SpendLimitService
from steward.controlplane.spend_requests import IncreaseRequestService
from steward.controlplane.users import UserService
from steward.controlplane.webhooks import WebhookService
from steward.controlplane.workspaces import MemberService, WorkspaceService
from steward.governance.catalog import Catalog
from steward.settings import Settings
from steward.storage.engine import Database
from steward.storage.repositories.admin import AdminStore


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

    @classmethod
    def build(cls, database: Database, settings: Settings) -> AdminServices:
        store = AdminStore(database.sessions)
        rules = KeyRules(settings.key_name_pattern, settings.key_rotation_grace_seconds)
        return cls(store, OrganizationService(store), UserService(store),
                   InvitationService(store, settings.invitation_expiry_days), WorkspaceService(store),
                   MemberService(store), KeyService(store, rules), AdminKeyService(store),
                   RateLimitService(store, Catalog.load_default()), SpendLimitService(store),
                   IncreaseRequestService(store), WebhookService(store))
