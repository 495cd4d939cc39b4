"""BatchPolicy on a real RequestContext: items rewritten by alias pinning and redaction, the batch body re-serialised
once, and nothing rewritten when no rule applies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from steward.dataplane.batch_policy import BatchPolicy
from steward.dataplane.context import RequestContext
from steward.dataplane.snapshot import WorkspaceEntry
from steward.dataplane.stages.authorize import Authorize
from steward.dataplane.stages.privacy import Privacy
from steward.errors import PermissionDeniedError
from steward.governance.catalog import Catalog
from steward.governance.policy import compile_policy, effective


def _context(document: dict[str, Any] | None, items: list[dict[str, Any]]) -> tuple[RequestContext, dict[str, Any]]:
    catalog = Catalog.load_default()
    policy = effective(None, compile_policy(document, catalog), None, None, version=3) if document else None
    workspace = WorkspaceEntry("wrkspc_1", "org_1", "team", False, None, policy=policy)
    payload = {"requests": [{"custom_id": f"r{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 8,
                                                                "messages": [{"role": "user", "content": text}]}}
                            for i, text in enumerate(item["text"] for item in items)]}
    ctx = RequestContext("req_1", "batches.create", 0.0, 0.0, {}, body=orjson.dumps(payload), workspace=workspace)
    return ctx, payload


def test_redaction_and_pinning_rewrite_items() -> None:
    catalog = Catalog.load_default()
    ctx, payload = _context({"models": {"aliases": {"claude-haiku-4-5": "claude-haiku-4-5-20251001"}},
                             "pii": {"detectors": {"email": "redact"}}},
                            [{"text": "mail bob@example.com"}, {"text": "plain"}])
    BatchPolicy(Authorize(lambda: catalog), Privacy()).apply(ctx, payload)
    sent = orjson.loads(ctx.body)["requests"]
    assert sent[0]["params"]["messages"][0]["content"] == "mail [REDACTED:email]"
    assert sent[1]["params"]["messages"][0]["content"] == "plain"
    assert {item["params"]["model"] for item in sent} == {"claude-haiku-4-5-20251001"}
    assert ctx.pii == {"email": 1} and ctx.policy_version == 3


def test_no_policy_leaves_the_body_alone() -> None:
    ctx, payload = _context(None, [{"text": "mail bob@example.com"}])
    body = ctx.body
    BatchPolicy(Authorize(Catalog.load_default), Privacy()).apply(ctx, payload)
    assert ctx.body is body


def test_refusal_names_the_item() -> None:
    ctx, payload = _context({"models": {"deny": ["claude-haiku-*"]}}, [{"text": "a"}, {"text": "b"}])
    with pytest.raises(PermissionDeniedError, match=r"^requests\.0 \(custom_id 'r0'\): models\.deny: "):
        BatchPolicy(Authorize(Catalog.load_default), Privacy()).apply(ctx, payload)
