"""Bad input gets a clear Anthropic-shaped 4xx with a request-id, never a 500; each is audited."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import anthropic
import pytest

from steward.identity.keyformat import mint
from tests.support import Gateway

GOOD = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def post(gateway: Gateway, path: str, body: bytes, headers: dict[str, str] | None = None,
         key: str | None = "eng") -> tuple[int, dict[str, str], dict[str, object]]:
    url = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    sent = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    if key:
        sent["x-api-key"] = gateway.keys[key]
    sent.update(headers or {})
    conn.request("POST", path, body=body, headers=sent)
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def assert_error(result: tuple[int, dict[str, str], dict[str, object]], status: int, kind: str,
                 text: str) -> None:
    code, headers, body = result
    assert code == status, body
    assert body["type"] == "error"
    error = body["error"]
    assert isinstance(error, dict) and error["type"] == kind and text in str(error["message"])
    assert headers["request-id"].startswith("req_") and body["request_id"] == headers["request-id"]


@pytest.mark.parametrize(("body", "text"), [
    (b"{not json", "not valid JSON"),
    (b"", "empty"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({**GOOD, "max_tokens": "ten"}).encode(), "max_tokens: Input should be a valid integer"),
    (json.dumps({**GOOD, "max_tokens": 0}).encode(), "greater than or equal to 1"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "model"}).encode(), "model: Field required"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "messages"}).encode(), "messages: Field required"),
    (json.dumps({**GOOD, "messages": "hi"}).encode(), "valid list"),
    (json.dumps({**GOOD, "stream": "yes"}).encode(), "stream"),
    (json.dumps({**GOOD, "metadata": {"user_id": 5}}).encode(), "metadata.user_id"),
    # Values that reach the ledger are bounded at the door, so the database accepts all the journal holds.
    (json.dumps({**GOOD, "model": "claude-" + "x" * 2_000_000}).encode(), "model: String should have at most 100"),
    (json.dumps({**GOOD, "model": "claude-sonnet-4-6\u0000"}).encode(), "model: String should not contain NUL"),
    (json.dumps({**GOOD, "metadata": {"user_id": "a\u0000b"}}).encode(), "metadata.user_id: String should not"),
    (json.dumps({**GOOD, "metadata": {"user_id": "u" * 257}}).encode(), "at most 256 characters"),
])
def test_malformed_bodies(gateway: Gateway, body: bytes, text: str) -> None:
    assert_error(post(gateway, "/v1/messages", body), 400, "invalid_request_error", text)


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches"])
def test_over_long_session_header_is_refused_at_the_door(gateway: Gateway, path: str) -> None:
    result = post(gateway, path, json.dumps(GOOD).encode(), {"x-claude-code-session-id": "s" * 200})
    assert_error(result, 400, "invalid_request_error", "x-claude-code-session-id: at most 128")
    # The refusal reaches the database: its audit event never carries the value refused (on PostgreSQL a
    # 200-character session id in the usage row was refused by the database and the line quarantined: ledger chaos
    # bench). A refusal has no usage record at all (it never reached the upstream).
    [event] = gateway.wait_audit([result[1]["request-id"]])
    assert event.status == 400 and "s" * 129 not in str(event.data)
    assert gateway.usage([result[1]["request-id"]]) == []


@pytest.mark.parametrize("custom_id", ["has space", "x" * 65, "", "nul\u0000"])
def test_batch_custom_ids_follow_the_apis_pattern(gateway: Gateway, custom_id: str) -> None:
    body = {"requests": [{"custom_id": custom_id, "params": GOOD}]}
    result = post(gateway, "/v1/messages/batches", json.dumps(body).encode())
    assert_error(result, 400, "invalid_request_error", "requests.0.custom_id: String should match pattern")


def test_a_refusal_quoting_a_nul_still_reaches_the_audit_trail(gateway: Gateway) -> None:
    url = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    conn.request("GET", "/v1/models/claude%00x", headers={"x-api-key": gateway.keys["eng"],
                                                          "anthropic-version": "2023-06-01"})
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 400  # a NUL in a path or query is refused before any id reaches the database
    [event] = gateway.wait_audit([response.getheader("request-id") or ""])
    assert event.decision == "refused" and event.reason is not None and "\x00" not in event.reason


@pytest.mark.parametrize("geo", ["x" * 5000, "us\u0000"])
def test_odd_values_reported_by_the_upstream_keep_their_ledger_line(gateway: Gateway, geo: str) -> None:
    # The simulator echoes inference_geo into usage; a value too long (or with a NUL) for its column used to cost
    # the request its usage record and audit event (quarantined by the shipper on PostgreSQL).
    code, headers, _ = post(gateway, "/v1/messages", json.dumps({**GOOD, "inference_geo": geo}).encode())
    assert code == 200
    [row] = gateway.wait_usage([headers["request-id"]])
    assert row.inference_geo == geo.replace("\x00", "")[:32]
    assert gateway.wait_audit([headers["request-id"]])


def test_bad_tags_header(gateway: Gateway) -> None:
    result = post(gateway, "/v1/messages", json.dumps(GOOD).encode(), {"x-steward-tags": "team"})
    assert_error(result, 400, "invalid_request_error", "x-steward-tags")


def test_unknown_model(gateway: Gateway) -> None:
    # Forwarded (STEWARD_UNKNOWN_MODELS=forward, the default): the API's own 404 is relayed, body untouched, so
    # its request_id is the upstream's while the request-id header is Steward's.
    body = json.dumps({**GOOD, "model": "claude-imaginary-9"}).encode()
    code, headers, payload = post(gateway, "/v1/messages", body)
    assert code == 404 and headers["request-id"].startswith("req_")
    error = payload["error"]
    assert isinstance(error, dict) and error["type"] == "not_found_error" and "claude-imaginary-9" in error["message"]


def test_oversized_body(gateway: Gateway) -> None:
    big = json.dumps({**GOOD, "messages": [{"role": "user", "content": "x" * (33 * 1024 * 1024)}]}).encode()
    assert_error(post(gateway, "/v1/messages", big), 413, "request_too_large", "limit")


@pytest.mark.parametrize(("headers", "text"), [
    ({}, "x-api-key header is required"),
    ({"x-api-key": "sk-ant-api03-not-ours"}, "not a Steward API key"),
    ({"x-api-key": mint().secret}, "invalid x-api-key"),
])
def test_bad_keys(gateway: Gateway, headers: dict[str, str], text: str) -> None:
    assert_error(post(gateway, "/v1/messages", json.dumps(GOOD).encode(), headers, key=None),
                 401, "authentication_error", text)


def test_checksum_typo_refused(gateway: Gateway) -> None:
    secret = gateway.keys["eng"]
    typo = secret[:20] + ("A" if secret[20] != "A" else "B") + secret[21:]
    assert_error(post(gateway, "/v1/messages", json.dumps(GOOD).encode(), {"x-api-key": typo}, key=None),
                 401, "authentication_error", "checksum")


def test_bearer_auth_accepted(gateway: Gateway) -> None:
    with anthropic.Anthropic(base_url=gateway.url, auth_token=gateway.keys["eng"], max_retries=0) as client:
        message = client.messages.create(**GOOD)  # type: ignore[arg-type]
    assert message.type == "message"


def test_unknown_path_is_anthropic_shaped(gateway: Gateway) -> None:
    assert_error(post(gateway, "/v1/nothing-here", b"{}"), 404, "not_found_error", "Not found")


def test_sdk_maps_errors(gateway: Gateway) -> None:
    with anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0) as client, \
            pytest.raises(anthropic.AuthenticationError):
        client.messages.create(**GOOD)  # type: ignore[arg-type]
