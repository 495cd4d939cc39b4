"""Request validation: the real API's status codes, error types and messages, via the SDK's exceptions."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from steward.simulator import SimulatorServer

MODEL = "claude-haiku-4-5"
OK: dict[str, Any] = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


def post(client: anthropic.Anthropic, body: Any, path: str = "/v1/messages") -> Any:
    return client.post(path, body=body, cast_to=object)


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"model": MODEL, "messages": OK["messages"]}, "max_tokens: Field required"),
    ({"max_tokens": 5, "messages": OK["messages"]}, "model: Field required"),
    ({**OK, "messages": "hi"}, "messages: Input should be a valid list"),
    ({**OK, "messages": []}, "messages: at least one message is required"),
    ({**OK, "max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
    ({**OK, "max_tokens": "5"}, "max_tokens: Input should be a valid integer"),
    ({**OK, "max_tokens": 1_000_000}, "max_tokens: 1000000 > 64000, which is the maximum allowed"),
    ({**OK, "messages": [{"role": "bot", "content": "x"}]},
     "messages.0: Input tag 'bot' found using 'role' does not match any of the expected tags: 'user', "),
    ({**OK, "messages": [{"role": "user"}]}, "messages.0.content: Field required"),
    ({**OK, "messages": [{"role": "user", "content": ""}]}, "messages.0: all messages must have non-empty content"),
    ({**OK, "temperature": 3}, "temperature: Input should be less than or equal to 1"),
    ({**OK, "bogus": 1}, "bogus: Extra inputs are not permitted"),
    ({**OK, "stream": "yes"}, "stream: Input should be a valid boolean"),
    ({**OK, "thinking": {"type": "enabled", "budget_tokens": 100}},
     "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
    ({**OK, "thinking": {"type": "enabled", "budget_tokens": 2048}},
     "`max_tokens` must be greater than `thinking.budget_tokens`"),
    ({**OK, "thinking": {"type": "adaptive"}}, "thinking.type.adaptive is not supported for this model"),
    ({**OK, "model": "claude-opus-4-7", "thinking": {"type": "enabled", "budget_tokens": 1024}},
     "thinking.type.enabled is not supported for this model"),
    ({**OK, "tool_choice": {"type": "any"}}, "tool_choice may only be specified while providing tools"),
    ({**OK, "tools": [{"name": "f"}]}, "tools.0.custom.input_schema: Field required"),
    ({**OK, "model": "claude-sonnet-4-6", "messages": [*OK["messages"], {"role": "assistant", "content": "Sure"}]},
     "This model does not support assistant message prefill"),
    ({**OK, "output_config": {"format": {"type": "json_schema"}}}, "output_config.format.schema: Field required"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES, ids=[m[:40] for _, m in BAD_BODIES])
def test_bad_requests(client: anthropic.Anthropic, body: dict[str, Any], message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        post(client, body)
    error = caught.value
    assert error.body["type"] == "error" and error.body["error"]["type"] == "invalid_request_error"
    assert error.body["error"]["message"].startswith(message)
    assert error.body["request_id"] == error.response.headers["request-id"]
    assert error.response.headers["x-should-retry"] == "false"


def test_prefill_is_allowed_on_older_models(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=20,
                                     messages=[*OK["messages"], {"role": "assistant", "content": "Sure"}])
    assert message.content


def test_invalid_json(server: SimulatorServer) -> None:
    response = httpx2.post(f"{server.url}/v1/messages", content=b"{not json", headers=HEADERS)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("The request body is not valid JSON: ")


VERSIONED = [("POST", "/v1/messages"), ("POST", "/v1/messages?beta=true"), ("POST", "/v1/messages/count_tokens"),
             ("POST", "/v1/messages/batches"), ("GET", "/v1/messages/batches"),
             ("GET", "/v1/messages/batches/msgbatch_01"), ("GET", "/v1/messages/batches/msgbatch_01/results"),
             ("GET", "/v1/models"), ("GET", "/v1/models/claude-opus-5-5"), ("GET", "/v1/files")]


@pytest.mark.parametrize(("method", "path"), VERSIONED)
def test_missing_version_header(server: SimulatorServer, method: str, path: str) -> None:
    body = OK if method == "POST" else None
    response = httpx2.request(method, f"{server.url}{path}", json=body, headers={"x-api-key": "k"})
    assert response.status_code == 400
    envelope = response.json()
    assert envelope == {"type": "error", "request_id": response.headers["request-id"], "error": {
        "type": "invalid_request_error", "message": "anthropic-version: header is required"}}


@pytest.mark.parametrize("model", ["claude-nope-1", "claude-mythos-preview"])
def test_unknown_or_retired_model_is_not_found(client: anthropic.Anthropic, model: str) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        post(client, {**OK, "model": model})
    assert caught.value.body["error"] == {"type": "not_found_error", "message": f"model: {model}"}


def test_count_tokens_validation(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Extra inputs are not permitted"):
        post(client, OK, "/v1/messages/count_tokens")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="claude-nope", messages=OK["messages"])


def test_unknown_route_and_method(server: SimulatorServer) -> None:
    assert httpx2.get(f"{server.url}/v1/nothing", headers=HEADERS).status_code == 404
    assert httpx2.get(f"{server.url}/v1/messages", headers=HEADERS).status_code == 405
