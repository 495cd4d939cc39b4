"""Streaming: the real event sequence, cumulative usage, equality with the JSON path, one event per chunk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from steward.simulator import SimulatorConfig, SimulatorServer

MODEL = "claude-haiku-4-5"
HELLO: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hello there"}]
HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01", "content-type": "application/json"}
TOOL: dict[str, Any] = {"name": "lookup", "description": "Look a thing up",
                        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}},
                                         "required": ["q"]}}

CASES: dict[str, dict[str, Any]] = {
    "text": {},
    "max_tokens": {"max_tokens": 7},
    "stop_sequence": {"stop_sequences": ["amet"]},
    "tool": {"tools": [TOOL], "tool_choice": {"type": "any"}},
    "thinking": {"max_tokens": 3000, "thinking": {"type": "enabled", "budget_tokens": 1024}},
    "web_search": {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
    "json": {"output_config": {"format": {"type": "json_schema", "schema": {
        "type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}},
}


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Split an SSE body into (event name, data) pairs."""
    events = []
    for chunk in raw.decode().split("\n\n"):
        if not chunk:
            continue
        name_line, data_line = chunk.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        events.append((name_line[7:], orjson.loads(data_line[6:])))
    return events


def stream_raw(client: anthropic.Anthropic, **params: Any) -> list[tuple[str, dict[str, Any]]]:
    body = {"model": MODEL, "max_tokens": 200, "messages": HELLO, "stream": True, **params}
    with client.messages.with_streaming_response.create(**body) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        return parse_sse(response.read())


def test_event_sequence_is_the_real_one(client: anthropic.Anthropic) -> None:
    events = stream_raw(client)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"} and len(names[3:-3]) == 16  # 48 tokens, 3 per delta
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["output_tokens"] == 1
    assert all(data["type"] == name for name, data in events)
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["delta"]["stop_sequence"] is None
    assert delta["usage"]["output_tokens"] == 48  # cumulative, not a difference
    assert delta["usage"]["input_tokens"] == start["usage"]["input_tokens"]


def test_thinking_and_tool_deltas(client: anthropic.Anthropic) -> None:
    events = stream_raw(client, **CASES["thinking"])
    deltas = [data["delta"]["type"] for name, data in events if name == "content_block_delta" and data["index"] == 0]
    assert deltas[-1] == "signature_delta" and set(deltas[:-1]) == {"thinking_delta"}
    events = stream_raw(client, **CASES["tool"])
    tool_deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert tool_deltas[0] == {"type": "input_json_delta", "partial_json": ""}
    assert orjson.loads("".join(d["partial_json"] for d in tool_deltas)).keys() == {"q"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_stream_final_message_equals_json_result(client: anthropic.Anthropic, case: str) -> None:
    params: dict[str, Any] = {"model": MODEL, "max_tokens": 200, "messages": HELLO, **CASES[case]}
    created = client.messages.create(**params)
    with client.messages.stream(**params) as stream:
        streamed = stream.get_final_message()
    assert streamed.usage == created.usage
    assert streamed.stop_reason == created.stop_reason and streamed.stop_sequence == created.stop_sequence
    assert _without_ids(streamed.content) == _without_ids(created.content)


def _without_ids(content: list[Any]) -> list[dict[str, Any]]:
    blocks = []
    for block in content:
        data = block.to_dict()
        data.pop("id", None)
        data.pop("tool_use_id", None)
        blocks.append(data)
    return blocks


async def test_each_event_is_its_own_http_chunk(server: SimulatorServer) -> None:
    body = {"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True}
    chunks: list[bytes] = []
    async with aiohttp.ClientSession() as session, \
            session.post(f"{server.url}/v1/messages", json=body, headers=HEADERS) as response:
        buffer = b""
        async for data, end_of_chunk in response.content.iter_chunks():
            buffer += data
            if end_of_chunk and buffer:
                chunks.append(buffer)
                buffer = b""
    assert len(chunks) == len(parse_sse(b"".join(chunks)))
    assert all(chunk.count(b"\n\n") == 1 and chunk.endswith(b"\n\n") for chunk in chunks)


@pytest.fixture(scope="module")
def paced() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(tokens_per_second=600, ttft_ms=50)) as running:
        yield running


def test_pacing_spreads_deltas_over_time(paced: SimulatorServer) -> None:
    with anthropic.Anthropic(base_url=paced.url, api_key="k", max_retries=0) as client:
        began = time.monotonic()
        arrivals: list[float] = []
        with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO,
                                    extra_headers={"x-sim-output-tokens": "60"}) as stream:
            for event in stream:
                if event.type == "content_block_delta":
                    arrivals.append(time.monotonic() - began)
    assert arrivals[0] >= 0.045  # ttft
    assert arrivals[-1] - arrivals[0] >= 0.07  # 57 tokens at 600 tokens/s after the first delta
