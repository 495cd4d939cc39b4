"""Rate limits through the gateway (in-process limiter): set by the Admin API, enforced per level, with
Anthropic's headers and 429s; the official SDK's retry honours ``retry-after``."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest

from tests.support import Gateway

HAIKU: Any = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def set_limits(gateway: Gateway, path: str, limits: dict[str, int | None]) -> None:
    body = {"limits": [{"type": k, "value": v} for k, v in limits.items()]}
    response = httpx.post(f"{gateway.url}{path}", json=body, headers={"x-api-key": gateway.admin_key})
    assert response.status_code == 200, response.text
    gateway.sync_config()


def test_workspace_rpm_admits_exactly_the_limit_with_true_headers(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["marketing"]
    set_limits(gateway, f"/v1/organizations/workspaces/{ws}/rate_limits/rl_haiku", {"requests_per_minute": 5})
    remaining, refused = [], []
    with gateway.client("marketing") as client:
        for _ in range(8):
            try:
                raw = client.messages.with_raw_response.create(**HAIKU)
                assert raw.headers["anthropic-ratelimit-requests-limit"] == "5"
                remaining.append(int(raw.headers["anthropic-ratelimit-requests-remaining"]))
                assert raw.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
            except anthropic.RateLimitError as exc:
                refused.append(exc)
    assert remaining == [4, 3, 2, 1, 0]
    assert len(refused) == 3
    error = refused[0]
    assert error.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "workspace marketing" in error.message and "per-minute" in error.message
    assert 1 <= int(error.response.headers["retry-after"]) <= 12  # 1 request refills every 12 s
    assert error.response.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_output_tokens_are_reserved_then_settled(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["eng"]
    set_limits(gateway, f"/v1/organizations/workspaces/{ws}/rate_limits/rl_haiku", {"output_tokens_per_minute": 1000})
    with gateway.client("eng") as client:
        first = client.messages.with_raw_response.create(**{**HAIKU, "max_tokens": 400},
                                                          extra_headers={"x-sim-output-tokens": "10"})
        # Admission reserved max_tokens (400); the response used 10, so 390 come back on settlement.
        assert first.headers["anthropic-ratelimit-output-tokens-remaining"] == "600"
        time.sleep(0.05)
        second = client.messages.with_raw_response.create(**{**HAIKU, "max_tokens": 400},
                                                           extra_headers={"x-sim-output-tokens": "10"})
        assert 980 <= 400 + int(second.headers["anthropic-ratelimit-output-tokens-remaining"]) <= 1000
        with pytest.raises(anthropic.RateLimitError, match="lower max_tokens"):
            client.messages.create(**{**HAIKU, "max_tokens": 2000})


def test_key_and_organization_levels(gateway: Gateway) -> None:
    set_limits(gateway, f"/v1/admin/keys/{gateway.key_ids['eng']}/rate_limits/rl_haiku", {"requests_per_minute": 2})
    with gateway.client("eng") as eng:
        eng.messages.create(**HAIKU)
        eng.messages.create(**HAIKU)
        with pytest.raises(anthropic.RateLimitError, match="API key"):
            eng.messages.create(**HAIKU)
    set_limits(gateway, "/v1/organizations/rate_limits/rl_haiku", {"requests_per_minute": 1})
    with gateway.client("marketing") as marketing:
        marketing.messages.create(**HAIKU)
        with pytest.raises(anthropic.RateLimitError, match="organization"):
            marketing.messages.create(**HAIKU)
    set_limits(gateway, "/v1/organizations/rate_limits/rl_haiku", {"requests_per_minute": None})
    with gateway.client("marketing") as marketing:
        assert marketing.messages.create(**HAIKU).type == "message"  # cleared: within the poll interval


def test_other_model_groups_and_batches_are_not_limited(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["eng"]
    set_limits(gateway, f"/v1/organizations/workspaces/{ws}/rate_limits/rl_haiku", {"requests_per_minute": 1})
    with gateway.client("eng") as client:
        client.messages.create(**HAIKU)
        for _ in range(3):  # Sonnet is another group
            client.messages.create(**{**HAIKU, "model": "claude-sonnet-4-6"})
        batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": HAIKU}])
        assert batch.id.startswith("msgbatch_")


def test_sdk_retry_honours_retry_after(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["eng"]
    set_limits(gateway, f"/v1/organizations/workspaces/{ws}/rate_limits/rl_haiku", {"requests_per_minute": 30})
    with gateway.client("eng") as client:
        for _ in range(100):
            try:
                client.messages.create(**HAIKU)
            except anthropic.RateLimitError as exc:
                assert exc.response.headers["retry-after"] in ("1", "2")  # one request refills every 2 s
                break
        else:
            pytest.fail("the limit was never reached")
    with gateway.client("eng", max_retries=2) as patient:
        started = time.monotonic()
        assert patient.messages.create(**HAIKU).type == "message"
        assert time.monotonic() - started >= 0.3  # it waited for capacity instead of failing


def test_waiting_for_capacity_instead_of_refusing(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["eng"]
    set_limits(gateway, f"/v1/organizations/workspaces/{ws}/rate_limits/rl_haiku", {"requests_per_minute": 30})
    with gateway.client("eng") as client:
        for _ in range(100):  # drain the bucket (one request refills every 2 s)
            try:
                client.messages.create(**HAIKU)
            except anthropic.RateLimitError:
                break
        with pytest.raises(anthropic.RateLimitError):  # still empty, and a short wait does not change that
            client.messages.create(**HAIKU, extra_headers={"x-steward-max-wait": "0.01"})
        waited = client.messages.with_raw_response.create(**HAIKU, extra_headers={"x-steward-max-wait": "5"})
        assert waited.parse().type == "message"  # it waited for the next token instead of a 429
        assert waited.headers["anthropic-ratelimit-requests-remaining"] == "0"
        with pytest.raises(anthropic.BadRequestError, match="x-steward-max-wait"):
            client.messages.create(**HAIKU, extra_headers={"x-steward-max-wait": "soon"})


def test_batches_have_their_own_limits(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["marketing"]
    set_limits(gateway, f"/v1/organizations/workspaces/{ws}/rate_limits/rl_haiku", {"requests_per_minute": 1})
    set_limits(gateway, f"/v1/organizations/workspaces/{ws}/rate_limits/rl_batch", {"queued_requests": 3})
    items = [{"custom_id": f"q{i}", "params": HAIKU} for i in range(2)]
    with gateway.client("marketing") as client:
        client.messages.create(**HAIKU)  # the real-time bucket is now empty...
        first = client.messages.batches.create(requests=items)  # ...and batches do not count against it
        with pytest.raises(anthropic.RateLimitError, match="queued batch requests"):
            client.messages.batches.create(requests=items)  # 2 queued + 2 > 3
        deadline = time.monotonic() + 10
        while client.messages.batches.retrieve(first.id).processing_status != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        list(client.messages.batches.results(first.id))  # metered: its requests are no longer queued
        assert client.messages.batches.create(requests=items).id.startswith("msgbatch_")
    set_limits(gateway, f"/v1/organizations/workspaces/{ws}/rate_limits/rl_batch", {"requests_per_minute": 2,
                                                                                    "queued_requests": None})
    with gateway.client("marketing") as client:
        client.messages.batches.list()
        client.messages.batches.list()
        with pytest.raises(anthropic.RateLimitError):  # every batch endpoint counts against the batch RPM
            client.messages.batches.list()
    with httpx.Client(base_url=gateway.url, headers={"x-api-key": gateway.admin_key}) as http:
        wrong = http.post(f"/v1/organizations/workspaces/{ws}/rate_limits/rl_batch",
                          json={"limits": [{"type": "output_tokens_per_minute", "value": 5}]})
        assert wrong.status_code == 400 and "Message Batches" in wrong.json()["error"]["message"]


def test_redis_down_fails_closed_and_says_so(database_url: str, simulator: Any, tmp_path: Any) -> None:
    from steward.serving import free_port
    from tests.conftest import UPSTREAM_KEY
    from tests.support import start_gateway

    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    with start_gateway(database_url, simulator.url, tmp_path / "h", UPSTREAM_KEY, redis_url=dead_redis) as gw:
        set_limits(gw, f"/v1/organizations/workspaces/{gw.workspace_ids['eng']}/rate_limits/rl_haiku",
                   {"requests_per_minute": 100})
        with gw.client("eng") as client, pytest.raises(anthropic.RateLimitError, match="cannot be checked"):
            client.messages.create(**HAIKU)
        metrics = httpx.get(f"{gw.url}/metrics").text
    assert 'steward_store_unavailable_total{operation="admission",store="rate-limit"}' in metrics
    assert 'steward_requests_total{endpoint="messages",status="429"}' in metrics
