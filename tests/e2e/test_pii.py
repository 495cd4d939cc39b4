"""PII rules through a real gateway with the official SDK: redacted text reaches the upstream redacted, a refused
request gets a 400 naming the rule and its text is stored nowhere (journal, usage, audit, logs, database file),
shadow rules only record."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from steward.asgi import Message, Receive, Scope, Send
from steward.serving import BackgroundServer
from steward.simulator.app import SimulatorApp
from steward.simulator.config import SimulatorConfig
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway

EMAIL = "maria.gonzalez@northwind.example"
CARD = "4111 1111 1111 1111"
API_KEY = "sk-ant-api03-Xy7Qm2Lp9Rt4Vw8Zb1Nc6Df3Gh5Jk0MnPqRsTuVwXyZ012345"
MODEL = "claude-haiku-4-5"
CLIENT_LOGGERS = {"anthropic", "httpx", "httpx2", "httpcore", "httpcore2"}


@dataclass
class RecordingUpstream:
    """The simulator behind an ASGI tap that keeps every request body it receives (path, body)."""

    app: SimulatorApp
    seen: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def tap() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.seen.append((scope["path"], b"".join(chunks)))
            return message

        await self.app(scope, tap, send)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [orjson.loads(body) for seen_path, body in self.seen if seen_path == path]


@pytest.fixture
def upstream() -> Iterator[tuple[RecordingUpstream, str]]:
    recording = RecordingUpstream(SimulatorApp(SimulatorConfig(api_key=UPSTREAM_KEY)))
    with BackgroundServer(recording) as server:
        yield recording, server.url


@pytest.fixture
def pii_gateway(database_url: str, upstream: tuple[RecordingUpstream, str], tmp_path: Path) -> Iterator[Gateway]:
    with start_gateway(database_url, upstream[1], tmp_path / "home", UPSTREAM_KEY) as gw:
        yield gw


def put_policy(gateway: Gateway, workspace: str, document: dict[str, Any]) -> int:
    response = httpx.put(f"{gateway.url}/v1/admin/workspaces/{gateway.workspace_ids[workspace]}/policy",
                         json=document, headers={"x-api-key": gateway.admin_key})
    assert response.status_code == 200, response.text
    gateway.sync_config()
    version: int = response.json()["version"]
    return version


def test_redacted_text_reaches_the_upstream_redacted(pii_gateway: Gateway,
                                                      upstream: tuple[RecordingUpstream, str]) -> None:
    recording = upstream[0]
    put_policy(pii_gateway, "eng", {"pii": {"detectors": {"email": "redact", "secret": "redact"}}})
    text = f"Write to {EMAIL} and rotate {API_KEY} today."
    with pii_gateway.client() as client:
        reply = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=32, system=f"Escalations go to {EMAIL}.", metadata={"user_id": "u-1"},
            stop_sequences=["STOP"], messages=[{"role": "user", "content": [{"type": "text", "text": text}]}])
        with client.messages.stream(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": text}]) as s:
            assert s.get_final_message().stop_reason in ("end_turn", "max_tokens")
        client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": text}])
    assert reply.status_code == 200
    redacted = "Write to [REDACTED:email] and rotate [REDACTED:secret] today."
    sent, streamed = recording.bodies("/v1/messages")[-2:]
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": redacted}]}]
    assert sent["system"] == "Escalations go to [REDACTED:email]."
    assert (sent["model"], sent["max_tokens"], sent["metadata"], sent["stop_sequences"]) == (
        MODEL, 32, {"user_id": "u-1"}, ["STOP"])
    assert streamed["stream"] is True and streamed["messages"][0]["content"] == redacted
    assert recording.bodies("/v1/messages/count_tokens")[-1]["messages"][0]["content"] == redacted
    for _, body in recording.seen:
        assert EMAIL.encode() not in body and API_KEY.encode() not in body
    [event] = pii_gateway.wait_audit([reply.headers["request-id"]])
    assert event.decision == "allowed" and event.data is not None
    assert event.data["policy"]["pii"] == {"email": 2, "secret": 1}


def test_refused_request_is_stored_nowhere(pii_gateway: Gateway, upstream: tuple[RecordingUpstream, str],
                                           database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    recording = upstream[0]
    version = put_policy(pii_gateway, "eng", {"pii": {"default": "redact", "detectors": {"payment_card": "refuse"}}})
    before = len(recording.seen)
    with pii_gateway.client() as client, pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model=MODEL, max_tokens=32,
                               messages=[{"role": "user", "content": f"Charge my card {CARD}, thanks"}])
    error = raised.value
    assert error.status_code == 400
    envelope: Any = error.body
    assert envelope["error"]["type"] == "invalid_request_error"
    message = envelope["error"]["message"]
    assert message.startswith("pii.payment_card: the request contains 1 payment card number, which the "
                              f"data-handling policy of workspace 'eng' (policy v{version}) does not allow")
    assert "Remove it" in message
    assert len(recording.seen) == before  # never forwarded
    request_id = error.response.headers["request-id"]
    [event] = pii_gateway.wait_audit([request_id])
    assert event.decision == "refused" and event.status == 400 and event.data is not None
    assert event.data["refusal"] == "policy" and pii_gateway.usage([request_id]) == []  # never forwarded
    assert event.data["policy"]["rule"] == "pii.payment_card" and event.data["policy"]["version"] == version
    assert event.data["policy"]["pii"] == {"payment_card": 1}
    digits = CARD.replace(" ", "")
    # Every log line but the test client's own (the SDK logs the request it sends at debug level).
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if r.name.partition(".")[0] not in CLIENT_LOGGERS)
    stored = [repr(vars(event)), logs]
    journal = pii_gateway.settings.resolved_journal_dir()
    stored += [path.read_bytes().decode("utf-8", "replace") for path in journal.rglob("*") if path.is_file()]
    if database_url.startswith("sqlite"):
        database = Path(database_url.split("///", 1)[1])
        stored += [path.read_bytes().decode("latin-1") for path in database.parent.glob(database.name + "*")]
    assert len(stored) > 3
    for blob in stored:
        assert CARD not in blob and digits not in blob and "Charge my card" not in blob


def test_shadow_rule_forwards_unchanged_and_records_would_refuse(pii_gateway: Gateway,
                                                                 upstream: tuple[RecordingUpstream, str]) -> None:
    recording = upstream[0]
    put_policy(pii_gateway, "eng", {"pii": {"detectors": {"payment_card": "refuse"}}, "shadow": ["pii.payment_card"]})
    with pii_gateway.client() as client:
        reply = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": f"card {CARD}"}])
    assert reply.status_code == 200
    assert recording.bodies("/v1/messages")[-1]["messages"][0]["content"] == f"card {CARD}"
    [event] = pii_gateway.wait_audit([reply.headers["request-id"]])
    assert event.decision == "allowed" and event.data is not None
    assert event.data["policy"]["shadow"] == ["pii.payment_card"]
    assert event.data["policy"]["pii"] == {"payment_card": 1}
