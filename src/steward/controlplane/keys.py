"""Workspace API keys (create, list, get, update, rotate with grace, revoke, hygiene report) and admin keys."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from steward.controlplane.audit import admin_event
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require, visible_workspaces
from steward.controlplane.shapes import admin_key_object, api_key_object, page_object
from steward.controlplane.users import load_user
from steward.controlplane.workspaces import load_workspace
from steward.errors import InvalidRequestError, NotFoundError
from steward.identity.keyformat import ADMIN_KEY_PREFIX, hash_key, mint, partial_hint
from steward.ids import new_id
from steward.storage.models import AdminKey, ApiKey
from steward.storage.repositories.admin import AdminStore, Unit

SETTABLE_STATUSES = ("active", "inactive", "archived")
ADMIN_SCOPES = frozenset({"read_only", "compliance"})


@dataclass(slots=True, frozen=True)
class KeyRules:
    name_pattern: str
    rotation_grace_seconds: int


def _expiry(days: int | None, now: datetime) -> datetime | None:
    if days is None:
        return None
    if not 1 <= days <= 3650:
        raise InvalidRequestError("expires_in_days: must be between 1 and 3650")
    return now + timedelta(days=days)


def _check_scopes(scopes: dict[str, Any] | None) -> dict[str, Any] | None:
    if scopes is None:
        return None
    models = scopes.get("models")
    if set(scopes) - {"models"} or not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise InvalidRequestError('scopes: expected {"models": ["model id or pattern", ...]}')
    return {"models": models}


class KeyService:
    def __init__(self, store: AdminStore, rules: KeyRules) -> None:
        self._store = store
        self._rules = rules
        self._name = re.compile(rules.name_pattern)

    def check_name(self, name: str) -> None:
        if not 1 <= len(name) <= 500 or not self._name.match(name):
            raise InvalidRequestError(f"name: {name!r} does not follow the key naming convention "
                                      f"({self._rules.name_pattern}, e.g. ml-prod-inference)")

    async def _load(self, unit: Unit, principal: Principal, key_id: str, permission: Permission) -> ApiKey:
        key = await unit.get(ApiKey, key_id)
        if key is None or key.org_id != principal.org_id:
            raise NotFoundError(f"api_key: {key_id} not found")
        require(principal, permission, key.workspace_id)
        return key

    async def create(self, principal: Principal, workspace_id: str, name: str, *, expires_in_days: int | None = None,
                     scopes: dict[str, Any] | None = None, owner: str | None = None) -> dict[str, Any]:
        """A new key; its secret is in the answer only. ``owner`` (a user id) makes the key that person's: it is
        shown as created by them and counts under their person spend limits. Giving a key to someone else takes
        ``users.write`` (an organization admin), so nobody can move their spend onto another person's cap."""
        self.check_name(name)
        async with self._store.unit() as unit:
            ws = await load_workspace(unit, principal, workspace_id)
            require(principal, Permission.KEYS_WRITE, ws.id)
            if ws.archived_at is not None:
                raise InvalidRequestError(f"Workspace {ws.name!r} is archived.")
            creator = principal.user_id
            if owner is not None and owner != principal.user_id:
                require(principal, Permission.USERS_WRITE)
                creator = (await load_user(unit, principal, owner)).id
            now = datetime.now(UTC)
            minted = mint()
            key = ApiKey(id=new_id("apikey"), org_id=ws.org_id, workspace_id=ws.id, name=name, status="active",
                         key_hash=minted.key_hash, partial_key_hint=minted.hint, created_at=now,
                         created_by=creator, expires_at=_expiry(expires_in_days, now),
                         last_used_at=None, scopes=_check_scopes(scopes))
            unit.add(key)
            unit.audit(admin_event(principal, "admin.keys.create", workspace_id=ws.id, target={"api_key_id": key.id},
                                   after={"name": name, "expires_at": key.expires_at, "scopes": key.scopes,
                                          **({"owner": creator} if creator != principal.user_id else {})}))
            return {**api_key_object(key, now), "secret": minted.secret}

    async def list(self, principal: Principal, paging: Paging, *, workspace_id: str | None = None,
                   status: str | None = None, created_by: str | None = None) -> dict[str, Any]:
        if status is not None and status not in (*SETTABLE_STATUSES, "expired"):
            raise InvalidRequestError(f"status: Input should be one of {', '.join((*SETTABLE_STATUSES, 'expired'))}")
        visible = visible_workspaces(principal, Permission.KEYS_READ)
        if workspace_id is not None:
            visible = [workspace_id] if visible is None or workspace_id in visible else []
        now = datetime.now(UTC)
        async with self._store.unit() as unit:
            page = await unit.api_keys_page(principal.org_id, workspace_ids=visible, status=status,
                                            created_by=created_by, now=now, limit=paging.limit,
                                            before_id=paging.before_id, after_id=paging.after_id)
            return page_object([api_key_object(k, now) for k in page], page.has_more)

    async def id_of_secret(self, principal: Principal, secret: str) -> str:
        """The id of the key a (leaked) secret belongs to, so it can be revoked by pasting it; the secret is
        never repeated back (an error shows its hint only)."""
        async with self._store.unit() as unit:
            key = await unit.api_key_by_hash(principal.org_id, hash_key(secret.strip()))
            if key is None:
                raise NotFoundError(f"api_key: no key of this organization has the secret {partial_hint(secret)}")
            require(principal, Permission.KEYS_READ, key.workspace_id)
            return str(key.id)

    async def get(self, principal: Principal, key_id: str) -> dict[str, Any]:
        async with self._store.unit() as unit:
            return api_key_object(await self._load(unit, principal, key_id, Permission.KEYS_READ), datetime.now(UTC))

    async def update(self, principal: Principal, key_id: str, *, name: str | None = None,
                     status: str | None = None) -> dict[str, Any]:
        if name is not None:
            self.check_name(name)
        if status is not None and status not in SETTABLE_STATUSES:
            raise InvalidRequestError(f"status: Input should be one of {', '.join(SETTABLE_STATUSES)}")
        async with self._store.unit() as unit:
            key = await self._load(unit, principal, key_id, Permission.KEYS_WRITE)
            if key.status == "archived" and (name is not None or status not in (None, "archived")):
                raise InvalidRequestError("An archived key cannot be changed.")
            before = {"name": key.name, "status": key.status}
            key.name = name if name is not None else key.name
            key.status = status if status is not None else key.status
            unit.add(key)
            action = "admin.keys.revoke" if status == "archived" else "admin.keys.update"
            unit.audit(admin_event(principal, action, workspace_id=key.workspace_id, target={"api_key_id": key.id},
                                   before=before, after={"name": key.name, "status": key.status}))
            return api_key_object(key, datetime.now(UTC))

    async def revoke(self, principal: Principal, key_id: str) -> dict[str, Any]:
        return await self.update(principal, key_id, status="archived")

    async def restrict_models(self, principal: Principal, key_id: str, models: Sequence[str] | None) -> dict[str, Any]:
        """Set the models a key may call (ids or patterns, checked beside the policy's), or None for no
        restriction of its own; audited as ``admin.keys.update``."""
        scopes = _check_scopes({"models": list(models)}) if models is not None else None
        async with self._store.unit() as unit:
            key = await self._load(unit, principal, key_id, Permission.KEYS_WRITE)
            if key.status == "archived":
                raise InvalidRequestError("An archived key cannot be changed.")
            before = {"scopes": key.scopes}
            key.scopes = scopes
            unit.add(key)
            unit.audit(admin_event(principal, "admin.keys.update", workspace_id=key.workspace_id,
                                   target={"api_key_id": key.id}, before=before, after={"scopes": scopes}))
            return api_key_object(key, datetime.now(UTC))

    async def rotate(self, principal: Principal, key_id: str, *,
                     grace_period_seconds: int | None = None) -> dict[str, Any]:
        grace = self._rules.rotation_grace_seconds if grace_period_seconds is None else grace_period_seconds
        if not 0 <= grace <= 30 * 86400:
            raise InvalidRequestError("grace_period_seconds: must be between 0 and 2592000 (30 days)")
        async with self._store.unit() as unit:
            key = await self._load(unit, principal, key_id, Permission.KEYS_WRITE)
            if key.status != "active":
                raise InvalidRequestError(f"Only an active key can be rotated (this one is {key.status}).")
            now = datetime.now(UTC)
            minted = mint()
            key.previous_key_hash = key.key_hash if grace > 0 else None
            key.previous_valid_until = now + timedelta(seconds=grace) if grace > 0 else None
            key.key_hash, key.partial_key_hint, key.rotated_at = minted.key_hash, minted.hint, now
            unit.add(key)
            unit.audit(admin_event(principal, "admin.keys.rotate", workspace_id=key.workspace_id,
                                   target={"api_key_id": key.id},
                                   after={"rotated_at": now, "old_secret_valid_until": key.previous_valid_until}))
            return {**api_key_object(key, now), "secret": minted.secret}

    async def report(self, principal: Principal, *, rotation_age_days: int = 90,
                     unused_days: int = 30) -> dict[str, Any]:
        visible = visible_workspaces(principal, Permission.KEYS_READ)
        now = datetime.now(UTC)
        async with self._store.unit() as unit:
            keys = await unit.api_keys(principal.org_id, workspace_ids=visible, statuses=("active", "inactive"))
        rotation_cut, unused_cut = now - timedelta(days=rotation_age_days), now - timedelta(days=unused_days)
        due = [k for k in keys if (k.rotated_at or k.created_at) < rotation_cut]
        unused = [k for k in keys if (k.last_used_at or k.created_at) < unused_cut]
        return {"rotation_age_days": rotation_age_days, "unused_days": unused_days,
                "rotation_due": [api_key_object(k, now) for k in due],
                "unused": [api_key_object(k, now) for k in unused]}


class AdminKeyService:
    def __init__(self, store: AdminStore) -> None:
        self._store = store

    async def create(self, principal: Principal, name: str, *, user_id: str | None = None,
                     scopes: Sequence[str] = (), expires_in_days: int | None = None) -> dict[str, Any]:
        owner = user_id or principal.user_id
        if owner is None:
            raise InvalidRequestError("user_id: required when no user is signed in")
        require(principal, Permission.ADMIN_KEYS_SELF if owner == principal.user_id else Permission.ADMIN_KEYS_OTHERS)
        if not set(scopes) <= ADMIN_SCOPES:
            raise InvalidRequestError(f"scopes: allowed values are {sorted(ADMIN_SCOPES)}")
        if not 1 <= len(name) <= 500:
            raise InvalidRequestError("name: 1-500 characters")
        async with self._store.unit() as unit:
            user = await load_user(unit, principal, owner)
            now = datetime.now(UTC)
            minted = mint(ADMIN_KEY_PREFIX)
            key = AdminKey(id=new_id("adminkey"), org_id=user.org_id, user_id=user.id, name=name, status="active",
                           key_hash=minted.key_hash, partial_key_hint=minted.hint,
                           scopes=sorted(set(scopes)), created_at=now,
                           expires_at=_expiry(expires_in_days, now), last_used_at=None)
            unit.add(key)
            unit.audit(admin_event(principal, "admin.admin_keys.create", target={"admin_key_id": key.id},
                                   after={"user_id": user.id, "name": name, "scopes": key.scopes}))
            return {**admin_key_object(key), "secret": minted.secret}

    async def list(self, principal: Principal, paging: Paging) -> dict[str, Any]:
        async with self._store.unit() as unit:
            only = None if principal.role == "admin" else principal.user_id
            page = await unit.admin_keys_page(principal.org_id, user_id=only, limit=paging.limit,
                                              before_id=paging.before_id, after_id=paging.after_id)
            return page_object([admin_key_object(k) for k in page], page.has_more)

    async def revoke(self, principal: Principal, key_id: str) -> dict[str, Any]:
        async with self._store.unit() as unit:
            key = await unit.get(AdminKey, key_id)
            if key is None or key.org_id != principal.org_id:
                raise NotFoundError(f"admin_key: {key_id} not found")
            require(principal, Permission.ADMIN_KEYS_SELF if key.user_id == principal.user_id
                    else Permission.ADMIN_KEYS_OTHERS)
            before = key.status
            key.status = "archived"
            unit.add(key)
            unit.audit(admin_event(principal, "admin.admin_keys.revoke", target={"admin_key_id": key.id},
                                   before={"status": before}, after={"status": "archived"}))
            return admin_key_object(key)
