"""The journal's record types, each built by one function: the usage row and the audit event.

Every journal line that carries a usage record (a request, a batch result) or an audit event (a request, a
spend alert, an unpriced model, a batch's sealed results, a summary of unauthenticated refusals) is built here,
so the columns the shipper inserts are named once. Upstream-reported strings are made storable (``fit``);
values a client sent are bounded earlier, at the door (stages/validate.py).
"""

from __future__ import annotations

from typing import Any

from steward.errors import (
    AuthenticationError,
    LimitsUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    SpendLimitReachedError,
    StewardError,
)
from steward.governance.usage import MeteredResponse
from steward.ids import new_id

MODEL_CHARS = 100  # the model columns' length (usage and audit)


def fit(value: str | None, limit: int) -> str | None:
    """An upstream-reported value made storable: NUL removed, cut to its column's length. Values the client sent
    are bounded at the door (stages/validate.py); these come from the response, and an odd one must not cost the
    request its whole ledger line (the shipper would quarantine it)."""
    if value is None or (len(value) <= limit and "\x00" not in value):
        return value
    return value.replace("\x00", "")[:limit]


def tool_names(tools: tuple[str, ...] | None) -> list[str] | None:
    """Tool names as stored (each fitted to its column), or None for none."""
    return [fit(name, 128) or "" for name in tools] if tools else None


def refusal_reason(error: StewardError, auth_failure: str | None, policy_rule: str | None = None) -> str:
    """Why Steward answered a request itself, as the refusals report groups it: ``authentication``, ``budget``,
    ``rate_limit``, ``policy`` (any policy rule, PII included, or a model not allowed), ``validation``,
    ``not_found``, ``client_timeout``, ``unavailable`` (limits could not be checked: their store was down),
    ``gateway_error`` (a 5xx Steward answered: the upstream unreachable, an
    internal error) or ``other``. Chosen by error class and the refusing rule, never by message text."""
    if auth_failure is not None or isinstance(error, AuthenticationError):
        return "authentication"
    if policy_rule is not None:
        return "policy"
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    if error.status >= 500:
        return "gateway_error"
    return "validation" if error.status in (400, 413) else "other"


_REASONS: tuple[tuple[type[StewardError], str], ...] = (
    (SpendLimitReachedError, "budget"), (LimitsUnavailableError, "unavailable"),
    (RateLimitError, "rate_limit"), (PermissionDeniedError, "policy"),
    (NotFoundError, "not_found"), (RequestTimeoutError, "client_timeout"))


def usage_row(*, row_id: str, request_id: str, created_at: str, org_id: str, workspace_id: str, api_key_id: str,
              user_id: str | None, tags: dict[str, str] | None, endpoint: str, model: str | None,
              batch_id: str | None, metered: MeteredResponse | None, status: int, latency_ms: int,
              ttft_ms: int | None, cost_picousd: int, pricing_version: str | None, unpriced: bool,
              claude_code_session_id: str | None, service_tier: str | None = None,
              charged_picousd: int | None = None, cost_split: list[int] | None = None) -> dict[str, Any]:
    """One ``usage`` record: what one response (or one batch result) used and cost.

    ``service_tier`` overrides the upstream's (batch results are ``batch``); ``unpriced`` says no catalog price
    applied (cost 0 is then unknown, not free); ``charged_picousd`` is what spend caps were charged when that is
    not the cost (an unpriced model: its usage at the catalog's highest rates); ``cost_split`` is the cost per
    line as the meter priced it (``pricing.cost_split``), carried to the rollups, never a column."""
    usage = metered.usage if metered else None
    row: dict[str, Any] = {
        "id": row_id, "request_id": request_id, "created_at": created_at,
        "org_id": org_id, "workspace_id": workspace_id, "api_key_id": api_key_id,
        "user_id": user_id, "tags": tags, "endpoint": endpoint, "model": fit(model, MODEL_CHARS),
        "batch_id": batch_id,
        "input_tokens": usage.input_tokens if usage else 0,
        "cache_write_5m_tokens": usage.cache_write_5m if usage else 0,
        "cache_write_1h_tokens": usage.cache_write_1h if usage else 0,
        "cache_read_tokens": usage.cache_read if usage else 0,
        "output_tokens": usage.output_tokens if usage else 0,
        "thinking_tokens": usage.thinking_tokens if usage else 0,
        "web_search_requests": usage.web_search_requests if usage else 0,
        "web_fetch_requests": usage.web_fetch_requests if usage else 0,
        "code_execution_requests": usage.code_execution_requests if usage else 0,
        "service_tier": service_tier or (fit(usage.service_tier, 32) if usage else None),
        "inference_geo": fit(usage.inference_geo, 32) if usage else None,
        "stop_reason": fit(metered.stop_reason, 40) if metered else None,
        "tools_used": tool_names(metered.tools_used) if metered else None,
        "status": status, "complete": bool(metered and metered.complete),
        "latency_ms": latency_ms, "ttft_ms": ttft_ms,
        "cost_picousd": cost_picousd, "pricing_version": pricing_version,
        "claude_code_session_id": claude_code_session_id, "unpriced": unpriced,
        "charged_picousd": charged_picousd,
    }
    if cost_split is not None:
        row["cost_split"] = cost_split
    return row


def audit_event(event: str, *, created_at: str, decision: str, reason: str | None, data: dict[str, Any],
                event_id: str | None = None, org_id: str | None = None, request_id: str | None = None,
                workspace_id: str | None = None, api_key_id: str | None = None, actor: str | None = None,
                model: str | None = None, input_tokens: int | None = None, output_tokens: int | None = None,
                tools_used: list[str] | None = None, stop_reason: str | None = None,
                latency_ms: int | None = None, status: int | None = None) -> dict[str, Any]:
    """One ``audit`` event (a new ``activity_`` id unless ``event_id`` fixes one, for idempotent re-journaling)."""
    return {
        "id": event_id or new_id("activity"), "created_at": created_at, "event": event, "org_id": org_id,
        "request_id": request_id, "workspace_id": workspace_id, "api_key_id": api_key_id, "actor": actor,
        "model": model, "input_tokens": input_tokens, "output_tokens": output_tokens, "tools_used": tools_used,
        "stop_reason": stop_reason, "latency_ms": latency_ms, "status": status, "decision": decision,
        "reason": reason, "data": data,
    }
