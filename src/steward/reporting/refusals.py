"""The refusals report: requests Steward answered itself (refused, or failed at the gateway), grouped by reason,
workspace, key, model, status or day, counted from the audit trail (usage reports count only requests that
reached the upstream; see dataplane/stages/record.py).

The reason is the one recorded with the event (``data.refusal``, dataplane/records.refusal_reason). Events
recorded before Steward kept it are classified from their ``error.type`` (the prefix of the audit reason), and a
400 whose message is the spend-limit refusal's fixed wording as ``budget``: the only way left to tell those two
apart in old events. A summary of sampled unauthenticated refusals counts for every refusal it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from steward.errors import InvalidRequestError

__all__ = ["REASONS", "REFUSAL_GROUPS", "reason_of", "refusal_group", "refusal_rows"]

REASONS = ("authentication", "budget", "rate_limit", "policy", "validation", "not_found", "client_timeout",
           "unavailable", "gateway_error", "other")
# group_by name -> the field of a refusal
REFUSAL_GROUPS = {"reason": "reason", "workspace": "workspace_id", "workspace_id": "workspace_id",
                  "key": "api_key_id", "api_key": "api_key_id", "api_key_id": "api_key_id", "model": "model",
                  "status": "status", "day": "day"}
_BY_TYPE = {"authentication_error": "authentication", "rate_limit_error": "rate_limit",
            "permission_error": "policy", "not_found_error": "not_found", "request_too_large": "validation",
            "invalid_request_error": "validation"}
_BUDGET_WORDING = "API usage limits"  # dataplane/stages/budget.py's refusal, before reasons were recorded


def reason_of(event: Mapping[str, Any]) -> str:
    """The refusal reason of one audit event (see the module docstring for events without a recorded one)."""
    data = event.get("data") or {}
    recorded = data.get("refusal")
    if isinstance(recorded, str) and recorded in REASONS:
        return recorded
    if event["event"] == "auth.refused_summary":
        return "authentication"
    status = int(event.get("status") or 0)
    if status >= 500:
        return "gateway_error"
    text = str(event.get("reason") or "")
    error_type = text.split(":", 1)[0]
    if error_type == "timeout_error":
        return "client_timeout"
    found = _BY_TYPE.get(error_type, "other")
    return "budget" if found == "validation" and _BUDGET_WORDING in text else found


def refusal_group(names: Sequence[str]) -> list[str]:
    """The group_by names as refusal fields (defaults to reason)."""
    group: list[str] = []
    for name in names or ("reason",):
        if name not in REFUSAL_GROUPS:
            raise InvalidRequestError(f"group_by: unknown value {name!r}; expected one of "
                                      f"{', '.join(sorted(REFUSAL_GROUPS))}.")
        if REFUSAL_GROUPS[name] not in group:
            group.append(REFUSAL_GROUPS[name])
    return group


def refusal_rows(events: Sequence[Mapping[str, Any]], group: Sequence[str],
                 workspaces: Sequence[str] | None) -> list[dict[str, Any]]:
    """Refusals counted per group, most first; ``workspaces`` narrows (None: every workspace, and refusals
    without one, such as requests without a valid key)."""
    counts: dict[tuple[Any, ...], int] = {}
    allowed = set(workspaces) if workspaces is not None else None
    for event in events:
        if allowed is not None and event.get("workspace_id") not in allowed:
            continue
        if (event.get("data") or {}).get("forwarded"):  # failed after the upstream had it: usage, not a refusal
            continue
        fields = {"reason": reason_of(event), "workspace_id": event.get("workspace_id"),
                  "api_key_id": event.get("api_key_id"), "model": event.get("model"), "status": event.get("status"),
                  "day": event["created_at"].date().isoformat()}
        key = tuple(fields[g] for g in group)
        weight = int((event.get("data") or {}).get("count") or 1) if event["event"] == "auth.refused_summary" else 1
        counts[key] = counts.get(key, 0) + weight
    rows = [dict(zip(group, key, strict=True)) | {"refusals": n} for key, n in counts.items()]
    rows.sort(key=lambda r: (-r["refusals"], tuple(str(r[g] or "") for g in group)))
    return rows
