"""Injected faults and latency: status errors as the SDK sees them, slow, cut, per-request ttft."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest

from steward.simulator import SimulatorConfig, SimulatorServer

MODEL = "claude-haiku-4-5"
HELLO: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hello there"}]


def fault(name: str) -> dict[str, str]:
    return {"x-sim-fault": name}


def test_429_has_retry_after_and_exhausted_limits(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, extra_headers=fault("429"))
    error = caught.value
    assert error.status_code == 429 and error.response.headers["retry-after"] == "1"
    assert error.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert error.response.headers["x-should-retry"] == "true"
    body: Any = error.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert body["request_id"] == error.response.headers["request-id"]


@pytest.mark.parametrize(("name", "status", "error_type"), [("529", 529, "overloaded_error"),
                                                            ("500", 500, "api_error")])
def test_server_errors(client: anthropic.Anthropic, name: str, status: int, error_type: str) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, extra_headers=fault(name))
    body: Any = caught.value.body
    assert caught.value.status_code == status and body["error"]["type"] == error_type
    if name == "529":
        assert isinstance(caught.value, anthropic.OverloadedError)


def test_faults_apply_to_other_endpoints(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.OverloadedError):
        client.models.list(extra_headers=fault("529"))


def test_slow_adds_the_delay(client: anthropic.Anthropic) -> None:
    began = time.monotonic()
    message = client.messages.create(model=MODEL, max_tokens=20, messages=HELLO,
                                     extra_headers={**fault("slow"), "x-sim-delay-ms": "150"})
    assert time.monotonic() - began >= 0.15 and message.stop_reason == "max_tokens"


def test_ttft_header_delays_the_first_event(client: anthropic.Anthropic) -> None:
    began = time.monotonic()
    with client.messages.stream(model=MODEL, max_tokens=20, messages=HELLO,
                                extra_headers={"x-sim-ttft-ms": "120"}) as stream:
        first = next(iter(stream))
        assert first.type == "message_start" and time.monotonic() - began >= 0.12


def test_cut_stream_stops_midway(client: anthropic.Anthropic) -> None:
    seen: list[str] = []
    failure: Exception | None = None
    try:
        with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO,
                                    extra_headers=fault("cut")) as stream:
            for event in stream:
                seen.append(event.type)
    except Exception as exc:  # which class a cut connection raises is the SDK's business, not ours
        failure = exc
    assert failure is not None, "a cut stream must not look complete to the client"
    assert seen[0] == "message_start" and seen.count("content_block_delta") == 3
    assert "message_delta" not in seen and "message_stop" not in seen


def test_cut_stream_bytes_end_after_the_configured_deltas(server: SimulatorServer) -> None:
    body = {"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", **fault("cut")}
    received = b""
    with httpx2.stream("POST", f"{server.url}/v1/messages", json=body, headers=headers) as response:
        assert response.status_code == 200
        try:
            for chunk in response.iter_bytes():
                received += chunk
        except httpx2.HTTPError:
            pass  # the connection closes without the chunked terminator: that is the fault
    text = received.decode()
    assert text.count("event: content_block_delta") == 3
    assert "event: message_delta" not in text and "event: message_stop" not in text


def test_cut_json_is_a_truncated_body(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, extra_headers=fault("cut"))


def test_unknown_fault_is_a_bad_request(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="x-sim-fault"):
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, extra_headers=fault("boom"))


@pytest.fixture(scope="module")
def guarded() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(api_key="sk-ant-right", fault="529")) as running:
        yield running


def test_configured_key_is_required(guarded: SimulatorServer) -> None:
    with anthropic.Anthropic(base_url=guarded.url, api_key="sk-ant-wrong", max_retries=0) as client, \
            pytest.raises(anthropic.AuthenticationError, match="invalid x-api-key"):
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    with anthropic.Anthropic(base_url=guarded.url, auth_token="sk-ant-right", max_retries=0) as client, \
            pytest.raises(anthropic.OverloadedError):  # the SDK sends keys as bearer tokens; then the fault
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    version = {"anthropic-version": "2023-06-01"}
    response = httpx2.post(f"{guarded.url}/v1/messages", json={}, headers=version)
    assert response.status_code == 401
    assert response.json()["error"] == {"type": "authentication_error", "message": "x-api-key header is required"}
    response = httpx2.get(f"{guarded.url}/v1/models", headers={**version, "x-api-key": "sk-ant-right"})
    assert response.status_code == 529
