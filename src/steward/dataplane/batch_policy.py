"""Policies for Message Batches: every request of a batch passes the same rules as a Messages API call.

Without this a team refused tool use (or a PII rule) on ``/v1/messages`` could send the same request in a batch.
Each item runs the authorize and privacy stages on a context of its own; the first refusal refuses the whole batch
with the item's index and ``custom_id`` in the message. Alias pinning and PII redaction rewrite the item's params,
and the batch body is re-serialised once. Cost: one policy evaluation (and PII scan, where rules exist) per item.
"""

from __future__ import annotations

from typing import Any

import orjson

from steward.dataplane.context import RequestContext
from steward.dataplane.stages.authorize import Authorize
from steward.dataplane.stages.privacy import Privacy
from steward.errors import StewardError


class BatchPolicy:
    def __init__(self, authorize: Authorize, privacy: Privacy) -> None:
        self._authorize = authorize
        self._privacy = privacy

    def _item(self, ctx: RequestContext, params: dict[str, Any]) -> RequestContext:
        return RequestContext(request_id=ctx.request_id, endpoint="messages", started_at=ctx.started_at,
                              started_perf=ctx.started_perf, headers=ctx.headers, payload=params,
                              model=params.get("model"), key=ctx.key, workspace=ctx.workspace)

    def apply(self, ctx: RequestContext, payload: dict[str, Any]) -> None:
        """Check (and where the policy says so, rewrite) every request; refuse the batch on the first refusal."""
        changed = False
        shadow: list[str] = []
        pii: dict[str, int] = {}
        for i, item in enumerate(payload["requests"]):
            sub = self._item(ctx, item["params"])
            try:
                self._authorize.on_request(sub)
                self._privacy.on_request(sub)
            except StewardError as exc:
                ctx.policy_version = sub.policy_version
                if sub.policy_rule is not None:
                    ctx.policy_rule = sub.policy_rule
                raise type(exc)(f"requests.{i} (custom_id {item['custom_id']!r}): {exc.message}",
                                headers=exc.headers, details=exc.details) from None
            ctx.policy_version = max(ctx.policy_version, sub.policy_version)
            shadow.extend(rule for rule in sub.shadow or () if rule not in shadow)
            for detector, count in (sub.pii or {}).items():
                pii[detector] = pii.get(detector, 0) + count
            if sub.body:  # the item was rewritten: a pinned model or redacted text
                item["params"] = sub.payload
                changed = True
        if shadow:
            ctx.shadow = shadow
        if pii:
            ctx.pii = pii
        if changed:
            ctx.body = orjson.dumps(payload)
