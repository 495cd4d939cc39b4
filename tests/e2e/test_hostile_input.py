"""Input that gave 500s (issue 13), on both databases: each now gets a 2xx or an Anthropic-shaped 4xx, and the
gateway keeps serving (and recording) ordinary requests afterwards."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from tests.chaos import pg_name, pg_outage
from tests.conftest import PG_ADMIN
from tests.e2e.test_otlp import DEV, JSON, SONNET, as_json, events, metrics, post
from tests.support import Gateway

BODY = {"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def _nested_tool_results(depth: int) -> dict[str, Any]:
    content: Any = "leaf 4111 1111 1111 1111"
    for i in range(depth):
        content = [{"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": content}]
    return {**BODY, "messages": [{"role": "user", "content": content}]}


def _still_serving(gateway: Gateway) -> None:
    with gateway.client("eng") as client:
        raw = client.messages.with_raw_response.create(**BODY)  # type: ignore[arg-type]
    [row] = gateway.wait_usage([raw.headers["request-id"]])
    assert row.status == 200


def test_deeply_nested_tool_results_are_scanned_without_a_500(gateway: Gateway) -> None:
    """PII scanning recursed once per nesting level: 300 levels raised RecursionError (a 500). Now a clear 400
    beyond 32 levels (the API takes no tool_result within a tool_result), and a nesting within it is scanned."""
    response = httpx.put(f"{gateway.url}/v1/admin/workspaces/{gateway.workspace_ids['eng']}/policy",
                         json={"pii": {"detectors": {"payment_card": "redact"}}},
                         headers={"x-api-key": gateway.admin_key})
    assert response.status_code == 200, response.text
    gateway.sync_config()
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        shallow = http.post("/v1/messages", content=json.dumps(_nested_tool_results(5)).encode(),
                            headers={"x-api-key": gateway.keys["eng"], "anthropic-version": "2023-06-01",
                                     "content-type": "application/json"})
        # Scanned and forwarded: the API itself refuses a tool_result within a tool_result (its 400, relayed).
        assert shallow.status_code == 400 and "does not match any of the expected tags" in shallow.text
        answer = http.post("/v1/messages", content=json.dumps(_nested_tool_results(300)).encode(),
                           headers={"x-api-key": gateway.keys["eng"], "anthropic-version": "2023-06-01",
                                    "content-type": "application/json"})
    assert answer.status_code == 400 and "nested more than 32 levels" in answer.json()["error"]["message"]
    _still_serving(gateway)


@pytest.mark.parametrize("cost", ["NaN", "Infinity", "-Infinity", "1e30", "-5"])
def test_otlp_log_numbers_out_of_range(gateway: Gateway, cost: str) -> None:
    request = events([("api_request", {"model": SONNET, "input_tokens": "1e40", "output_tokens": "10",
                                       "cost_usd": cost})], resource={**DEV, "session.id": f"sess-{cost}"})
    response = post(gateway, "/v1/logs", as_json(request), JSON)
    assert response.status_code < 500, response.text
    _still_serving(gateway)


@pytest.mark.parametrize("value", [1e300, float(2**63 - 1), 2**63 - 1])
def test_otlp_metric_values_out_of_range(gateway: Gateway, value: float) -> None:
    request = metrics([("claude_code.token.usage", {"type": "input", "model": SONNET}, value),
                       ("claude_code.cost.usage", {"model": SONNET}, value)],
                      resource={**DEV, "session.id": "sess-huge"})
    for _ in range(2):  # an overflowed counter used to fail every later export too
        response = post(gateway, "/v1/metrics", as_json(request), JSON)
        assert response.status_code < 500, response.text
    _still_serving(gateway)


@pytest.mark.parametrize("attrs", [{"user.email": "dev\x00@co.example"}, {"user.email": "d" * 10_000},
                                   {"session.id": "s" * 10_000}, {"terminal.type": "\x00" * 3}])
def test_otlp_odd_attributes(gateway: Gateway, attrs: dict[str, str]) -> None:
    request = metrics([("claude_code.session.count", {}, 1)], resource={**DEV, **attrs})
    response = post(gateway, "/v1/metrics", as_json(request), JSON)
    assert response.status_code < 500, response.text
    logs = events([("api_request", {"model": SONNET, "input_tokens": "3", "output_tokens": "1",
                                    "cost_usd": "0.001"})], resource={**DEV, **attrs})
    response = post(gateway, "/v1/logs", as_json(logs), JSON)
    assert response.status_code < 500, response.text
    _still_serving(gateway)


@pytest.mark.timeout(120)
def test_admin_api_while_the_database_is_down(gateway: Gateway, database_url: str) -> None:
    """Any Admin API call while PostgreSQL was down answered 500; now 503 ``overloaded_error`` with retry-after
    (retryable, and the SDK retries it), and the same calls work again once the database is back."""
    name = pg_name(database_url)
    if name is None:
        pytest.skip("an outage of the test's own PostgreSQL database")
    outage = threading.Thread(target=pg_outage, args=(PG_ADMIN, name, 3.0))
    outage.start()
    time.sleep(0.8)
    try:
        with httpx.Client(base_url=gateway.url, headers={"x-api-key": gateway.admin_key}, timeout=20) as http:
            answers = [http.get("/v1/organizations/workspaces"), http.post("/v1/admin/workspaces", json={"name": "X"}),
                       http.get("/v1/organizations/usage_report/messages", params={"starting_at": "2026-12-01"})]
    finally:
        outage.join()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["type"] == "overloaded_error" and answer.headers["retry-after"]
    deadline = time.monotonic() + 20
    while httpx.get(f"{gateway.url}/v1/organizations/workspaces", headers={"x-api-key": gateway.admin_key},
                    timeout=10).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.3)


NUL_PATHS = ["/v1/admin/keys?after_id=%00", "/v1/admin/keys/a%00", "/v1/organizations/webhooks/a%00",
             "/v1/admin/keys?workspace_id=%00", "/v1/compliance/activities?after_id=%00",
             "/v1/organizations/usage_report/messages?starting_at=2026-12-01T00:00:00Z&workspace_ids[]=%00",
             "/v1/messages/batches/msgbatch_%00", "/v1/messages/batches?after_id=%00"]


def test_a_nul_in_an_id_or_cursor_is_a_400_not_a_500(gateway: Gateway) -> None:
    """The adversary: PostgreSQL refuses NUL in text, so every id, cursor or filter carrying %00 answered 500 (the
    driver's error) on the Admin API, the Compliance API, the reports and the data plane. Now one 400, on both
    databases, before any route runs; and the same requests without it still work."""
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        for path in NUL_PATHS:
            key = gateway.keys["eng"] if path.startswith("/v1/messages") else gateway.admin_key
            answer = http.get(path, headers={"x-api-key": key})
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"]["type"] == "invalid_request_error" and answer.headers["request-id"]
        assert http.post("/v1/messages/batches/a%00/cancel", headers={"x-api-key": gateway.keys["eng"]}
                         ).status_code == 400
        assert http.get("/v1/admin/keys?after_id=apikey_x", headers={"x-api-key": gateway.admin_key}
                        ).status_code in (200, 404)


NUL_BODIES = [("/v1/admin/admin_keys", {"name": "x", "user_id": "user_x\u0000y"}),
              ("/v1/admin/keys", {"workspace_id": "wrkspc_\u0000", "name": "k"}),
              ("/v1/admin/invitations", {"email": "a\u0000@example.com", "role": "developer"}),
              ("/v1/organizations/invites", {"email": "a\u0000@example.com", "role": "user"}),
              ("/v1/organizations/spend_limit_increase_requests", {"spend_limit_id": "spl_\u0000", "amount": "5"}),
              ("/v1/organizations/webhooks", {"url": "https://example.com/\u0000", "event_types": ["*"]}),
              ("/v1/admin/compliance/groups", {"name": "g\u0000"}),
              ("/v1/admin/workspaces", {"name": "w", "allowed_models": ["claude-\u0000"]}),
              ("/v1/admin/workspaces", {"name\u0000": "w"})]


def test_a_nul_in_an_admin_body_is_a_400_not_a_500(gateway: Gateway) -> None:
    """The adversary (session 8): a NUL in a JSON field of an admin body reached PostgreSQL, which refuses it in
    text: 500 on eight routes. Now the door refuses any JSON or form body carrying one, with a 400, on both
    databases; an escaped backslash before "u0000" is no NUL and passes."""
    with httpx.Client(base_url=gateway.url, timeout=10, headers={"x-api-key": gateway.admin_key}) as http:
        for path, body in NUL_BODIES:
            answer = http.post(path, json=body)
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"] == {"type": "invalid_request_error",
                                              "message": "Text fields cannot contain NUL characters (\\u0000)."}
        form = http.post("/console/keys", content=b"name=a%00b",
                         headers={"content-type": "application/x-www-form-urlencoded"})
        assert form.status_code == 400, form.text
        fine = http.post("/v1/admin/workspaces", json={"name": "tagged", "tags": {"note": "back\\u0000slash"}})
        assert fine.status_code == 200, fine.text  # the text \u0000 after a backslash: no NUL
        assert fine.json()["tags"] == {"note": "back\\u0000slash"}
    _still_serving(gateway)
