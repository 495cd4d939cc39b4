"""Rate limits as admins set them: organization entries, workspace overrides and key limits.

Shapes follow Anthropic's ``/v1/organizations/rate_limits`` and ``workspaces/{id}/rate_limits`` (entries per
rate-limit group with ``limits: [{type, value}]``); Steward adds writes at the organization level and limits
per key. A change bumps the config version, so every gateway enforces it within the snapshot poll interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from steward.controlplane.audit import admin_event
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require
from steward.controlplane.workspaces import load_workspace
from steward.errors import InvalidRequestError, NotFoundError
from steward.governance.catalog import Catalog
from steward.governance.catalog_source import CatalogSource
from steward.governance.limit_rules import BATCH_GROUP, LIMIT_TYPES, QUEUED_REQUESTS, LimitGroup, limit_groups
from steward.ids import new_id
from steward.storage.models import ApiKey, RateLimit
from steward.storage.repositories.admin import AdminStore, Unit


def _entry_id(group: LimitGroup) -> str:
    return "rl_" + group.id.removeprefix("rlg_")


def _group_json(group: LimitGroup) -> dict[str, Any]:
    out: dict[str, Any] = {"id": group.id, "type": group.type}
    if group.type == "model_group":
        out["display_name"] = group.display_name
    return out


def check_changes(changes: Sequence[dict[str, Any]], group: LimitGroup) -> list[tuple[str, int | None]]:
    """``[{type, value}]`` validated: limiter types the group knows, positive integers or null (clear)."""
    allowed = ("requests_per_minute", QUEUED_REQUESTS) if group.id == BATCH_GROUP else tuple(LIMIT_TYPES)
    out = []
    for change in changes:
        kind, value = change.get("type"), change.get("value")
        if kind not in allowed:
            raise InvalidRequestError(f"limits.type: for {group.display_name}, one of {', '.join(allowed)}")
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InvalidRequestError("limits.value: a positive integer, or null to clear")
        out.append((str(kind), value))
    return out


class RateLimitService:
    def __init__(self, store: AdminStore, catalogs: CatalogSource) -> None:
        self._store = store
        self._catalogs = catalogs  # model groups follow the catalog in force (families added by import or sync)
        self._built: tuple[Catalog, dict[str, LimitGroup]] | None = None

    async def _groups(self) -> dict[str, LimitGroup]:
        catalog = await self._catalogs.current()
        if self._built is None or self._built[0] is not catalog:
            self._built = (catalog, {_entry_id(g): g for g in limit_groups(catalog)})
        return self._built[1]

    async def _group(self, rate_limit_id: str) -> LimitGroup:
        group = (await self._groups()).get(rate_limit_id)
        if group is None:
            raise NotFoundError(f"rate_limit: {rate_limit_id} not found")
        return group

    @staticmethod
    def _values(rows: Sequence[RateLimit], scope: str, scope_id: str, group: LimitGroup) -> dict[str, int]:
        return {r.limit_type: r.value for r in rows
                if r.scope == scope and r.scope_id == scope_id and r.group_id == group.id}

    def _org_entry(self, group: LimitGroup, rows: Sequence[RateLimit], org_id: str) -> dict[str, Any]:
        values = self._values(rows, "organization", org_id, group)
        return {"type": "rate_limit", "id": _entry_id(group), "group": _group_json(group),
                "limits": [{"type": k, "value": v} for k, v in sorted(values.items())],
                "models": list(group.models) if group.type == "model_group" else None}

    def _scoped_entry(self, kind: str, scope: str, scope_id: str, group: LimitGroup, rows: Sequence[RateLimit],
                      org_id: str, include_inherited: bool) -> dict[str, Any]:
        own = self._values(rows, scope, scope_id, group)
        org = self._values(rows, "organization", org_id, group)
        limits = [{"type": k, "value": v, "org_limit": org.get(k), "source": {"type": scope}}
                  for k, v in sorted(own.items())]
        if include_inherited:
            limits += [{"type": k, "value": v, "org_limit": v, "source": {"type": "organization"}}
                       for k, v in sorted(org.items()) if k not in own]
        entry = {"type": kind, "rate_limit_id": _entry_id(group), "group": _group_json(group), "limits": limits,
                 "models": list(group.models) if group.type == "model_group" else None}
        entry["workspace_id" if scope == "workspace" else "api_key_id"] = scope_id
        return entry

    async def list_org(self, principal: Principal, *, group_type: str | None = None) -> dict[str, Any]:
        require(principal, Permission.ORG_READ)
        async with self._store.unit() as unit:
            rows = await unit.rate_limits(principal.org_id, scope="organization")
        data = [self._org_entry(g, rows, principal.org_id) for g in (await self._groups()).values()
                if group_type in (None, g.type)]
        return {"data": data, "has_more": False, "next_page": None}

    async def _apply(self, unit: Unit, principal: Principal, scope: str, scope_id: str, group: LimitGroup,
                     changes: Sequence[dict[str, Any]]) -> None:
        wanted = check_changes(changes, group)
        rows = {r.limit_type: r for r in await unit.rate_limits(principal.org_id, scope=scope, scope_id=scope_id)
                if r.group_id == group.id}
        before = {k: r.value for k, r in rows.items()}
        now = datetime.now(UTC)
        for kind, value in wanted:
            row = rows.get(kind)
            if value is None and row is not None:
                await unit.delete(row)
            elif value is not None and row is not None:
                row.value, row.updated_at = value, now
                unit.add(row)
            elif value is not None:
                unit.add(RateLimit(id=new_id("rl"), org_id=principal.org_id, scope=scope, scope_id=scope_id,
                                   group_id=group.id, limit_type=kind, value=value, updated_at=now))
        unit.audit(admin_event(principal, "admin.rate_limits.update", target={"scope": scope, "scope_id": scope_id,
                                                                              "group_id": group.id},
                               workspace_id=scope_id if scope == "workspace" else None,
                               before=before, after={k: v for k, v in wanted}))

    async def update_org(self, principal: Principal, rate_limit_id: str,
                         changes: Sequence[dict[str, Any]]) -> dict[str, Any]:
        require(principal, Permission.RATE_LIMITS_WRITE)  # organization-wide settings: admins only
        group = await self._group(rate_limit_id)
        async with self._store.unit() as unit:
            await self._apply(unit, principal, "organization", principal.org_id, group, changes)
            await unit.flush()
            rows = await unit.rate_limits(principal.org_id, scope="organization")
        return self._org_entry(group, rows, principal.org_id)

    async def list_workspace(self, principal: Principal, workspace_id: str, *,
                             include_inherited: bool = False) -> dict[str, Any]:
        async with self._store.unit() as unit:
            ws = await load_workspace(unit, principal, workspace_id)
            require(principal, Permission.WORKSPACES_READ, ws.id)
            rows = await unit.rate_limits(principal.org_id)
        data = [self._scoped_entry("workspace_rate_limit", "workspace", ws.id, g, rows, principal.org_id,
                                   include_inherited) for g in (await self._groups()).values()]
        return {"data": [d for d in data if d["limits"]], "has_more": False, "next_page": None}

    async def update_workspace(self, principal: Principal, workspace_id: str, rate_limit_id: str,
                               changes: Sequence[dict[str, Any]]) -> dict[str, Any]:
        require(principal, Permission.RATE_LIMITS_WRITE)
        group = await self._group(rate_limit_id)
        async with self._store.unit() as unit:
            ws = await load_workspace(unit, principal, workspace_id)
            await self._apply(unit, principal, "workspace", ws.id, group, changes)
            await unit.flush()
            rows = await unit.rate_limits(principal.org_id)
        return self._scoped_entry("workspace_rate_limit", "workspace", ws.id, group, rows, principal.org_id, False)

    async def _key(self, unit: Unit, principal: Principal, key_id: str, permission: Permission) -> ApiKey:
        key = await unit.get(ApiKey, key_id)
        if key is None or key.org_id != principal.org_id:
            raise NotFoundError(f"api_key: {key_id} not found")
        require(principal, permission, key.workspace_id)
        return key

    async def list_key(self, principal: Principal, key_id: str) -> dict[str, Any]:
        async with self._store.unit() as unit:
            key = await self._key(unit, principal, key_id, Permission.KEYS_READ)
            rows = await unit.rate_limits(principal.org_id)
        data = [self._scoped_entry("key_rate_limit", "key", key.id, g, rows, principal.org_id, False)
                for g in (await self._groups()).values()]
        return {"data": [d for d in data if d["limits"]], "has_more": False, "next_page": None}

    async def update_key(self, principal: Principal, key_id: str, rate_limit_id: str,
                         changes: Sequence[dict[str, Any]]) -> dict[str, Any]:
        group = await self._group(rate_limit_id)
        async with self._store.unit() as unit:
            key = await self._key(unit, principal, key_id, Permission.KEYS_WRITE)
            await self._apply(unit, principal, "key", key.id, group, changes)
            await unit.flush()
            rows = await unit.rate_limits(principal.org_id)
        return self._scoped_entry("key_rate_limit", "key", key.id, group, rows, principal.org_id, False)
