"""Fidelity: Steward checks only what it depends on and forwards everything else byte for byte.

The rule (docs/ARCHITECTURE.md, "Fidelity"): a request the current API accepts is never refused by Steward
unless a policy says so; roles, block types and fields Steward does not know pass through untouched, and where
the API would refuse them, the client gets the API's own answer, relayed.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import orjson
import pytest

from steward.dataplane.context import RequestContext
from steward.dataplane.stages.privacy import Privacy
from steward.errors import InvalidRequestError
from steward.governance.pii import PiiRules
from steward.governance.tokens import estimate_input_tokens
from steward.simulator.config import SimulatorConfig
from tests.conftest import UPSTREAM_KEY
from tests.recorder import Recorder, recording_simulator
from tests.support import Gateway, start_gateway

MODEL = "claude-sonnet-4-6"
SYSTEM_TURN = {"role": "system", "content": [{"type": "text", "text": "Answer briefly."}]}


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[tuple[Gateway, Recorder]]:
    with recording_simulator(SimulatorConfig(api_key=UPSTREAM_KEY)) as (url, recorder), \
            start_gateway(database_url, url, tmp_path / "home", UPSTREAM_KEY) as gateway:
        yield gateway, recorder


def post(gateway: Gateway, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    url = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    conn.request("POST", path, body=body, headers={"content-type": "application/json",
                                                   "x-api-key": gateway.keys["eng"], **headers})
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    return response.status, payload


def test_system_messages_from_the_current_sdk_pass(setup: tuple[Gateway, Recorder]) -> None:
    gateway, _ = setup
    with gateway.client() as client:
        message = client.messages.create(model=MODEL, max_tokens=32, messages=[
            {"role": "user", "content": "Hello"}, SYSTEM_TURN])  # type: ignore[list-item]
        stream_text = "".join(client.messages.stream(
            model=MODEL, max_tokens=32, messages=[SYSTEM_TURN, {"role": "user", "content": "Hi"}],  # type: ignore[list-item]
        ).__enter__().text_stream)
        counted = client.messages.count_tokens(model=MODEL, messages=[
            {"role": "user", "content": "Hello"}, SYSTEM_TURN])  # type: ignore[list-item]
    assert message.type == "message" and stream_text and counted.input_tokens > 0


def test_unknown_fields_and_query_are_forwarded_byte_for_byte(setup: tuple[Gateway, Recorder]) -> None:
    gateway, recorder = setup
    # Odd key order, spacing, escapes and a field no SDK knows yet: Steward must not re-serialise any of it.
    body = (b'{ "messages":[{"role":"user","content":"caf\\u00e9"}, {"role":"system","content":"Be brief."}],'
            b'  "model":"claude-sonnet-4-6","max_tokens":16, "metadata":{"user_id":"u-1"}, '
            b'"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]} }')
    status, payload = post(gateway, "/v1/messages?beta=true", body, {"anthropic-version": "2023-06-01",
                                                                      "anthropic-beta": "claude-code-20250219"})
    assert status == 200, payload
    [seen] = [r for r in recorder.requests if r.path == "/v1/messages"]
    assert seen.body == body
    assert seen.query == b"beta=true"
    assert seen.headers["anthropic-beta"] == "claude-code-20250219"


def test_what_the_api_refuses_gets_the_apis_answer(setup: tuple[Gateway, Recorder]) -> None:
    gateway, recorder = setup
    good = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    # No anthropic-version: Steward adds none, so the API's own 400 comes back.
    status, payload = post(gateway, "/v1/messages", orjson.dumps(good), {})
    assert status == 400 and "anthropic-version" in payload["error"]["message"]
    assert "anthropic-version" not in recorder.requests[-1].headers
    # An unknown role and an unknown block type are the API's to refuse, not Steward's.
    for messages in ([{"role": "robot", "content": "x"}],
                     [{"role": "user", "content": [{"type": "bogus"}]}]):
        before = len(recorder.requests)
        status, payload = post(gateway, "/v1/messages", orjson.dumps({**good, "messages": messages}),
                               {"anthropic-version": "2023-06-01"})
        assert status == 400 and payload["error"]["type"] == "invalid_request_error"
        assert len(recorder.requests) == before + 1  # it reached the upstream: the refusal is the API's


def test_the_sdk_sees_upstream_refusals_as_usual(setup: tuple[Gateway, Recorder]) -> None:
    gateway, _ = setup
    with gateway.client() as client, pytest.raises(anthropic.BadRequestError):
        client.messages.create(model=MODEL, max_tokens=16,
                               messages=[{"role": "user", "content": [{"type": "bogus"}]}])  # type: ignore[list-item, typeddict-item]


def _context(payload: dict[str, Any], rules: PiiRules) -> RequestContext:
    ctx = RequestContext("req_test", "messages", 0.0, 0.0, {}, body=orjson.dumps(payload), payload=payload)
    ctx.pii_rules = rules
    return ctx


def test_pii_rules_cover_system_messages() -> None:
    payload = {"model": MODEL, "max_tokens": 16, "messages": [
        {"role": "user", "content": "hi"}, {"role": "system", "content": "Mail bob@example.org"},
        {"role": "system", "content": [{"type": "text", "text": "or alice@example.org"}]}]}
    ctx = _context(payload, PiiRules.from_document({"detectors": {"email": "redact"}}))
    Privacy().on_request(ctx)
    assert b"example.org" not in ctx.body and ctx.pii == {"email": 2}
    with pytest.raises(InvalidRequestError):
        Privacy().on_request(_context(payload, PiiRules.from_document({"detectors": {"email": "refuse"}})))


def test_token_estimate_counts_system_messages() -> None:
    base = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    longer = {**base, "messages": [*base["messages"], {"role": "system", "content": "x" * 3000}]}
    assert estimate_input_tokens(longer) >= estimate_input_tokens(base) + 1000
