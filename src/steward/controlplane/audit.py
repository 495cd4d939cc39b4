"""Admin actions as audit events: actor, action, target, before and after (never secrets), IP, request id."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from steward.controlplane.principal import Principal
from steward.ids import new_id
from steward.storage.models import AuditEvent

_SECRET_FIELDS = frozenset({"key_hash", "token_hash", "previous_key_hash", "secret", "token"})


def scrub(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-safe copy without secret fields."""
    if values is None:
        return None
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in _SECRET_FIELDS:
            continue
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def admin_event(principal: Principal, action: str, *, target: Mapping[str, Any], workspace_id: str | None = None,
                before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
                decision: str = "allowed", reason: str | None = None) -> AuditEvent:
    """One audit row for an admin action (written in the same transaction as the change)."""
    return AuditEvent(
        id=new_id("activity"), created_at=datetime.now(UTC), org_id=principal.org_id, event=action,
        request_id=principal.request_id, workspace_id=workspace_id, api_key_id=principal.key_id,
        actor=principal.actor, model=None, input_tokens=None, output_tokens=None, tools_used=None,
        stop_reason=None, latency_ms=None, status=None, decision=decision, reason=reason,
        data={"target": dict(target), "before": scrub(before), "after": scrub(after), "ip": principal.ip,
              "actor_role": principal.role})
