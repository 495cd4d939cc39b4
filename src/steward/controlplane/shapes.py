"""Admin objects as JSON, in Anthropic's exact shapes (plus clearly additive Steward fields)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from steward.storage.models import AdminKey, ApiKey, Invitation, User, Workspace, WorkspaceMember

_COMPARTMENT_NAMESPACE = uuid.UUID("5b1f8c9e-2d4a-4e7b-9f3c-1a2b3c4d5e6f")


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def user_object(user: User, workspace_ids: Sequence[str] = ()) -> dict[str, Any]:
    return {"id": user.id, "type": "user", "email": user.email, "name": user.name, "role": user.role,
            "added_at": rfc3339(user.added_at), "workspace_ids": list(workspace_ids)}


def invite_status(invite: Invitation, now: datetime) -> str:
    if invite.status == "pending" and invite.expires_at <= now:
        return "expired"
    return invite.status


def invite_object(invite: Invitation, now: datetime) -> dict[str, Any]:
    return {"id": invite.id, "type": "invite", "email": invite.email, "role": invite.role,
            "status": invite_status(invite, now), "invited_at": rfc3339(invite.invited_at),
            "expires_at": rfc3339(invite.expires_at), "accepted_at": rfc3339(invite.accepted_at),
            "rbac_group_ids": [], "workspaces": list(invite.workspaces or [])}


def workspace_object(ws: Workspace) -> dict[str, Any]:
    return {"id": ws.id, "type": "workspace", "name": ws.name, "display_color": ws.display_color or "#6C5BB9",
            "created_at": rfc3339(ws.created_at), "archived_at": rfc3339(ws.archived_at),
            "tags": dict(ws.tags or {}),
            "data_residency": {"workspace_geo": "us", "allowed_inference_geos": "unrestricted",
                               "default_inference_geo": "global"},
            "compartment_id": str(uuid.uuid5(_COMPARTMENT_NAMESPACE, ws.id)), "external_key_id": None,
            "user_profile_id": None, "allowed_models": ws.allowed_models}


def member_object(member: WorkspaceMember) -> dict[str, Any]:
    return {"type": "workspace_member", "user_id": member.user_id, "workspace_id": member.workspace_id,
            "workspace_role": member.workspace_role}


def key_status(key: ApiKey, now: datetime) -> str:
    if key.status == "active" and key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return key.status


def api_key_object(key: ApiKey, now: datetime) -> dict[str, Any]:
    return {"id": key.id, "type": "api_key", "name": key.name, "status": key_status(key, now),
            "created_at": rfc3339(key.created_at), "expires_at": rfc3339(key.expires_at),
            "created_by": {"id": key.created_by, "type": "user"} if key.created_by else None,
            "partial_key_hint": key.partial_key_hint, "workspace_id": key.workspace_id,
            "scope": {"type": "workspace", "workspace_id": key.workspace_id}, "principal": None,
            "last_used_at": rfc3339(key.last_used_at), "rotated_at": rfc3339(key.rotated_at),
            "scopes": key.scopes}


def admin_key_object(key: AdminKey) -> dict[str, Any]:
    return {"id": key.id, "type": "admin_key", "name": key.name, "status": key.status, "user_id": key.user_id,
            "scopes": list(key.scopes or []), "created_at": rfc3339(key.created_at),
            "expires_at": rfc3339(key.expires_at), "last_used_at": rfc3339(key.last_used_at),
            "partial_key_hint": key.partial_key_hint}


def page_object(data: list[dict[str, Any]], has_more: bool, id_field: str = "id") -> dict[str, Any]:
    return {"data": data, "has_more": has_more, "first_id": data[0][id_field] if data else None,
            "last_id": data[-1][id_field] if data else None}
