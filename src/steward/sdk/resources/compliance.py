"""``admin.compliance.groups``: compliance groups (create, list, get, update, delete), their workspaces and the
legal hold, over ``/v1/admin/compliance/groups``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from steward.sdk.models import AdminObject
from steward.sdk.resources.base import (
    NOT_GIVEN,
    Call,
    ListCall,
    NotGiven,
    Resource,
    S,
    compact,
    endpoint,
    listing,
    path,
)

AuditLevel = Literal["metadata", "full"]


class Restrictions(AdminObject):
    data_retention_days: int | None = None
    require_encryption: bool = False
    allowed_regions: list[str] | None = None
    audit_level: AuditLevel = "metadata"


class ComplianceGroup(AdminObject):
    id: str
    type: Literal["compliance_group"] = "compliance_group"
    name: str
    description: str | None = None
    restrictions: Restrictions
    legal_hold: bool = False
    workspace_ids: list[str] = []
    created_at: datetime
    updated_at: datetime


class ComplianceGroupDeleted(AdminObject):
    id: str
    type: Literal["compliance_group_deleted"] = "compliance_group_deleted"


class Groups(Resource[S]):
    """Compliance groups: restrictions every member workspace inherits (strictest wins)."""

    @endpoint
    def create(self, *, name: str, description: str | None = None,
               restrictions: Mapping[str, Any] | None = None) -> Call[ComplianceGroup]:
        """A new group, e.g. ``restrictions={"data_retention_days": 90, "audit_level": "full"}``."""
        body = compact(name=name, description=description,
                       restrictions=dict(restrictions) if restrictions is not None else None)
        return Call("POST", "/v1/admin/compliance/groups", ComplianceGroup.model_validate, body=body)

    @listing
    def list(self, *, limit: int | None = None, before_id: str | None = None,
             after_id: str | None = None) -> ListCall[ComplianceGroup]:
        """Every group of the organization, oldest first."""
        return ListCall("/v1/admin/compliance/groups", ComplianceGroup,
                        compact(limit=limit, before_id=before_id, after_id=after_id))

    @endpoint
    def get(self, group_id: str) -> Call[ComplianceGroup]:
        """One group with its workspace ids."""
        return Call("GET", path("/v1/admin/compliance/groups/{}", group_id), ComplianceGroup.model_validate)

    @endpoint
    def update(self, group_id: str, *, name: str | None = None, description: str | NotGiven | None = NOT_GIVEN,
               restrictions: Mapping[str, Any] | None = None) -> Call[ComplianceGroup]:
        """Rename, describe, or change restrictions (merged over the current ones)."""
        body = compact(name=name, restrictions=dict(restrictions) if restrictions is not None else None)
        if not isinstance(description, NotGiven):
            body["description"] = description
        return Call("POST", path("/v1/admin/compliance/groups/{}", group_id), ComplianceGroup.model_validate,
                    body=body)

    @endpoint
    def delete(self, group_id: str) -> Call[ComplianceGroupDeleted]:
        """Delete a group (its workspaces leave it; stored content stays until retention)."""
        return Call("DELETE", path("/v1/admin/compliance/groups/{}", group_id),
                    ComplianceGroupDeleted.model_validate)

    @endpoint
    def add_workspace(self, group_id: str, *, workspace_id: str) -> Call[ComplianceGroup]:
        """Put a workspace under the group's restrictions (idempotent)."""
        return Call("POST", path("/v1/admin/compliance/groups/{}/workspaces", group_id),
                    ComplianceGroup.model_validate, body={"workspace_id": workspace_id})

    @endpoint
    def remove_workspace(self, group_id: str, workspace_id: str) -> Call[ComplianceGroup]:
        """Take a workspace out of the group."""
        return Call("DELETE", path("/v1/admin/compliance/groups/{}/workspaces/{}", group_id, workspace_id),
                    ComplianceGroup.model_validate)

    @endpoint
    def legal_hold(self, group_id: str, *, enabled: bool, reason: str | None = None) -> Call[ComplianceGroup]:
        """Pause (``enabled=True``) or resume retention purging for the group's workspaces."""
        return Call("POST", path("/v1/admin/compliance/groups/{}/legal_hold", group_id),
                    ComplianceGroup.model_validate, body=compact(enabled=enabled, reason=reason))


class Compliance(Resource[S]):
    """``admin.compliance``: compliance groups (``groups``)."""

    @property
    def groups(self) -> Groups[S]:
        return Groups(self._sender)
