"""Privacy: apply the effective policy's PII rules to the request text (redact, refuse, or only record).

Reads ``ctx.pii_rules`` (set by Authorize) and ``ctx.payload``; writes ``ctx.extra["pii"]`` (counts per
detector, never the text), ``ctx.extra["shadow"]`` (rules that would have acted), ``ctx.extra["policy_rule"]``
(on refusal), and, when something is redacted, ``ctx.payload`` and ``ctx.body`` (re-serialised with orjson).
Raises InvalidRequestError naming the rule; the message never contains the offending text.
Cost: one attribute check without PII rules; with rules, a scan of the request's text (bench/pii_bench.py).
"""

from __future__ import annotations

import orjson

from steward.dataplane.context import RequestContext
from steward.errors import InvalidRequestError
from steward.governance.pii import DEFAULT_REGISTRY, Registry, apply, refusal_message


class Privacy:
    def __init__(self, registry: Registry = DEFAULT_REGISTRY) -> None:
        self._registry = registry

    def on_request(self, ctx: RequestContext) -> None:
        rules = ctx.pii_rules
        if rules is None or ctx.payload is None:
            return
        outcome = apply(ctx.payload, rules, self._registry)
        if outcome.counts:
            ctx.extra["pii"] = dict(outcome.counts)
        if outcome.shadow:
            shadow = ctx.extra.setdefault("shadow", [])
            shadow.extend(rule for rule in outcome.shadow if rule not in shadow)
        if outcome.refused is not None:
            ctx.extra["policy_rule"] = outcome.refused
            detector = outcome.refused.removeprefix("pii.")
            raise InvalidRequestError(refusal_message(
                detector, outcome.counts.get(detector, 1), version=ctx.policy_version,
                workspace=ctx.workspace.name if ctx.workspace is not None else None))
        if outcome.payload is not None:
            ctx.payload = outcome.payload
            ctx.body = orjson.dumps(outcome.payload)

    def on_complete(self, ctx: RequestContext) -> None:
        return None
