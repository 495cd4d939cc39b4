"""What crosses the upstream boundary: our key never, the upstream key always, errors and headers intact."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import anthropic
import pytest
from sqlalchemy import select

from steward.controlplane.services import ControlPlane
from steward.serving import free_port
from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer
from steward.storage.models import AuditEvent
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway

BODY = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def seen(simulator: SimulatorServer) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{simulator.url}/_sim/requests") as response:
        return list(json.loads(response.read()))


def test_keys_and_headers_forwarded(gateway: Gateway, simulator: SimulatorServer) -> None:
    with gateway.client() as client:
        client.messages.create(**BODY, extra_headers={"anthropic-beta": "context-1m-2025-08-07",  # type: ignore[arg-type]
                                                      "anthropic-version": "2023-06-01",
                                                      "x-private-header": "do-not-forward"})
    last = [r for r in seen(simulator) if r["path"] == "/v1/messages"][-1]
    headers = last["headers"]
    assert isinstance(headers, dict)
    assert headers["x-api-key"] == UPSTREAM_KEY
    assert headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "x-private-header" not in headers and "authorization" not in headers
    assert gateway.keys["eng"] not in json.dumps(seen(simulator))


def test_upstream_rate_limit_passes_through(gateway: Gateway) -> None:
    with gateway.client() as client, pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(**BODY, extra_headers={"x-sim-fault": "429"})  # type: ignore[arg-type]
    headers = info.value.response.headers
    assert headers.get("retry-after")
    assert headers.get("anthropic-ratelimit-requests-remaining") == "0"
    assert headers["request-id"].startswith("req_")
    [row] = gateway.wait_usage([headers["request-id"]])
    assert row.status == 429 and row.cost_picousd == 0
    [event] = gateway.wait_audit([headers["request-id"]])
    assert event.status == 429 and event.reason == "upstream returned 429"


@pytest.mark.parametrize(("fault", "error"), [("529", anthropic.InternalServerError),
                                              ("500", anthropic.InternalServerError)])
def test_upstream_errors_pass_through(gateway: Gateway, fault: str, error: type[Exception]) -> None:
    with gateway.client() as client, pytest.raises(error) as info:
        client.messages.create(**BODY, extra_headers={"x-sim-fault": fault})  # type: ignore[arg-type]
    assert info.value.response.status_code == int(fault)  # type: ignore[attr-defined]


def test_stream_cut_by_upstream_is_still_metered(gateway: Gateway) -> None:
    with gateway.client() as client:
        response = client.messages.with_raw_response.create(
            **BODY, stream=True, extra_headers={"x-sim-fault": "cut", "x-sim-output-tokens": "60"})  # type: ignore[arg-type]
        request_id = response.headers["request-id"]
        with pytest.raises(Exception):  # noqa: B017 - the SDK raises on the error event or a short stream
            for _ in response.parse():
                pass
    [row] = gateway.wait_usage([request_id])
    assert not row.complete and row.input_tokens > 0
    [event] = gateway.wait_audit([request_id])
    assert event.data and event.data["complete"] is False


def test_a_json_answer_cut_midway_is_usage_not_a_refusal(gateway: Gateway) -> None:
    """The upstream answered 200 and its body broke off: the client gets a 502, but the upstream did the work, so
    the request is usage (a row with the 502) and its audit event says forwarded, not a refusal (the adversary:
    it was audited only, as "gateway_error", and released the spend hold at $0 with no usage at all)."""
    with gateway.client(max_retries=0) as client, pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(**BODY, extra_headers={"x-sim-fault": "cut"})  # type: ignore[arg-type]
    assert info.value.status_code == 502
    request_id = info.value.response.headers["request-id"]
    [row] = gateway.wait_usage([request_id])
    assert row.status == 502 and not row.complete
    [event] = gateway.wait_audit([request_id])
    assert event.data and event.data.get("forwarded") is True and "refusal" not in event.data


def test_upstream_unreachable_is_502(database_url: str, tmp_path: Path) -> None:
    """Never forwarded: Steward's own 502, audited as a gateway error (the refusals report's), no usage record."""
    dead = f"http://127.0.0.1:{free_port()}"
    with start_gateway(database_url, dead, tmp_path / "h", UPSTREAM_KEY) as gw, gw.client(max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            client.messages.create(**BODY)  # type: ignore[arg-type]
        assert info.value.status_code == 502
        assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]
        request_id = info.value.response.headers["request-id"]
        [event] = gw.wait_audit([request_id])
        assert event.data and event.data["refusal"] == "gateway_error" and "forwarded" not in event.data
        assert gw.usage([request_id]) == []


def test_upstream_timeout_is_504(database_url: str, simulator: SimulatorServer, tmp_path: Path) -> None:
    with start_gateway(database_url, simulator.url, tmp_path / "h", UPSTREAM_KEY,
                       upstream_read_timeout=0.3) as gw, gw.client() as client, \
            pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(**BODY, extra_headers={"x-sim-fault": "slow", "x-sim-delay-ms": "1500"})  # type: ignore[arg-type]
    assert info.value.status_code == 504
    assert info.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]
    # sent, and not answered in time: the upstream may have worked on it, so it is usage (with the 504)
    [row] = gw.wait_usage([info.value.response.headers["request-id"]])
    assert row.status == 504


def test_stream_cut_by_client_is_still_metered(database_url: str, tmp_path: Path) -> None:
    """The client hangs up after the first events: the upstream call is dropped and what was sent is metered."""
    body = json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 400, "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]})
    with SimulatorServer(SimulatorConfig(api_key=UPSTREAM_KEY, tokens_per_second=100)) as sim, \
            start_gateway(database_url, sim.url, tmp_path / "home", UPSTREAM_KEY) as gw:
        url = urlsplit(gw.url)
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        conn.request("POST", "/v1/messages", body=body, headers={
            "x-api-key": gw.keys["eng"], "anthropic-version": "2023-06-01", "content-type": "application/json",
            "x-sim-output-tokens": "300"})
        response = conn.getresponse()
        request_id = response.getheader("request-id") or ""
        received = b""
        while received.count(b"content_block_delta") < 5:
            received += response.read1(65536)
        conn.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        conn.close()
        [row] = gw.wait_usage([request_id])
        [event] = gw.wait_audit([request_id])
    assert not row.complete and row.input_tokens > 0
    assert 0 < row.output_tokens < 300
    assert row.cost_picousd > 0
    assert event.reason == "client disconnected before the response ended"


def test_a_client_gone_before_its_body_was_read_is_no_usage(gateway: Gateway) -> None:
    """The adversary: headers saying 1,000 bytes, 27 sent, the connection closed. The request was never sent on,
    yet it was a usage row (status 499) that any key holder could repeat to inflate `requests`. Now audit only."""
    with gateway.client() as client:
        before = client.messages.with_raw_response.create(**BODY).headers["request-id"]  # type: ignore[arg-type]
    url = urlsplit(gateway.url)
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: {url.hostname}\r\nx-api-key: {gateway.keys['eng']}\r\n"
            "anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n")
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=5) as raw:
        raw.sendall(head.encode() + b'{"model": "claude-haiku-4-')
    time.sleep(0.5)  # the gateway notices the hang-up and records it
    with gateway.client() as client:
        after = client.messages.with_raw_response.create(**BODY).headers["request-id"]  # type: ignore[arg-type]
    gateway.wait_usage([before, after])
    gateway.wait_audit([before, after])
    assert [row.status for row in gateway.usage()] == [200, 200]  # the journal ships in order: no 499 between
    gone = [a for a in gateway.control(_audit_of_499) if a.status == 499]
    assert [(a.decision, a.reason) for a in gone] == [
        ("error", "client closed the connection before its request was read")]


async def _audit_of_499(plane: ControlPlane) -> list[AuditEvent]:
    async with plane.database.sessions() as session:
        return list((await session.execute(select(AuditEvent).where(AuditEvent.status == 499))).scalars().all())
