"""Compliance groups (the seed's ``POST /v1/admin/compliance/groups``): restrictions that member workspaces
inherit, workspace membership, and the legal hold that pauses retention.

Every change is checked (COMPLIANCE_READ / COMPLIANCE_WRITE), audited and bumps the config version in one
transaction, so gateways apply it within the snapshot poll interval. A group with ``audit_level: full`` gets
its organization a data key (wrapped by the master key) in that same transaction, before any gateway can
start capturing content for it.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from steward.compliance.crypto import MasterKey, new_data_key, wrap
from steward.controlplane.audit import admin_event
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require
from steward.controlplane.shapes import page_object, rfc3339
from steward.errors import ConflictError, InvalidRequestError, NotFoundError
from steward.ids import new_id
from steward.storage.models import ComplianceGroup, ComplianceGroupWorkspace, OrgDataKey, Workspace
from steward.storage.repositories.admin import AdminStore, Unit
from steward.storage.repositories.governance import GroupOps

AUDIT_LEVELS = ("metadata", "full")
RESTRICTION_FIELDS = ("data_retention_days", "require_encryption", "allowed_regions", "audit_level")
MAX_RETENTION_DAYS = 36500


def check_restrictions(value: Any) -> dict[str, Any]:
    """The restrictions with defaults filled in; InvalidRequestError naming the field otherwise."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise InvalidRequestError("restrictions: an object with data_retention_days, require_encryption, "
                                  "allowed_regions and audit_level")
    unknown = sorted(set(value) - set(RESTRICTION_FIELDS))
    if unknown:
        raise InvalidRequestError(f"restrictions.{unknown[0]}: unknown field (expected one of "
                                  f"{', '.join(RESTRICTION_FIELDS)})")
    days = value.get("data_retention_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                             or not 1 <= days <= MAX_RETENTION_DAYS):
        raise InvalidRequestError(f"restrictions.data_retention_days: an integer from 1 to {MAX_RETENTION_DAYS}, "
                                  "or null to keep content until deleted")
    encryption = value.get("require_encryption", False)
    if not isinstance(encryption, bool):
        raise InvalidRequestError("restrictions.require_encryption: true or false")
    regions = value.get("allowed_regions")
    if regions is not None and (not isinstance(regions, list) or not regions
                                or not all(isinstance(r, str) and r.strip() for r in regions)):
        raise InvalidRequestError('restrictions.allowed_regions: a non-empty list of inference regions, e.g. ["us"], '
                                  "or null for any region")
    level = value.get("audit_level", "metadata")
    if level not in AUDIT_LEVELS:
        raise InvalidRequestError('restrictions.audit_level: "metadata" or "full"')
    return {"data_retention_days": days, "require_encryption": encryption,
            "allowed_regions": [r.strip().lower() for r in regions] if regions is not None else None,
            "audit_level": level}


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InvalidRequestError("name: a non-empty string of at most 100 characters")
    return name.strip()


def _check_description(description: Any) -> str | None:
    if description is not None and (not isinstance(description, str) or len(description) > 2000):
        raise InvalidRequestError("description: a string of at most 2000 characters")
    return description or None


def group_object(group: ComplianceGroup, workspace_ids: list[str]) -> dict[str, Any]:
    return {"id": group.id, "type": "compliance_group", "name": group.name, "description": group.description,
            "restrictions": dict(group.restrictions), "legal_hold": bool(group.legal_hold),
            "workspace_ids": list(workspace_ids), "created_at": rfc3339(group.created_at),
            "updated_at": rfc3339(group.updated_at)}


class ComplianceGroupService:
    """Create, read, change and delete compliance groups; join and leave workspaces; legal hold."""

    def __init__(self, store: AdminStore, master_key: Callable[[], MasterKey]) -> None:
        self._store = store
        self._master = master_key

    async def _load(self, ops: GroupOps, principal: Principal, group_id: str) -> ComplianceGroup:
        group = await ops.group(group_id)
        if group is None or group.org_id != principal.org_id:
            raise NotFoundError(f"compliance_group: {group_id} not found")
        return group

    async def _object(self, ops: GroupOps, group: ComplianceGroup) -> dict[str, Any]:
        return group_object(group, (await ops.members([group.id]))[group.id])

    async def _ensure_data_key(self, ops: GroupOps, org_id: str) -> None:
        """Content capture needs the organization's data key; create it once, wrapped by the master key."""
        if await ops.data_key(org_id) is not None:
            return
        master = self._master()
        await ops.add(OrgDataKey(id=new_id("datakey"), org_id=org_id, wrapped_key=wrap(master, new_data_key(), org_id),
                                 master_key_id=master.fingerprint, created_at=datetime.now(UTC)))

    async def create(self, principal: Principal, name: str, description: str | None = None,
                     restrictions: Mapping[str, Any] | None = None) -> dict[str, Any]:
        require(principal, Permission.COMPLIANCE_WRITE)
        name, description = _check_name(name), _check_description(description)
        checked = check_restrictions(restrictions)
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            if await ops.group_by_name(principal.org_id, name) is not None:
                raise ConflictError(f"A compliance group named {name!r} already exists.")
            now = datetime.now(UTC)
            group = ComplianceGroup(id=new_id("cgroup"), org_id=principal.org_id, name=name,
                                    description=description, restrictions=checked, legal_hold=False,
                                    created_at=now, updated_at=now)
            await ops.add(group)
            if checked["audit_level"] == "full":
                await self._ensure_data_key(ops, principal.org_id)
            out = group_object(group, [])
            unit.audit(admin_event(principal, "admin.compliance_groups.create", target={"group_id": group.id},
                                   after=out))
            return out

    async def list(self, principal: Principal, paging: Paging) -> dict[str, Any]:
        require(principal, Permission.COMPLIANCE_READ)
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            page = await ops.groups_page(principal.org_id, limit=paging.limit, before_id=paging.before_id,
                                         after_id=paging.after_id)
            members = await ops.members([g.id for g in page])
            return page_object([group_object(g, members[g.id]) for g in page], page.has_more)

    async def get(self, principal: Principal, group_id: str) -> dict[str, Any]:
        require(principal, Permission.COMPLIANCE_READ)
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            return await self._object(ops, await self._load(ops, principal, group_id))

    async def update(self, principal: Principal, group_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change name, description or restrictions (restrictions given are merged over the current ones)."""
        require(principal, Permission.COMPLIANCE_WRITE)
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            group = await self._load(ops, principal, group_id)
            before = await self._object(ops, group)
            if changes.get("name") is not None:
                name = _check_name(changes["name"])
                other = await ops.group_by_name(principal.org_id, name)
                if other is not None and other.id != group.id:
                    raise ConflictError(f"A compliance group named {name!r} already exists.")
                group.name = name
            if "description" in changes:
                group.description = _check_description(changes["description"])
            if changes.get("restrictions") is not None:
                if not isinstance(changes["restrictions"], Mapping):
                    check_restrictions(changes["restrictions"])
                group.restrictions = check_restrictions({**group.restrictions, **changes["restrictions"]})
            group.updated_at = datetime.now(UTC)
            await ops.add(group)
            if group.restrictions.get("audit_level") == "full":
                await self._ensure_data_key(ops, principal.org_id)
            after = await self._object(ops, group)
            unit.audit(admin_event(principal, "admin.compliance_groups.update", target={"group_id": group.id},
                                   before=before, after=after))
            return after

    async def delete(self, principal: Principal, group_id: str) -> dict[str, Any]:
        require(principal, Permission.COMPLIANCE_WRITE)
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            group = await self._load(ops, principal, group_id)
            before = await self._object(ops, group)
            for workspace_id in before["workspace_ids"]:
                membership = await ops.membership(group.id, workspace_id)
                if membership is not None:
                    await ops.remove(membership)
            await ops.remove(group)
            unit.audit(admin_event(principal, "admin.compliance_groups.delete", target={"group_id": group_id},
                                   before=before))
        return {"id": group_id, "type": "compliance_group_deleted"}

    async def _workspace(self, unit: Unit, principal: Principal, workspace_id: Any) -> Workspace:
        if not isinstance(workspace_id, str) or not workspace_id:
            raise InvalidRequestError("workspace_id: a workspace id")
        ws = await unit.get(Workspace, workspace_id)
        if ws is None or ws.org_id != principal.org_id:
            raise NotFoundError(f"workspace: {workspace_id} not found")
        return ws

    async def add_workspace(self, principal: Principal, group_id: str, workspace_id: str) -> dict[str, Any]:
        """Put a workspace under the group's restrictions (idempotent)."""
        require(principal, Permission.COMPLIANCE_WRITE)
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            group = await self._load(ops, principal, group_id)
            ws = await self._workspace(unit, principal, workspace_id)
            if await ops.membership(group.id, ws.id) is None:
                await ops.add(ComplianceGroupWorkspace(group_id=group.id, workspace_id=ws.id,
                                                       org_id=principal.org_id, added_at=datetime.now(UTC)))
                if group.restrictions.get("audit_level") == "full":
                    await self._ensure_data_key(ops, principal.org_id)
                unit.audit(admin_event(principal, "admin.compliance_groups.add_workspace",
                                       target={"group_id": group.id, "workspace_id": ws.id}, workspace_id=ws.id))
            return await self._object(ops, group)

    async def remove_workspace(self, principal: Principal, group_id: str, workspace_id: str) -> dict[str, Any]:
        require(principal, Permission.COMPLIANCE_WRITE)
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            group = await self._load(ops, principal, group_id)
            membership = await ops.membership(group.id, workspace_id)
            if membership is None:
                raise NotFoundError(f"workspace: {workspace_id} is not in compliance group {group_id}")
            await ops.remove(membership)
            unit.audit(admin_event(principal, "admin.compliance_groups.remove_workspace",
                                   target={"group_id": group.id, "workspace_id": workspace_id},
                                   workspace_id=workspace_id))
            return await self._object(ops, group)

    async def legal_hold(self, principal: Principal, group_id: str, enabled: bool,
                         reason: str | None = None) -> dict[str, Any]:
        """Pause (or resume) retention purging for every workspace of the group; the reason is audited."""
        require(principal, Permission.COMPLIANCE_WRITE)
        if not isinstance(enabled, bool):
            raise InvalidRequestError("enabled: true or false")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
            raise InvalidRequestError("reason: a string of at most 2000 characters")
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            group = await self._load(ops, principal, group_id)
            before = await self._object(ops, group)
            group.legal_hold = enabled
            group.updated_at = datetime.now(UTC)
            await ops.add(group)
            after = await self._object(ops, group)
            unit.audit(admin_event(principal, "admin.compliance_groups.legal_hold", target={"group_id": group.id},
                                   before=before, after=after, reason=reason))
            return after

    async def find(self, principal: Principal, name: str) -> dict[str, Any] | None:
        """The group with this name, or None (policy as code matches groups by name)."""
        require(principal, Permission.COMPLIANCE_READ)
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            group = await ops.group_by_name(principal.org_id, name)
            return await self._object(ops, group) if group is not None else None

    async def all(self, principal: Principal) -> builtins.list[dict[str, Any]]:
        """Every group of the organization, oldest first."""
        require(principal, Permission.COMPLIANCE_READ)
        async with self._store.unit() as unit:
            ops = GroupOps(unit)
            groups = await ops.groups(principal.org_id)
            members = await ops.members([g.id for g in groups])
            return [group_object(g, members[g.id]) for g in groups]
