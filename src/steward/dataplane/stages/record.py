"""Record: append one usage record and one audit event to the journal, before the response completes.

Reads everything on the context; writes the journal (one ``write(2)``); never raises (a journal failure is
logged loudly and counted, the response still goes out). Content (prompts, outputs) is never recorded.
Only requests that reached the upstream get a usage record (no ``ctx.error``, or ``ctx.forwarded``: the upstream
answered or timed out before the failure, e.g. a body cut midway); a refusal or a gateway error before that is
audited only, its reason (``refusal_reason``) in the event's data, so usage
reports and rollups count forwarded requests and the refusals report reads the audit trail.
Refusals without a valid key are sampled per source address (stages/refusals.py): beyond the first few a minute,
they are counted and summarised in one audit event instead of one event (and chain link) each.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from steward.dataplane.context import RequestContext
from steward.dataplane.records import MODEL_CHARS, audit_event, fit, refusal_reason, tool_names, usage_row
from steward.dataplane.stages.refusals import UnauthenticatedSampler
from steward.governance.money import to_picousd
from steward.governance.pricing import cost_split
from steward.metrics import JOURNAL_FAILURES, REFUSALS, REQUESTS, UNAUTHENTICATED
from steward.workers.journal import Journal

log = logging.getLogger("steward.record")


def _usage_row(ctx: RequestContext, created_at: str, latency_ms: int) -> dict[str, Any]:
    assert ctx.key is not None
    metered, cost = ctx.metered, ctx.cost
    cost_picousd = to_picousd(cost.total) if cost is not None else 0
    return usage_row(
        row_id=ctx.request_id, request_id=ctx.request_id, created_at=created_at, org_id=ctx.key.org_id,
        workspace_id=ctx.key.workspace_id, api_key_id=ctx.key.id, user_id=ctx.user_id, tags=ctx.tags,
        endpoint=ctx.endpoint, model=metered.model if metered and metered.model else ctx.model, batch_id=None,
        metered=metered, status=ctx.status, latency_ms=latency_ms, ttft_ms=ctx.ttft_ms,
        cost_picousd=cost_picousd, pricing_version=cost.catalog_version if cost is not None else None,
        unpriced=ctx.unpriced, claude_code_session_id=ctx.session_id,
        charged_picousd=to_picousd(ctx.budget_cost.total) if cost is None and ctx.budget_cost else None,
        cost_split=cost_split(cost, cost_picousd) if cost is not None and cost_picousd else None)


def _decision(ctx: RequestContext) -> tuple[str, str | None]:
    if ctx.error is not None:
        kind = "refused" if ctx.error.status < 500 else "error"
        # The message may quote client text; a NUL would make PostgreSQL refuse the whole audit row.
        return kind, f"{ctx.error.error_type}: {ctx.error.message}".replace("\x00", "\\0")[:500]
    if ctx.client_disconnected and not ctx.handled:  # never sent on: no usage record either
        return "error", "client closed the connection before its request was read"
    if ctx.status >= 400:
        return "allowed", f"upstream returned {ctx.status}"
    if ctx.client_disconnected:
        return "allowed", "client disconnected before the response ended"
    return "allowed", None


def _audit_row(ctx: RequestContext, created_at: str, latency_ms: int) -> dict[str, Any]:
    metered, cost, key = ctx.metered, ctx.cost, ctx.key
    decision, reason = _decision(ctx)
    return audit_event(
        "api_call", created_at=created_at, decision=decision, reason=reason,
        org_id=key.org_id if key else None, request_id=ctx.request_id,
        workspace_id=key.workspace_id if key else None, api_key_id=key.id if key else None,
        actor=key.id if key else None,
        model=fit(metered.model if metered and metered.model else ctx.model, MODEL_CHARS),
        input_tokens=metered.usage.input_tokens if metered else None,
        output_tokens=metered.usage.output_tokens if metered else None,
        tools_used=tool_names(metered.tools_used) if metered else None,
        stop_reason=fit(metered.stop_reason, 40) if metered else None,
        latency_ms=latency_ms, status=ctx.status,
        data={"endpoint": ctx.endpoint, "stream": ctx.stream, "upstream_request_id": ctx.upstream_request_id,
              "complete": bool(metered and metered.complete),
              "cost_usd": str(cost.total) if cost is not None else None,
              "user_id": ctx.user_id, "tags": ctx.tags, "policy": _policy(ctx),
              # full audit: the hash of the sealed content (stages/capture.py), never the content itself
              **({"content_sha256": ctx.content_sha256} if ctx.content_sha256 is not None else {}),
              **({"file_id": ctx.file_id} if ctx.file_id is not None else {}),  # the Files API
              # answered by Steward itself: why, as the refusals report groups it
              **({"refusal": refusal_reason(ctx.error, ctx.auth_failure, ctx.policy_rule)}
                 if ctx.error is not None and not ctx.forwarded else {}),
              # failed after the upstream had it: usage (above), not a refusal
              **({"forwarded": True} if ctx.error is not None and ctx.forwarded else {}),
              # a refusal without a valid key: where it came from (the attack's source, if one)
              **({"client": ctx.client} if ctx.auth_failure is not None else {})})


def _policy(ctx: RequestContext) -> dict[str, Any] | None:
    """Which policy version decided, the refusing rule, shadow rules that would have refused, PII counts."""
    if ctx.policy is None and not ctx.pii and ctx.policy_rule is None:
        return None
    return {"version": ctx.policy_version, "rule": ctx.policy_rule, "shadow": ctx.shadow,
            "pii": ctx.pii, "alias": ctx.alias}


@functools.lru_cache(maxsize=512)  # endpoints x statuses: a handful; labels() takes a lock and builds a key
def _requests(endpoint: str, status: int) -> Counter:
    return REQUESTS.labels(endpoint, str(status))


class Record:
    def __init__(self, journal: Journal, sampler: UnauthenticatedSampler | None = None) -> None:
        self._journal = journal
        self._sampler = sampler or UnauthenticatedSampler()
        self.failures = 0

    def on_request(self, ctx: RequestContext) -> None:
        return None

    def on_complete(self, ctx: RequestContext) -> None:
        latency_ms = int((time.perf_counter() - ctx.started_perf) * 1000)
        created_at = datetime.fromtimestamp(ctx.started_at, UTC).isoformat()
        _requests(ctx.endpoint, ctx.status).inc()
        if ctx.error is not None:
            REFUSALS.labels(ctx.error.error_type).inc()
        for summary in self._sampler.summaries(ctx.started_at):  # windows closed since the last request
            self._append({"audit": summary}, "an unauthenticated-refusal summary")
        if ctx.auth_failure is not None and ctx.error is not None:
            audited = self._sampler.admit(ctx.client, ctx.auth_failure, ctx.started_at)
            UNAUTHENTICATED.labels(ctx.auth_failure, "audited" if audited else "sampled").inc()
            if not audited:  # counted into the address's summary; no usage row either (verify pairs them)
                return
        record: dict[str, Any] = {"audit": _audit_row(ctx, created_at, latency_ms)}
        # reached the upstream (or a client hung up on it): usage, even when its answer then failed (a body cut
        # midway, a read timeout: the upstream may have charged for it); answered by Steward itself: audit only
        # (a client that hung up before its body was read was never sent on: audit only, like a refusal)
        if ctx.key is not None and (ctx.forwarded or (ctx.error is None and ctx.handled)):
            record["usage"] = _usage_row(ctx, created_at, latency_ms)
        self._append(record, ctx.request_id)

    def flush(self, now: float) -> None:
        """Write the summaries of the windows closed by ``now`` (at shutdown: every open one, with ``inf``)."""
        for summary in self._sampler.summaries(now):
            self._append({"audit": summary}, "an unauthenticated-refusal summary")

    def _append(self, record: dict[str, Any], what: str) -> None:
        try:
            self._journal.append(record)
        except OSError:
            self.failures += 1
            JOURNAL_FAILURES.inc()
            log.critical("journal write failed for %s; the record is lost", what, exc_info=True)
