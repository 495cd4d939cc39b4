"""Invitations: create (with workspaces), list by status, get, revoke, and accept with a one-time token.

The token is shown once (in the create response) and stored as a SHA-256 hash. Accepting creates the user,
their workspace memberships and a first admin key for them (its secret is shown once, in that response).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from steward.controlplane.audit import admin_event
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require
from steward.controlplane.shapes import admin_key_object, invite_object, invite_status, page_object, user_object
from steward.controlplane.users import check_org_role
from steward.controlplane.workspaces import check_workspace_role, load_workspace
from steward.errors import ConflictError, InvalidRequestError, NotFoundError
from steward.identity.keyformat import ADMIN_KEY_PREFIX, mint
from steward.ids import new_id
from steward.storage.models import AdminKey, Invitation, User, WorkspaceMember
from steward.storage.repositories.admin import AdminStore, Unit

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "stw_inv_"  # noqa: S105 - a prefix, not a secret
STATUSES = ("pending", "accepted", "expired", "deleted")
DEFAULT_WORKSPACE_ROLE = {"admin": "workspace_admin", "developer": "workspace_developer",
                          "billing": "workspace_billing"}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _workspace_grants(role: str, workspaces: Sequence[str | dict[str, Any]] | None) -> list[dict[str, str]]:
    grants = []
    for item in workspaces or []:
        if isinstance(item, str):
            grants.append({"workspace_id": item,
                           "workspace_role": DEFAULT_WORKSPACE_ROLE.get(role, "workspace_user")})
        elif isinstance(item, dict) and isinstance(item.get("workspace_id"), str):
            grants.append({"workspace_id": item["workspace_id"],
                           "workspace_role": check_workspace_role(str(item.get("workspace_role") or
                                                                      item.get("role") or "workspace_user"))})
        else:
            raise InvalidRequestError("workspaces: each item is a workspace id or {workspace_id, workspace_role}")
    return grants


class InvitationService:
    def __init__(self, store: AdminStore, default_days: int) -> None:
        self._store = store
        self._default_days = default_days

    async def create(self, principal: Principal, email: str, role: str, *,
                     workspaces: Sequence[str | dict[str, Any]] | None = None,
                     expires_in_days: int | None = None) -> dict[str, Any]:
        require(principal, Permission.INVITES_WRITE)
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise InvalidRequestError("email: Input should be a valid email address")
        check_org_role(role)
        days = self._default_days if expires_in_days is None else expires_in_days
        if not 1 <= days <= 90:
            raise InvalidRequestError("expires_in_days: must be between 1 and 90")
        grants = _workspace_grants(role, workspaces)
        async with self._store.unit() as unit:
            for grant in grants:
                ws = await load_workspace(unit, principal, grant["workspace_id"])
                if ws.archived_at is not None:
                    raise InvalidRequestError(f"Workspace {ws.name!r} is archived.")
            if await unit.user_by_email(principal.org_id, email) is not None:
                raise ConflictError(f"{email} is already a member of the organization.")
            now = datetime.now(UTC)
            pending = await unit.invitations_page(principal.org_id, email=email, roles=None, statuses=["pending"],
                                                  now=now, limit=1, before_id=None, after_id=None)
            if pending:
                raise ConflictError(f"A pending invitation for {email} already exists ({pending[0].id}).")
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            invite = Invitation(id=new_id("invite"), org_id=principal.org_id, email=email, role=role,
                                workspaces=grants, status="pending", token_hash=_hash(token),
                                invited_by=principal.user_id, invited_at=now, expires_at=now + timedelta(days=days),
                                accepted_at=None, deleted_at=None)
            unit.add(invite)
            unit.audit(admin_event(principal, "admin.invitations.create", target={"invite_id": invite.id},
                                   after={"email": email, "role": role, "workspaces": grants,
                                          "expires_at": invite.expires_at}))
            return {**invite_object(invite, now), "token": token}

    async def list(self, principal: Principal, paging: Paging, *, statuses: Sequence[str] | None = None,
                   email: str | None = None, roles: Sequence[str] | None = None) -> dict[str, Any]:
        require(principal, Permission.INVITES_READ)
        for status in statuses or ():
            if status not in STATUSES and status != "revoked":
                raise InvalidRequestError(f"status: Input should be one of {', '.join(STATUSES)}")
        wanted = ["deleted" if s == "revoked" else s for s in statuses] if statuses else None
        now = datetime.now(UTC)
        async with self._store.unit() as unit:
            page = await unit.invitations_page(principal.org_id, email=email.strip().lower() if email else None,
                                               roles=roles, statuses=wanted, now=now,
                                               limit=paging.limit, before_id=paging.before_id,
                                               after_id=paging.after_id)
            return page_object([invite_object(i, now) for i in page], page.has_more)

    async def _load(self, unit: Unit, principal: Principal, invite_id: str) -> Invitation:
        invite = await unit.get(Invitation, invite_id)
        if invite is None or invite.org_id != principal.org_id:
            raise NotFoundError(f"invite: {invite_id} not found")
        return invite

    async def get(self, principal: Principal, invite_id: str) -> dict[str, Any]:
        require(principal, Permission.INVITES_READ)
        async with self._store.unit() as unit:
            return invite_object(await self._load(unit, principal, invite_id), datetime.now(UTC))

    async def revoke(self, principal: Principal, invite_id: str) -> dict[str, Any]:
        require(principal, Permission.INVITES_WRITE)
        now = datetime.now(UTC)
        async with self._store.unit() as unit:
            invite = await self._load(unit, principal, invite_id)
            if invite.status != "pending":
                raise InvalidRequestError(f"Only a pending invitation can be revoked (this one is {invite.status}).")
            invite.status, invite.deleted_at = "deleted", now
            unit.add(invite)
            unit.audit(admin_event(principal, "admin.invitations.revoke", target={"invite_id": invite.id},
                                   before={"status": "pending"}, after={"status": "deleted"}))
            return invite_object(invite, now)

    async def accept(self, token: str, name: str, *, request_id: str | None = None,
                     ip: str | None = None) -> dict[str, Any]:
        """Redeem a token: the user, their memberships and a first admin key (secret shown once)."""
        if not 1 <= len(name.strip()) <= 200:
            raise InvalidRequestError("name: 1-200 characters")
        now = datetime.now(UTC)
        async with self._store.unit() as unit:
            invite = await unit.invitation_by_token(_hash(token)) if token.startswith(TOKEN_PREFIX) else None
            if invite is None:
                raise NotFoundError("invitation: unknown token")
            status = invite_status(invite, now)
            if status != "pending":
                raise InvalidRequestError(f"This invitation is {status} and cannot be accepted.")
            user = User(id=new_id("user"), org_id=invite.org_id, email=invite.email, name=name.strip(),
                        role=invite.role, added_at=now, removed_at=None)
            unit.add(user)
            await unit.flush()
            for grant in invite.workspaces or []:
                unit.add(WorkspaceMember(workspace_id=grant["workspace_id"], user_id=user.id,
                                         workspace_role=grant["workspace_role"], added_at=now))
            minted = mint(ADMIN_KEY_PREFIX)
            key = AdminKey(id=new_id("adminkey"), org_id=user.org_id, user_id=user.id,
                           name=f"{name.strip()} (first key)", status="active", key_hash=minted.key_hash,
                           partial_key_hint=minted.hint, scopes=[], created_at=now, expires_at=None,
                           last_used_at=None)
            unit.add(key)
            invite.status, invite.accepted_at = "accepted", now
            unit.add(invite)
            actor = Principal(org_id=user.org_id, role=user.role, user_id=user.id, key_id=None,
                              request_id=request_id, ip=ip)
            unit.audit(admin_event(actor, "admin.invitations.accept", target={"invite_id": invite.id},
                                   after={"user_id": user.id, "role": user.role, "workspaces": invite.workspaces}))
            return {"user": user_object(user, [g["workspace_id"] for g in invite.workspaces or []]),
                    "admin_key": admin_key_object(key), "secret": minted.secret}
