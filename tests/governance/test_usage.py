"""Usage read from JSON Messages and from SSE streams, checked against the SDK's own wire types."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.types import Message
from anthropic.types import Usage as SdkUsage

from steward.governance.usage import StreamMeter, Usage, meter_message, usage_from_dict

FULL_USAGE: dict[str, Any] = {
    "input_tokens": 472, "output_tokens": 90, "cache_creation_input_tokens": 1_500,
    "cache_read_input_tokens": 3_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1_000, "ephemeral_1h_input_tokens": 500},
    "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
    "service_tier": "standard", "inference_geo": "us", "output_tokens_details": {"thinking_tokens": 40},
}


def test_usage_from_full_dict() -> None:
    assert usage_from_dict(FULL_USAGE) == Usage(
        input_tokens=472, cache_write_5m=1_000, cache_write_1h=500, cache_read=3_000, output_tokens=90,
        thinking_tokens=40, web_search_requests=2, web_fetch_requests=1, service_tier="standard",
        inference_geo="us",
    )


def test_usage_from_an_sdk_serialised_usage() -> None:
    # The SDK's pydantic model is the authority on field names; its JSON dump must read the same.
    sdk = SdkUsage.model_validate(FULL_USAGE)
    assert usage_from_dict(sdk.model_dump(mode="json")) == usage_from_dict(FULL_USAGE)


def test_cache_creation_total_alone_counts_as_5m() -> None:
    usage = usage_from_dict({"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 700})
    assert (usage.cache_write_5m, usage.cache_write_1h) == (700, 0)


def test_breakdown_is_preferred_and_uncovered_total_is_5m() -> None:
    only_1h = {"cache_creation_input_tokens": 700,
               "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 700}}
    assert usage_from_dict(only_1h).cache_write_1h == 700
    assert usage_from_dict(only_1h).cache_write_5m == 0
    short = {"cache_creation_input_tokens": 900,
             "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 700}}
    assert (usage_from_dict(short).cache_write_5m, usage_from_dict(short).cache_write_1h) == (200, 700)


@pytest.mark.parametrize(
    "odd",
    [None, [], "usage", 7, {"input_tokens": "12", "output_tokens": None, "cache_creation": [1],
                             "server_tool_use": "x", "output_tokens_details": 3, "service_tier": 5},
     {"input_tokens": -5, "output_tokens": True, "cache_read_input_tokens": 1.5}],
)
def test_odd_usage_never_raises(odd: Any) -> None:
    usage = usage_from_dict(odd)
    assert usage.input_tokens == usage.output_tokens == usage.cache_read == 0


def _start(usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_start", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage}}


def _delta(usage: dict[str, Any], stop_reason: str | None = "end_turn") -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": usage}


def test_stream_takes_the_last_cumulative_delta() -> None:
    meter = StreamMeter()
    meter.feed(_start({"input_tokens": 472, "output_tokens": 1, "cache_read_input_tokens": 100}))
    meter.feed({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    meter.feed({"type": "ping"})
    meter.feed(_delta({"output_tokens": 10}, stop_reason=None))
    # The real API repeats input and cache counts in message_delta; they are cumulative too.
    meter.feed(_delta({"input_tokens": 472, "cache_read_input_tokens": 100, "output_tokens": 25}))
    meter.feed({"type": "message_stop"})
    result = meter.result()
    # Summing would give 36 output, 944 input and 200 cache reads.
    assert (result.usage.output_tokens, result.usage.input_tokens, result.usage.cache_read) == (25, 472, 100)
    assert result.complete
    assert (result.model, result.message_id, result.stop_reason) == ("claude-sonnet-4-6", "msg_01", "end_turn")


def test_delta_fields_override_start() -> None:
    meter = StreamMeter()
    meter.on_message_start(_start({"input_tokens": 5, "output_tokens": 1}))
    meter.on_message_delta(_delta({"input_tokens": 480, "cache_creation_input_tokens": 2_000,
                                   "output_tokens": 50, "server_tool_use": {"web_search_requests": 3},
                                   "cache_read_input_tokens": None}))
    usage = meter.result().usage
    assert (usage.input_tokens, usage.cache_write_5m, usage.output_tokens) == (480, 2_000, 50)
    assert usage.web_search_requests == 3


def test_cut_stream_keeps_message_start_usage() -> None:
    meter = StreamMeter()
    meter.feed(_start({"input_tokens": 1_200, "output_tokens": 1, "cache_creation_input_tokens": 300}))
    meter.feed({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    result = meter.result()
    assert (result.usage.input_tokens, result.usage.cache_write_5m, result.usage.output_tokens) == (1_200, 300, 1)
    assert not result.complete
    assert result.stop_reason is None


def test_stream_collects_tool_names_once_in_order() -> None:
    meter = StreamMeter()
    for index, block in enumerate([
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
        {"type": "server_tool_use", "id": "srvtoolu_2", "name": "web_search", "input": {}},
        {"type": "text", "text": ""},
    ]):
        meter.on_content_block_start({"type": "content_block_start", "index": index, "content_block": block})
    assert meter.result().tools_used == ("web_search", "get_weather")


@pytest.mark.parametrize(
    "event",
    [None, 3, "message_start", {}, {"type": "message_start"}, {"type": "message_start", "message": 5},
     {"type": "message_delta", "delta": None, "usage": [1]}, {"type": "content_block_start",
                                                               "content_block": {"type": ["x"]}},
     {"type": ["message_stop"]}],
)
def test_odd_events_never_raise(event: Any) -> None:
    meter = StreamMeter()
    meter.feed(event)
    meter.on_message_start(event)
    meter.on_message_delta(event)
    meter.on_content_block_start(event)
    assert meter.result().usage == Usage()


def test_meter_message_reads_a_whole_message() -> None:
    message = {
        "id": "msg_02", "type": "message", "role": "assistant", "model": "claude-opus-4-8",
        "content": [{"type": "thinking", "thinking": "...", "signature": "s"},
                    {"type": "text", "text": "hi", "citations": None},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": 1}}],
        "stop_reason": "tool_use", "stop_sequence": None, "usage": FULL_USAGE,
    }
    Message.model_validate(message)  # the fixture is a valid wire Message
    result = meter_message(message)
    assert result.usage == usage_from_dict(FULL_USAGE)
    assert (result.model, result.message_id, result.stop_reason) == ("claude-opus-4-8", "msg_02", "tool_use")
    assert result.tools_used == ("lookup",)
    assert result.complete


def test_meter_message_of_odd_input() -> None:
    assert meter_message(None).usage == Usage()  # type: ignore[arg-type]
    assert meter_message({"content": "x", "usage": None}).tools_used == ()


def test_refusal_stop_reason_is_reported() -> None:
    meter = StreamMeter()
    meter.feed(_start({"input_tokens": 30, "output_tokens": 0}))
    meter.feed(_delta({"output_tokens": 0}, stop_reason="refusal"))
    result = meter.result()
    assert (result.stop_reason, result.usage.output_tokens) == ("refusal", 0)
