"""The official SDK, pointed at Steward with a workspace key: messages, streaming, count_tokens, models.

Each test checks the usage row against what the simulator reported and the cost against prices
written out here by hand (USD per million tokens -> pico-dollars per token).
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import anthropic
import pytest

from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway

MODEL = "claude-sonnet-4-6"
# $3 / $15 per MTok; cache write 5m $3.75, 1h $6; cache read $0.30  (pico-USD per token)
SONNET = {"in": 3_000_000, "out": 15_000_000, "w5": 3_750_000, "w1h": 6_000_000, "read": 300_000}


def expected_picousd(usage: anthropic.types.Usage, prices: dict[str, int] = SONNET) -> int:
    cache = usage.cache_creation
    w5 = cache.ephemeral_5m_input_tokens if cache else (usage.cache_creation_input_tokens or 0)
    w1h = cache.ephemeral_1h_input_tokens if cache else 0
    return (usage.input_tokens * prices["in"] + usage.output_tokens * prices["out"] + w5 * prices["w5"]
            + w1h * prices["w1h"] + (usage.cache_read_input_tokens or 0) * prices["read"])


def test_create_is_metered_and_audited(gateway: Gateway) -> None:
    with gateway.client() as client:
        raw = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=200, messages=[{"role": "user", "content": "Summarise the plan."}],
            metadata={"user_id": "user-42"}, extra_headers={"x-steward-tags": "team=search,feature=summaries",
                                                             "x-claude-code-session-id": "cc-session-1"})
        message = raw.parse()
    request_id = raw.headers["request-id"]
    assert request_id.startswith("req_")
    assert message.type == "message" and message.content[0].type == "text"
    assert raw.headers.get("anthropic-ratelimit-requests-limit")
    [row] = gateway.wait_usage([request_id])
    assert row.workspace_id == gateway.workspace_ids["eng"]
    assert row.api_key_id == gateway.key_ids["eng"]
    assert (row.input_tokens, row.output_tokens) == (message.usage.input_tokens, message.usage.output_tokens)
    assert row.user_id == "user-42"
    assert row.tags == {"team": "search", "feature": "summaries"}
    assert row.claude_code_session_id == "cc-session-1"
    assert row.stop_reason == message.stop_reason and row.status == 200 and row.complete
    assert row.cost_picousd == expected_picousd(message.usage) > 0
    [event] = gateway.wait_audit([request_id])
    assert event.decision == "allowed" and event.event == "api_call"
    assert event.api_key_id == gateway.key_ids["eng"] and event.model == MODEL
    assert event.input_tokens == message.usage.input_tokens
    assert gateway.keys["eng"] not in repr(event.__dict__) + repr(row.__dict__)


def test_stream_is_relayed_and_metered_from_last_delta(gateway: Gateway) -> None:
    with gateway.client() as client, client.messages.stream(
            model=MODEL, max_tokens=300, messages=[{"role": "user", "content": "Tell a story."}],
            extra_headers={"x-sim-output-tokens": "120"}) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
        request_id = stream.response.headers["request-id"]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert final.usage.output_tokens == 120
    [row] = gateway.wait_usage([request_id])
    assert row.output_tokens == 120 and row.input_tokens == final.usage.input_tokens
    assert row.complete and row.ttft_ms is not None
    assert row.cost_picousd == expected_picousd(final.usage)


def test_stream_is_not_buffered(database_url: str, tmp_path: Path) -> None:
    """With a paced upstream (200 tokens/s), the first event reaches the client long before the last."""
    body = json.dumps({"model": MODEL, "max_tokens": 100, "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]})
    with SimulatorServer(SimulatorConfig(api_key=UPSTREAM_KEY, tokens_per_second=200)) as sim, \
            start_gateway(database_url, sim.url, tmp_path / "home", UPSTREAM_KEY) as gw:
        url = urlsplit(gw.url)
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        started = time.perf_counter()
        conn.request("POST", "/v1/messages", body=body, headers={
            "x-api-key": gw.keys["eng"], "anthropic-version": "2023-06-01", "content-type": "application/json",
            "x-sim-output-tokens": "60"})
        response = conn.getresponse()
        assert response.getheader("content-type", "").startswith("text/event-stream")
        first = response.read1(65536)
        first_at = time.perf_counter() - started
        rest = response.read()
        done_at = time.perf_counter() - started
        conn.close()
    assert first.startswith(b"event: message_start")
    assert b"event: message_stop" in rest
    assert done_at > 0.25 and first_at < done_at / 3, (first_at, done_at)


def test_tools_forced_and_tools_recorded(gateway: Gateway) -> None:
    tool = {"name": "get_weather", "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    with gateway.client() as client:
        raw = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=200, tools=[tool], tool_choice={"type": "tool", "name": "get_weather"},
            messages=[{"role": "user", "content": "Weather in Paris?"}])
        message = raw.parse()
    assert message.stop_reason == "tool_use"
    block = next(b for b in message.content if b.type == "tool_use")
    assert isinstance(block.input, dict) and "city" in block.input
    [row] = gateway.wait_usage([raw.headers["request-id"]])
    assert row.tools_used == ["get_weather"] and row.stop_reason == "tool_use"


def test_prompt_caching_cost(gateway: Gateway) -> None:
    # A prompt unique to this test run: the simulator's cache is shared by every test.
    system = [{"type": "text", "text": f"Case {uuid.uuid4()}. " + "You are a careful analyst. " * 600,
               "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    ids, usages = [], []
    with gateway.client() as client:
        for _ in range(2):
            raw = client.messages.with_raw_response.create(
                model=MODEL, max_tokens=50, system=system, messages=[{"role": "user", "content": "Go"}])
            ids.append(raw.headers["request-id"])
            usages.append(raw.parse().usage)
    assert usages[0].cache_creation_input_tokens and not usages[0].cache_read_input_tokens
    assert usages[1].cache_read_input_tokens == usages[0].cache_creation_input_tokens
    rows = {r.request_id: r for r in gateway.wait_usage(ids)}
    first, second = rows[ids[0]], rows[ids[1]]
    assert first.cache_write_1h_tokens == usages[0].cache_creation_input_tokens and first.cache_read_tokens == 0
    assert second.cache_read_tokens == usages[1].cache_read_input_tokens
    assert first.cost_picousd == expected_picousd(usages[0])
    assert second.cost_picousd == expected_picousd(usages[1]) < first.cost_picousd


def test_thinking_counts_as_output(gateway: Gateway) -> None:
    with gateway.client() as client:
        raw = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "Think first."}])
        message = raw.parse()
    assert message.content[0].type == "thinking"
    [row] = gateway.wait_usage([raw.headers["request-id"]])
    assert row.output_tokens == message.usage.output_tokens
    assert row.thinking_tokens > 0
    assert row.cost_picousd == expected_picousd(message.usage)


def test_count_tokens(gateway: Gateway) -> None:
    with gateway.client() as client:
        counted = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hello there"}])
        created = client.messages.create(model=MODEL, max_tokens=5,
                                         messages=[{"role": "user", "content": "Hello there"}])
    assert counted.input_tokens == created.usage.input_tokens > 0


def test_models_only_what_the_key_may_use(gateway: Gateway) -> None:
    with gateway.client("eng") as eng, gateway.client("marketing") as marketing:
        everything = [m.id for m in eng.models.list(limit=100)]
        haiku_only = [m.id for m in marketing.models.list(limit=100)]
        assert MODEL in everything and len(everything) > len(haiku_only) > 0
        assert all("haiku" in m for m in haiku_only)
        assert marketing.models.retrieve(haiku_only[0]).id == haiku_only[0]
        with pytest.raises(anthropic.NotFoundError):
            marketing.models.retrieve(MODEL)
        page = eng.models.list(limit=2)
        assert len(page.data) == 2 and page.has_more
        assert [m.id for m in page.get_next_page().data] == everything[2:4]


def test_model_not_allowed_is_refused_and_audited(gateway: Gateway) -> None:
    with gateway.client("marketing") as client, pytest.raises(anthropic.PermissionDeniedError) as info:
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    request_id = info.value.response.headers["request-id"]
    assert "not allowed" in info.value.message
    [event] = gateway.wait_audit([request_id])
    assert event.decision == "refused" and "permission_error" in (event.reason or "")
    assert event.status == 403 and (event.data or {})["refusal"] == "policy"
    assert gateway.usage([request_id]) == []  # never forwarded: no usage record (docs/reports.md)
