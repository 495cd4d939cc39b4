"""Message Batches obey the same policies as the Messages API: a feature or PII rule refused on /v1/messages is
refused in a batch too (naming the item), and redaction rewrites the batch's items before they leave."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.e2e.test_policies import message, put_policy
from tests.support import Gateway

HAIKU = "claude-haiku-4-5"
CARD = "4111 1111 1111 1111"


def _item(custom_id: str, text: str, **extra: Any) -> Any:
    return {"custom_id": custom_id, "params": {"model": HAIKU, "max_tokens": 32,
                                               "messages": [{"role": "user", "content": text}], **extra}}


def test_batch_items_are_held_to_the_workspace_policy(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["marketing"]
    version = put_policy(gateway, f"/v1/admin/workspaces/{ws}/policy", {
        "features": {"tools": False}, "pii": {"detectors": {"payment_card": "refuse", "email": "redact"}}})
    tool = {"name": "lookup", "description": "d", "input_schema": {"type": "object"}}
    with gateway.client("marketing") as client:
        with pytest.raises(anthropic.PermissionDeniedError) as denied:
            client.messages.batches.create(requests=[_item("a", "hi"), _item("b", "hi", tools=[tool])])
        text = message(denied.value)
        assert text.startswith("requests.1 (custom_id 'b'): features.tools: "), text
        assert f"policy v{version}" in text
        with pytest.raises(anthropic.BadRequestError) as bad:
            client.messages.batches.create(requests=[_item("c", f"my card is {CARD}")])
        assert "pii.payment_card" in message(bad.value) and CARD not in message(bad.value)
        accepted = client.messages.batches.create(requests=[_item("d", "write to bob@example.com")])
        assert accepted.id.startswith("msgbatch_")
    with gateway.client("eng") as client:  # another workspace's policy is not this one's
        assert client.messages.batches.create(requests=[_item("e", "hi", tools=[tool])]).id
    ids = [denied.value.response.headers["request-id"], str(accepted._request_id)]
    events = {e.request_id: e for e in gateway.wait_audit(ids)}
    refused = events[ids[0]]
    assert refused.decision == "refused" and refused.data["policy"]["rule"] == "features.tools"
    assert events[ids[1]].data["policy"]["pii"] == {"email": 1}
