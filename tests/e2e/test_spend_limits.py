"""Spend limits through the gateway: a hard cap is never overrun under concurrency, alerts fire once per
threshold, soft limits only alert, a cap added mid-period counts the spend already made, and an approved
increase request raises the cap."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import httpx
import pytest

from tests.support import Gateway

HAIKU: Any = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
PICO_PER_CENT = 10**10


def admin(gateway: Gateway) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, headers={"x-api-key": gateway.admin_key}, timeout=10)


def add_limit(gateway: Gateway, workspace: str, cents: int, **extra: Any) -> dict[str, Any]:
    with admin(gateway) as http:
        response = http.post("/v1/organizations/spend_limits", json={
            "scope": {"type": "workspace", "workspace_id": gateway.workspace_ids[workspace]},
            "period": "monthly", "amount": str(cents), **extra})
    assert response.status_code == 200, response.text
    gateway.sync_config()
    body: dict[str, Any] = response.json()
    return body


def spend_of(gateway: Gateway, workspace: str) -> int:
    time.sleep(0.5)  # let the shipper deliver the last records
    return sum(r.cost_picousd for r in gateway.usage() if r.workspace_id == gateway.workspace_ids[workspace])


def alerts(gateway: Gateway) -> list[Any]:
    async def read(plane: Any) -> list[Any]:
        return [e for e in await plane.records.latest_audit(500) if e.event == "spend.alert"]
    result: list[Any] = gateway.control(read)
    return result


def burst(gateway: Gateway, workspace: str, n: int) -> list[int | str]:
    client = gateway.client(workspace)

    def one(_: int) -> int | str:
        try:
            client.messages.create(**HAIKU)
            return 200
        except anthropic.BadRequestError as exc:
            return str(exc.body["error"]["message"])  # type: ignore[index]
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(n)))
    client.close()
    return results


def test_hard_cap_is_never_exceeded_under_concurrency(gateway: Gateway) -> None:
    limit = add_limit(gateway, "marketing", 1)  # $0.01: about 40 small Haiku calls
    results = burst(gateway, "marketing", 120)
    admitted = results.count(200)
    refusals = [r for r in results if r != 200]
    assert 0 < admitted < 120 and refusals
    # Each refusal names the cap; a request refused while the cap still had room says its worst case did not fit.
    assert all(isinstance(r, str) and "workspace marketing's monthly limit of $0.01" in r for r in refusals)
    assert all(isinstance(r, str) and ((r.startswith("This request's worst case ($") and " does not fit in " in r)
                                       or r.startswith("You have reached your specified API usage limits: "))
               for r in refusals), refusals
    assert spend_of(gateway, "marketing") <= 1 * PICO_PER_CENT
    fired = sorted(a.data["threshold"] for a in alerts(gateway) if a.data["spend_limit_id"] == limit["id"])
    assert fired in ([50, 80], [50, 80, 95])  # each at most once; 95 % is crossed unless the last reservation blocks it
    burst(gateway, "marketing", 5)  # may admit a few more (reservations released) and so cross 95 % now
    spend_of(gateway, "marketing")
    again = [a.data["threshold"] for a in alerts(gateway) if a.data["spend_limit_id"] == limit["id"]]
    assert sorted(again) == sorted(set(again)) and set(fired) <= set(again)  # never twice in a period


def test_soft_limit_only_alerts(gateway: Gateway) -> None:
    limit = add_limit(gateway, "eng", 1, hard=False, alert_thresholds=[10, 50])
    results = burst(gateway, "eng", 60)
    assert results.count(200) == 60
    assert spend_of(gateway, "eng") > 1 * PICO_PER_CENT
    fired = sorted(a.data["threshold"] for a in alerts(gateway) if a.data["spend_limit_id"] == limit["id"])
    assert fired == [10, 50]


def test_cap_added_mid_period_counts_spend_already_made(gateway: Gateway) -> None:
    burst(gateway, "eng", 20)
    spent = spend_of(gateway, "eng")
    assert spent > 0
    add_limit(gateway, "eng", spent // PICO_PER_CENT)  # below what was already spent this month
    assert [r for r in burst(gateway, "eng", 3) if r == 200] == []


def test_increase_request_approved_raises_the_cap(gateway: Gateway) -> None:
    limit = add_limit(gateway, "marketing", 0)
    assert burst(gateway, "marketing", 2).count(200) == 0
    with admin(gateway) as http:
        invite = http.post("/v1/admin/invitations", json={  # a developer of the capped workspace asks
            "email": "dev@example.com", "role": "developer",
            "workspaces": [{"workspace_id": gateway.workspace_ids["marketing"],
                            "workspace_role": "workspace_developer"}]}).json()
        dev = httpx.post(f"{gateway.url}/v1/admin/invitations/accept",
                         json={"token": invite["token"], "name": "Dev"}).json()
        with httpx.Client(base_url=gateway.url, headers={"x-api-key": dev["secret"]}) as as_dev:
            asked = as_dev.post("/v1/organizations/spend_limit_increase_requests",
                                json={"spend_limit_id": limit["id"], "amount": "500", "reason": "launch"})
            assert asked.status_code == 200 and asked.json()["status"] == "pending"
            refused = as_dev.post(f"/v1/organizations/spend_limit_increase_requests/{asked.json()['id']}/approve")
            assert refused.status_code == 403
        approved = http.post(f"/v1/organizations/spend_limit_increase_requests/{asked.json()['id']}/approve")
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        assert http.get(f"/v1/organizations/spend_limits/{limit['id']}").json()["amount"] == "500"
        effective = http.get("/v1/organizations/spend_limits/effective").json()["data"]
        assert [row["amount"] for row in effective if row["spend_limit_id"] == limit["id"]] == ["500"]
    gateway.sync_config()
    assert burst(gateway, "marketing", 3).count(200) == 3
    events = {e.event for e in gateway.audit([approved.headers["request-id"], asked.headers["request-id"]])}
    assert events == {"admin.spend_limits.increase_approved", "admin.spend_limits.increase_requested"}


def test_redis_down_gives_the_retryable_429_on_every_path_that_spends(database_url: str, simulator: Any,
                                                                     tmp_path: Any) -> None:
    """Issue 13: with Redis unreachable the spend-limit path answered 400 (not retried by the SDK) where the
    rate-limit path answered 429. Now Messages and Message Batches under a hard cap both get 429 with
    retry-after, like rate limits."""
    from steward.serving import free_port
    from tests.conftest import UPSTREAM_KEY
    from tests.support import start_gateway

    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    with start_gateway(database_url, simulator.url, tmp_path / "h", UPSTREAM_KEY, redis_url=dead_redis) as gw:
        add_limit(gw, "eng", 1000)
        gw.sync_config()
        with gw.client("eng") as client:
            with pytest.raises(anthropic.RateLimitError, match="cannot be checked") as refused:
                client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                       messages=[{"role": "user", "content": "hi"}])
            assert refused.value.response.headers["retry-after"]
            with pytest.raises(anthropic.RateLimitError, match="cannot be checked") as batch:
                client.messages.batches.create(requests=[{"custom_id": "a", "params": {
                    "model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}}])
            assert batch.value.response.headers["retry-after"]
