"""POST /v1/messages through the official SDK: shapes, stop reasons, tools, thinking, structured output."""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

MODEL = "claude-haiku-4-5"
HELLO: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hello there"}]

WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "coords": {"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                       "required": ["lat", "lon"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        },
        "required": ["city", "unit", "coords"],
    },
}


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """A small JSON Schema check: type, enum, required, properties, items, bounds."""
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    checks = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if kind in checks and not isinstance(value, checks[kind]):
        return False
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int if kind == "integer" else int | float):
            return False
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            return False
    if kind == "object":
        if any(name not in value for name in schema.get("required", [])):
            return False
        props = schema.get("properties", {})
        return all(conforms(v, props[k]) for k, v in value.items() if k in props)
    if kind == "array":
        return len(value) >= schema.get("minItems", 0) and all(conforms(v, schema.get("items", {}))
                                                                  for v in value)
    return True


def test_text_message_has_the_real_shape(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=200, messages=HELLO)
    message = raw.parse()
    body = orjson.loads(raw.http_response.content)
    assert set(body) == {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence",
                         "stop_details", "container", "usage"}
    assert message.id.startswith("msg_01") and message.type == "message" and message.role == "assistant"
    assert message.model == MODEL  # the alias as sent is echoed
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    block = message.content[0]
    assert block.type == "text" and block.text.startswith("Lorem ipsum dolor sit amet")
    usage = message.usage
    assert usage.output_tokens == 48 and usage.input_tokens > 0
    assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0
    assert usage.cache_creation is not None and usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert usage.server_tool_use is None and usage.service_tier == "standard"
    assert usage.inference_geo == "global"
    assert usage.output_tokens_details is not None and usage.output_tokens_details.thinking_tokens == 0
    assert raw.headers["request-id"].startswith("req_")
    assert raw.headers["anthropic-ratelimit-requests-limit"].isdigit()
    assert raw.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")


def test_output_is_deterministic_and_sized_by_header(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model=MODEL, max_tokens=500, messages=HELLO,
                                   extra_headers={"x-sim-output-tokens": "120"})
    second = client.messages.create(model=MODEL, max_tokens=500, messages=HELLO,
                                    extra_headers={"x-sim-output-tokens": "120"})
    assert first.usage.output_tokens == 120
    assert first.content == second.content and first.id != second.id


def test_max_tokens_truncates(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 10


def test_stop_sequence_stops_before_it(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=200, messages=HELLO, stop_sequences=["sit amet"])
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "sit amet"
    assert message.content[0].type == "text" and message.content[0].text == "Lorem ipsum dolor "
    assert message.usage.output_tokens == 5


def test_inference_geo_is_echoed(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, inference_geo="us")
    assert message.usage.inference_geo == "us"


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}])
def test_forced_tool_use_satisfies_the_schema(client: anthropic.Anthropic, choice: Any) -> None:
    message = client.messages.create(model=MODEL, max_tokens=300, messages=HELLO, tools=[WEATHER_TOOL],
                                     tool_choice=choice)
    assert message.stop_reason == "tool_use" and len(message.content) == 1
    block = message.content[0]
    assert block.type == "tool_use" and block.id.startswith("toolu_") and block.name == "get_weather"
    assert conforms(block.input, WEATHER_TOOL["input_schema"])
    assert message.usage.output_tokens > 0


def test_auto_tool_use_when_the_user_names_the_tool(client: anthropic.Anthropic) -> None:
    asked = client.messages.create(model=MODEL, max_tokens=300, tools=[WEATHER_TOOL],
                                   messages=[{"role": "user", "content": "Please call get_weather for Paris"}])
    assert [b.type for b in asked.content] == ["text", "tool_use"] and asked.stop_reason == "tool_use"
    plain = client.messages.create(model=MODEL, max_tokens=300, tools=[WEATHER_TOOL], messages=HELLO)
    assert [b.type for b in plain.content] == ["text"] and plain.stop_reason == "end_turn"
    none = client.messages.create(model=MODEL, max_tokens=300, tools=[WEATHER_TOOL], tool_choice={"type": "none"},
                                  messages=[{"role": "user", "content": "call get_weather"}])
    assert none.stop_reason == "end_turn"


def test_thinking_block_counts_as_output(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=4000, messages=HELLO,
                                     thinking={"type": "enabled", "budget_tokens": 2000},
                                     extra_headers={"x-sim-thinking-tokens": "50"})
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking and len(thinking.signature) > 100
    assert text.type == "text"
    assert message.usage.output_tokens_details is not None
    assert message.usage.output_tokens_details.thinking_tokens == 50
    assert message.usage.output_tokens == 50 + 48


def test_adaptive_thinking_on_a_newer_model(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="claude-sonnet-4-6", max_tokens=1000, messages=HELLO,
                                     thinking={"type": "adaptive"})
    assert message.content[0].type == "thinking"


def test_structured_output_is_valid_json(client: anthropic.Anthropic) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
                                               "role": {"enum": ["admin", "user"]},
                                               "emails": {"type": "array", "items": {"type": "string"}}},
              "required": ["name", "age", "role"], "additionalProperties": False}
    message = client.messages.create(model=MODEL, max_tokens=500, messages=HELLO,
                                     output_config={"format": {"type": "json_schema", "schema": schema}})
    text = message.content[0]
    assert text.type == "text" and conforms(orjson.loads(text.text), schema)
    legacy = client.messages.create(model=MODEL, max_tokens=500, messages=HELLO,
                                    extra_body={"output_format": {"type": "json_schema", "schema": schema}})
    assert legacy.content[0].type == "text" and conforms(orjson.loads(legacy.content[0].text), schema)


def test_web_search_server_tool(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=300, messages=HELLO,
                                     tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}])
    use, result, text = message.content
    assert use.type == "server_tool_use" and use.name == "web_search" and use.input == {"query": "Hello there"}
    assert result.type == "web_search_tool_result" and result.tool_use_id == use.id
    assert isinstance(result.content, list) and result.content[0].type == "web_search_result"
    assert text.type == "text" and message.stop_reason == "end_turn"
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1


def test_tool_results_get_a_text_answer(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model=MODEL, max_tokens=300, messages=HELLO, tools=[WEATHER_TOOL],
                                   tool_choice={"type": "any"})
    call = first.content[0]
    assert call.type == "tool_use"
    follow_up = client.messages.create(
        model=MODEL, max_tokens=300, tools=[WEATHER_TOOL],
        messages=[*HELLO, {"role": "assistant", "content": first.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "21C"}]}])
    assert follow_up.stop_reason == "end_turn" and follow_up.content[0].type == "text"
