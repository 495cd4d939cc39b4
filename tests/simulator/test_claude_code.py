"""Claude Code 2.1.332's real requests, and the ``role: "system"`` turns they carry, are answered like the API does.

The fixture is one captured body (its ``device_id`` replaced by a fake); when the capture file of the issue
(/tmp/claude_code_requests.jsonl) is present, every request in it is replayed too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from steward.simulator import SimulatorServer
from steward.simulator.tokens import MESSAGE_TOKENS, text_tokens

FIXTURE = Path(__file__).parent / "fixtures" / "claude_code_2.1.332_messages.json"
CAPTURES = Path("/tmp/claude_code_requests.jsonl")
CLAUDE_CODE_BETAS = ("claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
                     "per-turn-control-2026-07-01,mid-conversation-tool-changes-2026-07-01,"
                     "thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,effort-2025-11-24")
SENT_ONLY_BY_TRANSPORT = {"x-api-key", "authorization", "host", "content-length", "connection", "accept-encoding"}


def captured() -> list[dict[str, Any]]:
    requests = [json.loads(FIXTURE.read_text())]
    if CAPTURES.exists():
        requests.extend(json.loads(line) for line in CAPTURES.read_text().splitlines() if line.strip())
    return requests


REQUESTS = captured()


def events(stream_body: str) -> list[str]:
    return [line[len("event: "):] for line in stream_body.splitlines() if line.startswith("event: ")]


@pytest.mark.parametrize("request_", REQUESTS, ids=[f"capture{i}" for i in range(len(REQUESTS))])
def test_claude_code_requests_are_answered(server: SimulatorServer, request_: dict[str, Any]) -> None:
    headers = {k: v for k, v in request_["headers"].items() if k.lower() not in SENT_ONLY_BY_TRANSPORT}
    assert request_["path"] == "/v1/messages?beta=true"
    response = httpx2.post(server.url + request_["path"], content=request_["body"].encode(),
                           headers={**headers, "x-api-key": "sk-ant-test"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    seen = events(response.text)
    assert seen[0] == "message_start" and seen[-1] == "message_stop" and "error" not in seen


def fixture_params() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.loads(FIXTURE.read_text())["body"])
    body.pop("stream")
    return body


def test_claude_code_body_through_the_beta_sdk(server: SimulatorServer) -> None:
    params = fixture_params()
    assert params["messages"][-1]["role"] == "system" and "output_config" in params["messages"][-1]
    with anthropic.Anthropic(base_url=server.url, api_key="sk-ant-claude-code", max_retries=0) as client:
        with client.beta.messages.stream(**params, betas=CLAUDE_CODE_BETAS.split(",")) as stream:
            first = stream.get_final_message()
        with client.beta.messages.stream(**params, betas=CLAUDE_CODE_BETAS.split(",")) as stream:
            second = stream.get_final_message()
        counted = {k: v for k, v in params.items() if k not in ("max_tokens", "metadata")}
        total = client.beta.messages.count_tokens(**counted, betas=CLAUDE_CODE_BETAS.split(",")).input_tokens
    # The system prompt and the system turn carry cache breakpoints: the first call writes, the second reads.
    assert first.usage.cache_creation_input_tokens and not first.usage.cache_read_input_tokens
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    usage = second.usage
    assert total == usage.input_tokens + (usage.cache_read_input_tokens or 0) + (
        usage.cache_creation_input_tokens or 0)
    assert first.content[0].type == "thinking" and first.content[0].thinking == ""  # display: omitted


HELLO: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hello there"}]
REMINDER = "Answer in one short sentence, and do not use any markdown formatting in the answer."


def count(client: anthropic.Anthropic, messages: list[Any]) -> int:
    return client.messages.count_tokens(model="claude-opus-5-5", messages=messages).input_tokens


def test_system_turns_are_counted(client: anthropic.Anthropic) -> None:
    plain = count(client, HELLO)
    turn: dict[str, Any] = {"role": "system", "content": REMINDER}
    assert count(client, [*HELLO, turn]) == plain + MESSAGE_TOKENS + text_tokens(REMINDER)
    blocks = {"role": "system", "content": [{"type": "text", "text": REMINDER}]}
    assert count(client, [*HELLO, blocks]) == plain + MESSAGE_TOKENS + text_tokens(REMINDER)


def test_a_cleared_system_turn_costs_nothing(client: anthropic.Anthropic) -> None:
    cleared: dict[str, Any] = {"role": "system", "content": REMINDER, "clear_at": "next_user_message"}
    later_user = {"role": "user", "content": "And again"}
    baseline = count(client, [*HELLO, {"role": "assistant", "content": "Hi"}, later_user])
    with_cleared = [*HELLO, cleared, {"role": "assistant", "content": "Hi"}, later_user]
    assert count(client, with_cleared) == baseline
    # Until a later user turn exists, it is shown to the model and counted.
    assert count(client, [*HELLO, cleared]) == count(client, HELLO) + MESSAGE_TOKENS + text_tokens(REMINDER)


def test_a_final_system_turn_is_not_a_prefill(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="claude-opus-4-7", max_tokens=20,
                                     messages=[*HELLO, {"role": "system", "content": REMINDER}])
    assert message.stop_reason in ("end_turn", "max_tokens") and message.content


def test_the_answer_follows_the_user_turn_before_system_turns(client: anthropic.Anthropic) -> None:
    tool: anthropic.types.ToolParam = {"name": "get_weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    messages: list[Any] = [{"role": "user", "content": "Call get_weather for Paris"},
                           {"role": "system", "content": REMINDER}]
    message = client.messages.create(model="claude-opus-5-5", max_tokens=200, tools=[tool], messages=messages)
    assert message.stop_reason == "tool_use" and message.content[-1].type == "tool_use"


def test_system_turn_effort_is_checked_against_the_model(client: anthropic.Anthropic) -> None:
    turn = {"role": "system", "output_config": {"effort": "high"}}
    assert client.post("/v1/messages", cast_to=object, body={
        "model": "claude-opus-5-5", "max_tokens": 20, "messages": [*HELLO, turn]})
    with pytest.raises(anthropic.BadRequestError, match=r"output_config\.effort: 'high' is not supported"):
        client.post("/v1/messages", cast_to=object, body={
            "model": "claude-haiku-4-5", "max_tokens": 20, "messages": [*HELLO, turn]})


BAD_SYSTEM_TURNS: list[tuple[dict[str, Any], str]] = [
    ({"role": "system", "content": [{"type": "image", "source": {}}]},
     "messages.1.content.0: Input tag 'image' found using 'type' does not match any of the expected tags: "
     "'text', 'tool_addition', 'tool_removal'"),
    ({"role": "system", "content": "x", "name": "n"}, "messages.1.name: Extra inputs are not permitted"),
    ({"role": "system", "content": "x", "clear_at": "later"},
     "messages.1.clear_at: Input should be 'next_user_message' or 'never'"),
    ({"role": "system", "content": "x", "output_config": {"effort": "huge"}},
     "messages.1.output_config.effort: Input should be"),
    ({"role": "system", "content": "x", "output_config": {"format": {"type": "json_schema", "schema": {}}}},
     "messages.1.output_config.format: Extra inputs are not permitted"),
    ({"role": "system"}, "messages.1: a system message must have non-empty content or output_config"),
    ({"role": "system", "content": "", "output_config": {}},
     "messages.1: a system message must have non-empty content or output_config"),
    ({"role": "tool", "content": "x"}, "messages.1: Input tag 'tool' found using 'role' does not match any of "
                                       "the expected tags: 'user', 'assistant', 'system'"),
]


@pytest.mark.parametrize(("turn", "message"), BAD_SYSTEM_TURNS, ids=[m[:48] for _, m in BAD_SYSTEM_TURNS])
def test_bad_system_turns(client: anthropic.Anthropic, turn: dict[str, Any], message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.post("/v1/messages", cast_to=object,
                    body={"model": "claude-opus-5-5", "max_tokens": 20, "messages": [*HELLO, turn]})
    error: Any = caught.value.body
    assert error["error"]["type"] == "invalid_request_error" and error["error"]["message"].startswith(message)


def test_betas_are_not_checked(server: SimulatorServer) -> None:
    # The API refuses beta names it does not know, but the list grows with every Claude Code release; a
    # simulator that refused the ones it had not heard of would be stricter than the API it stands for.
    for betas in (CLAUDE_CODE_BETAS, f"{CLAUDE_CODE_BETAS},some-future-beta-2099-01-01"):
        with anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0,
                                 default_headers={"anthropic-beta": betas}) as client:
            message = client.beta.messages.create(model="claude-opus-5-5", max_tokens=20,
                                                  messages=[{"role": "user", "content": "Hello there"}],
                                                  thinking={"type": "adaptive", "display": "omitted"},
                                                  output_config={"effort": "medium"},
                                                  context_management={"edits": [
                                                      {"type": "clear_thinking_20251015", "keep": "all"}]})
        assert message.content[0].type == "thinking"
