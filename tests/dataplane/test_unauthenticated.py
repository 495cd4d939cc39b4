"""Refusals without a valid key are sampled per source address: a client without a key cannot grow the audit
trail at line rate, the trail still shows the attack (a summary event with the count), responses stay the 401
envelope, and a refusal of a request that has a valid key is always audited."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from steward.dataplane.context import RequestContext
from steward.dataplane.stages.record import Record
from steward.dataplane.stages.refusals import PER_WINDOW, UnauthenticatedSampler
from steward.errors import AuthenticationError
from steward.workers.journal import Journal
from tests.support import Gateway

BODY = {"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def _count_events(gateway: Gateway, request_ids: list[str]) -> int:
    return len(gateway.audit(request_ids))


def _sampled(http: httpx.Client) -> float:
    """The sampled refusals counted so far (the registry is per process: read it before and after)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in http.get("/metrics").text.splitlines()
               if line.startswith("steward_unauthenticated_refusals_total{") and 'outcome="sampled"' in line)


def test_500_bad_key_requests_from_one_address_are_sampled(gateway: Gateway) -> None:
    ids, statuses = [], set()
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        sampled_before = _sampled(http)
        for n in range(500):
            headers = {"x-api-key": "sk-not-a-key"} if n % 2 else {}  # malformed, and missing
            answer = http.post("/v1/messages", json=BODY, headers=headers)
            statuses.add(answer.status_code)
            assert answer.json()["type"] == "error" and answer.json()["error"]["type"] == "authentication_error"
            ids.append(answer.headers["request-id"])
        with gateway.client("eng") as client:  # a refusal with a valid key: always audited
            valid = client.messages.with_raw_response.create(
                model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        refused = http.post("/v1/messages", json={"model": "claude-sonnet-4-6", "messages": []},
                            headers={"x-api-key": gateway.keys["eng"]})
        assert refused.status_code == 400
        gateway.wait_audit([refused.headers["request-id"], valid.headers["request-id"]])
        sampled = _sampled(http) - sampled_before
    assert statuses == {401}
    assert _count_events(gateway, ids) == PER_WINDOW  # the first ones of the minute, one by one
    assert sampled == 500 - PER_WINDOW


def _refusal(n: int, at: float, client: str = "203.0.113.9") -> RequestContext:
    ctx = RequestContext(request_id=f"req_{n}", endpoint="messages", started_at=at, started_perf=time.perf_counter(),
                         headers={}, client=client, auth_failure="unknown")
    ctx.error, ctx.status = AuthenticationError("invalid x-api-key"), 401
    return ctx


def _lines(directory: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for path in sorted(directory.rglob("*")) if path.is_file()
            for line in path.read_bytes().splitlines() if line.startswith(b"{")]


def test_the_summary_event_carries_the_count_when_the_window_closes(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal")
    record = Record(journal)
    start = time.time()
    for n in range(500):
        record.on_complete(_refusal(n, start + n / 100))
    record.on_complete(_refusal(999, start + 1, client="198.51.100.7"))  # another address: its own quota
    record.on_complete(_refusal(1000, start + 61, client="198.51.100.7"))  # the first window has closed
    journal.close()
    audits = [line["audit"] for line in _lines(tmp_path / "journal") if "audit" in line]
    single = [a for a in audits if a["event"] == "api_call"]
    summaries = [a for a in audits if a["event"] == "auth.refused_summary"]
    assert len([a for a in single if a["data"]["client"] == "203.0.113.9"]) == PER_WINDOW
    assert len([a for a in single if a["data"]["client"] == "198.51.100.7"]) == 2
    assert [(s["data"]["client"], s["data"]["count"], s["data"]["reasons"]) for s in summaries] == [
        ("203.0.113.9", 500 - PER_WINDOW, {"unknown": 500 - PER_WINDOW})]
    assert all("usage" not in line for line in _lines(tmp_path / "journal"))


def test_the_address_table_is_bounded_and_evicts_the_oldest() -> None:
    sampler = UnauthenticatedSampler(per_window=1, max_addresses=100)
    for n in range(1000):
        for _ in range(3):
            sampler.admit(f"10.0.{n // 256}.{n % 256}", "missing", 1000.0 + n / 1000)
    closed = sampler.summaries(1000.5)  # all windows still open: only the evicted ones were summarised
    assert len(sampler) == 100
    assert len(closed) == 900 and {s["data"]["count"] for s in closed} == {2}
    assert closed[0]["data"]["client"] == "10.0.0.0"


def test_requests_without_a_valid_key_are_limited_per_address_and_valid_keys_never(
        database_url: str, simulator: Any, tmp_path: Path) -> None:
    """Issue 13: unauthenticated traffic is rate-limited per source address. Past the limit a request without a
    valid key gets 429 with retry-after and the connection is closed; a valid key from the same address passes."""
    from tests.conftest import UPSTREAM_KEY
    from tests.support import start_gateway

    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY,
                       unauthenticated_per_minute=5) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as http:
        statuses = [http.post("/v1/messages", json=BODY, headers={"x-api-key": "sk-not-a-key"}).status_code
                    for _ in range(5)]
        assert statuses == [401] * 5
        limited = http.post("/v1/messages", json=BODY)
        assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(limited.headers["retry-after"]) <= 60 and limited.headers["connection"] == "close"
        assert limited.headers["x-should-retry"] == "false"  # without a valid key a retry cannot succeed
        with gateway.client("eng") as client:  # same address, valid key: never counted, never refused
            for _ in range(3):
                assert client.messages.create(**BODY).id  # type: ignore[call-overload]
        assert http.post("/v1/messages", json=BODY, headers={"x-api-key": "sk-not-a-key"}).status_code == 429
        # A key that exists but was deactivated keeps getting its 401 and the reason (a misconfigured client, not
        # a guess), and the SDK does not wait out a retry-after first. (A revoked key is archived: the gateway no
        # longer holds it, so it is as unknown as a guess.)
        gateway.control(lambda plane: plane.set_key_status(gateway.key_ids["eng"], "inactive"))
        gateway.sync_config()
        inactive = http.post("/v1/messages", json=BODY, headers={"x-api-key": gateway.keys["eng"]})
        assert inactive.status_code == 401 and "inactive" in inactive.json()["error"]["message"]


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
        database_url: str, simulator: Any, tmp_path: Path) -> None:
    """With STEWARD_FORWARDED_ALLOW_IPS naming the proxy, the per-address limit (and the audit trail) see the client
    that X-Forwarded-For names; without it, the header is ignored and a client cannot choose its address."""
    from tests.conftest import UPSTREAM_KEY
    from tests.support import start_gateway

    def bad(http: httpx.Client, client: str) -> int:
        return http.post("/v1/messages", json=BODY, headers={"x-forwarded-for": client}).status_code

    with start_gateway(database_url, simulator.url, tmp_path / "proxied", UPSTREAM_KEY, unauthenticated_per_minute=2,
                       forwarded_allow_ips="127.0.0.1") as gateway, \
            httpx.Client(base_url=gateway.url, timeout=10) as http:
        assert [bad(http, "203.0.113.7") for _ in range(3)] == [401, 401, 429]
        assert [bad(http, "198.51.100.9") for _ in range(3)] == [401, 401, 429]  # another client: its own count
    with start_gateway(database_url, simulator.url, tmp_path / "direct", UPSTREAM_KEY, {"direct": None},
                       unauthenticated_per_minute=2) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as http:
        assert [bad(http, f"203.0.113.{n}") for n in range(3)] == [401, 401, 429]  # the header changes nothing
