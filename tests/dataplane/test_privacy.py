"""The Privacy stage on a real RequestContext: nothing without rules, redaction into the body, refusal, shadow."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from steward.dataplane.context import RequestContext
from steward.dataplane.stages.privacy import Privacy
from steward.errors import InvalidRequestError
from steward.governance.pii import PiiRules

CARD = "5555 5555 5555 4444"


def context(payload: dict[str, Any], rules: PiiRules | None) -> RequestContext:
    ctx = RequestContext("req_test", "messages", 0.0, 0.0, {}, body=orjson.dumps(payload), payload=payload)
    ctx.pii_rules = rules
    return ctx


def _policy(ctx: RequestContext) -> tuple[str | None, list[str] | None, dict[str, int] | None]:
    """What Privacy (and Authorize) left for the audit event: the refusing rule, shadow rules, PII counts."""
    return ctx.policy_rule, ctx.shadow, ctx.pii


def payload(text: str) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 32, "temperature": 0.25, "stream": False,
            "metadata": {"user_id": "user-7"}, "messages": [{"role": "user", "content": text}]}


def test_without_rules_nothing_changes() -> None:
    ctx = context(payload(f"card {CARD}"), None)
    body, parsed = ctx.body, ctx.payload
    Privacy().on_request(ctx)
    assert ctx.body is body and ctx.payload is parsed and _policy(ctx) == (None, None, None)


def test_redaction_rewrites_body_and_payload() -> None:
    ctx = context(payload(f"card {CARD} and bob@example.org"), PiiRules.from_document({"default": "redact"}))
    Privacy().on_request(ctx)
    expected = payload("card [REDACTED:payment_card] and [REDACTED:email]")
    assert orjson.loads(ctx.body) == expected
    assert ctx.payload == expected
    assert _policy(ctx) == (None, None, {"payment_card": 1, "email": 1})
    assert CARD.encode() not in ctx.body


def test_clean_request_keeps_its_bytes() -> None:
    ctx = context(payload("What is the capital of France?"), PiiRules.from_document({"default": "refuse"}))
    body = ctx.body
    Privacy().on_request(ctx)
    assert ctx.body is body and _policy(ctx) == (None, None, None)


def test_refusal_is_a_400_naming_the_rule_without_the_text() -> None:
    ctx = context(payload(f"card {CARD}"), PiiRules.from_document({"detectors": {"payment_card": "refuse"}}))
    with pytest.raises(InvalidRequestError) as raised:
        Privacy().on_request(ctx)
    assert raised.value.status == 400 and raised.value.error_type == "invalid_request_error"
    assert raised.value.message.startswith("pii.payment_card: the request contains 1 payment card number")
    assert CARD not in raised.value.message and "4444" not in raised.value.message
    assert _policy(ctx) == ("pii.payment_card", None, {"payment_card": 1})


def test_shadow_hits_join_the_authorize_stage_list() -> None:
    rules = PiiRules.from_document({"detectors": {"payment_card": "refuse"}}, ["pii.payment_card"])
    ctx = context(payload(f"card {CARD}"), rules)
    ctx.shadow = ["features.tools"]
    body = ctx.body
    Privacy().on_request(ctx)
    assert _policy(ctx) == (None, ["features.tools", "pii.payment_card"], {"payment_card": 1})
    assert ctx.body is body


async def test_a_large_body_is_scanned_off_the_event_loop_with_the_same_outcome() -> None:
    """Above the offload size the stage hands back an awaitable (the scan runs in a worker thread)."""
    text = ("lorem ipsum dolor sit amet " * 2000) + f" card {CARD} and bob@example.org"
    small, large = Privacy(), Privacy(offload_bytes=1024)
    rules = PiiRules.from_document({"default": "redact"})
    inline, offloaded = context(payload(text), rules), context(payload(text), rules)
    assert small.on_request(inline) is None
    pending = large.on_request(offloaded)
    assert pending is not None and offloaded.body != inline.body  # nothing decided until the scan ends
    await pending
    assert offloaded.body == inline.body
    assert _policy(offloaded) == _policy(inline) == (None, None, {"payment_card": 1, "email": 1})
    refused = context(payload(text), PiiRules.from_document({"default": "refuse"}))
    with pytest.raises(InvalidRequestError, match=r"pii\.payment_card"):
        await large.on_request(refused)  # type: ignore[misc]
