"""Privacy: apply the effective policy's PII rules to the request text (redact, refuse, or only record).

Reads ``ctx.pii_rules`` (set by Authorize) and ``ctx.payload``; writes ``ctx.pii`` (counts per
detector, never the text), ``ctx.shadow`` (rules that would have acted), ``ctx.policy_rule``
(on refusal), and, when something is redacted, ``ctx.payload`` and ``ctx.body`` (re-serialised with orjson).
Raises InvalidRequestError naming the rule; the message never contains the offending text.
Cost: one attribute check without PII rules; with rules, a scan of the request's text (bench/pii_bench.py).
A body larger than ``offload_bytes`` (64 KiB) is scanned in a worker thread: a scan costs up to ~0.5 µs per
character, so a 1 MB prompt scanned inline would hold the event loop, and every other request, for ~0.5 s;
in a thread the interpreter switches back to the loop every few milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import orjson

from steward.dataplane.context import RequestContext
from steward.errors import InvalidRequestError
from steward.governance.pii import DEFAULT_REGISTRY, PiiOutcome, PiiRules, Registry, apply, refusal_message

OFFLOAD_BYTES = 64 * 1024


class Privacy:
    def __init__(self, registry: Registry = DEFAULT_REGISTRY, *, offload_bytes: int = OFFLOAD_BYTES) -> None:
        self._registry = registry
        self._offload_bytes = offload_bytes

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        rules = ctx.pii_rules
        if rules is None or ctx.payload is None:
            return None
        if len(ctx.body) > self._offload_bytes:
            return self._scan_in_thread(ctx, ctx.payload, rules)
        self._decide(ctx, apply(ctx.payload, rules, self._registry))
        return None

    async def _scan_in_thread(self, ctx: RequestContext, payload: dict[str, Any], rules: PiiRules) -> None:
        outcome = await asyncio.get_running_loop().run_in_executor(None, apply, payload, rules, self._registry)
        self._decide(ctx, outcome)

    def _decide(self, ctx: RequestContext, outcome: PiiOutcome) -> None:
        if outcome.counts:
            ctx.pii = dict(outcome.counts)
        if outcome.shadow:
            shadow = ctx.shadow = ctx.shadow or []
            shadow.extend(rule for rule in outcome.shadow if rule not in shadow)
        if outcome.refused is not None:
            ctx.policy_rule = outcome.refused
            detector = outcome.refused.removeprefix("pii.")
            raise InvalidRequestError(refusal_message(
                detector, outcome.counts.get(detector, 1), version=ctx.policy_version,
                workspace=ctx.workspace.name if ctx.workspace is not None else None))
        if outcome.payload is not None:
            ctx.payload = outcome.payload
            ctx.body = orjson.dumps(outcome.payload)

    def on_complete(self, ctx: RequestContext) -> None:
        return None
