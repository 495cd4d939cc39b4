"""Encrypted content capture (audit_level full) end to end with the official SDK: the stored bytes and the
journal never hold the plain text, the ContentReader gives it back, the audit event carries its sha256, a
workspace outside the group stores nothing, and the stream's message is assembled from its events."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest
from pydantic import SecretStr

from steward.compliance.content import ContentReader, KeyRing, assemble_stream
from steward.compliance.crypto import (
    CryptoError,
    MasterKey,
    generate_key_text,
    load_master_key,
    master_key_source,
    open_sealed,
    seal,
    unwrap,
    wrap,
)
from steward.controlplane.services import ControlPlane
from steward.storage.engine import Database
from steward.storage.repositories.governance import ContentRepository
from tests.compliance.conftest import full_audit, stored_rows, wait_stored
from tests.support import Gateway

MODEL = "claude-sonnet-4-6"
PROMPT = "Quarterly ledger note: the reconciliation codeword is PELICAN-7731-ORCHID."


def read_content(gateway: Gateway, org_id: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    async def read() -> dict[str, dict[str, Any]]:
        database = Database(gateway.settings.resolved_database_url())
        try:
            repo = ContentRepository(database.sessions)
            reader = ContentReader(repo, KeyRing(repo, master_key_source(gateway.settings)))
            return await reader.read(org_id, request_ids)
        finally:
            await database.close()
    return asyncio.run(read())


def journal_bytes(gateway: Gateway) -> bytes:
    root = gateway.settings.resolved_journal_dir()
    return b"".join(p.read_bytes() for p in Path(root).rglob("*") if p.is_file())


def test_full_audit_content_is_encrypted_at_rest_and_readable(gateway: Gateway) -> None:
    full_audit(gateway)
    client = gateway.client("eng")
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=64,
                                                   messages=[{"role": "user", "content": PROMPT}])
    message = raw.parse()
    json_id = raw.headers["request-id"]
    with client.messages.stream(model=MODEL, max_tokens=64,
                                messages=[{"role": "user", "content": PROMPT + " (streamed)"}]) as stream:
        streamed_text = stream.get_final_text()
        stream_id = stream.response.headers["request-id"]
    # Outside the group: nothing is stored.
    other = gateway.client("marketing").messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": PROMPT}])
    other_id = other.headers["request-id"]

    audit = {a.request_id: a for a in gateway.wait_audit([json_id, stream_id, other_id])}
    rows = wait_stored(gateway, 2)
    assert {r.request_id for r in rows} == {json_id, stream_id}
    for row in rows:
        assert PROMPT.encode() not in row.ciphertext and b"PELICAN" not in row.ciphertext
        assert len(row.nonce) == 12 and row.purge_after is not None
        assert (row.purge_after - row.created_at).days == 30
        assert audit[row.request_id].data["content_sha256"] == row.content_sha256
    assert "content_sha256" not in (audit[other_id].data or {})
    assert b"PELICAN" not in journal_bytes(gateway)  # the journal only ever held ciphertext

    org_id = rows[0].org_id
    content = read_content(gateway, org_id, [json_id, stream_id, other_id])
    assert set(content) == {json_id, stream_id}
    assert content[json_id]["request"]["messages"][0]["content"] == PROMPT
    assert content[json_id]["response"]["content"][0]["text"] == message.content[0].text
    assert content[stream_id]["request"]["messages"][0]["content"].endswith("(streamed)")
    assert content[stream_id]["response"]["content"][0]["text"] == streamed_text
    assert content[stream_id]["response"]["stop_reason"] == "end_turn" or \
        content[stream_id]["response"]["stop_reason"] == "max_tokens"
    plain = orjson.dumps(content[json_id])
    assert hashlib.sha256(plain).hexdigest() == audit[json_id].data["content_sha256"]


def test_refused_requests_store_no_content(gateway: Gateway) -> None:
    full_audit(gateway)
    client = gateway.client("eng")
    with pytest.raises(anthropic.BadRequestError):  # refused by Steward (a malformed tags header), never forwarded
        client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": PROMPT}],
                               extra_headers={"x-steward-tags": "not-a-pair"})
    ok = client.messages.with_raw_response.create(model=MODEL, max_tokens=8,
                                                  messages=[{"role": "user", "content": "hello"}])
    gateway.wait_audit([ok.headers["request-id"]])
    rows = wait_stored(gateway, 1)
    assert [r.request_id for r in rows] == [ok.headers["request-id"]]
    assert len(stored_rows(gateway)) == 1


def test_crypto_binds_keys_and_context() -> None:
    master = MasterKey(b"k" * 32)
    data_key = bytes(range(32))
    wrapped = wrap(master, data_key, "org_a")
    assert data_key not in wrapped and unwrap(master, wrapped, "org_a") == data_key
    with pytest.raises(CryptoError):
        unwrap(master, wrapped, "org_b")
    with pytest.raises(CryptoError):
        unwrap(MasterKey(b"x" * 32), wrapped, "org_a")
    nonce, sealed = seal(data_key, "org_a", "req_1", b"secret text")
    assert open_sealed(data_key, "org_a", "req_1", nonce, sealed) == b"secret text"
    with pytest.raises(CryptoError):  # moved to another request: refuses to open
        open_sealed(data_key, "org_a", "req_2", nonce, sealed)
    with pytest.raises(CryptoError):
        MasterKey(b"short")
    assert "k" * 8 not in repr(master)


def test_generated_master_key_file_is_private(tmp_path: Path) -> None:
    first = load_master_key(None, tmp_path)
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    assert load_master_key(None, tmp_path) == first
    configured = load_master_key("a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=", tmp_path)
    assert configured != first


def test_assemble_stream_with_tool_input() -> None:
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "role": "assistant", "content": [],
                                                                "model": MODEL, "usage": {"input_tokens": 5}}}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
        ("content_block_start", {"index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "calc",
                                                               "input": {}}}),
        ("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a": '}}),
        ("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
        ("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        ("message_stop", {}),
    ]
    raw = b"".join(b"event: " + n.encode() + b"\ndata: " + orjson.dumps(d) + b"\n\n" for n, d in events)
    message = assemble_stream([raw[:50], raw[50:]])
    assert message["content"][0] == {"type": "text", "text": "Hello"}
    assert message["content"][1]["input"] == {"a": 1}
    assert message["stop_reason"] == "tool_use" and message["usage"] == {"input_tokens": 5, "output_tokens": 9}


def test_a_gateway_that_cannot_open_the_data_key_refuses_instead_of_skipping(gateway: Gateway) -> None:
    other = gateway.settings.model_copy(update={"master_key": SecretStr(generate_key_text())})

    async def action() -> None:  # the group (and its data key) made under another master key
        plane = ControlPlane(other)
        try:
            me = await plane.system()
            group = await plane.admin.compliance_groups.create(me, "Elsewhere", restrictions={"audit_level": "full"})
            await plane.admin.compliance_groups.add_workspace(me, group["id"], gateway.workspace_ids["eng"])
        finally:
            await plane.close()
    asyncio.run(action())
    gateway.sync_config()
    with pytest.raises(anthropic.InternalServerError) as caught:
        gateway.client("eng").messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": PROMPT}])
    assert "data key" in caught.value.body["error"]["message"]
    assert stored_rows(gateway) == []


def test_stored_content_is_the_redacted_request(gateway: Gateway) -> None:
    """Capture runs after Privacy: what full audit keeps is what was forwarded, never the redacted text."""
    full_audit(gateway)

    async def action(plane: ControlPlane) -> Any:
        return await plane.admin.policies.put(await plane.system(), "workspace", gateway.workspace_ids["eng"],
                                              {"pii": {"detectors": {"email": "redact"}}})
    gateway.control(action)
    gateway.sync_config()
    raw = gateway.client("eng").messages.with_raw_response.create(
        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "Mail jane.doe@example.com the ledger."}])
    rid = raw.headers["request-id"]
    rows = wait_stored(gateway, 1)
    assert b"jane.doe" not in rows[0].ciphertext
    stored = read_content(gateway, rows[0].org_id, [rid])[rid]["request"]["messages"][0]["content"]
    assert "jane.doe@example.com" not in stored and "the ledger" in stored


def test_full_audit_covers_message_batches(gateway: Gateway) -> None:
    """A batch from a full-audit workspace: its items (as sent) are stored with the create call, and its results
    when the meter reads them, under ``<batch id>:results`` with a ``batch.results`` audit event carrying the hash;
    polling calls store nothing."""
    full_audit(gateway)
    client = gateway.client("eng")
    raw = client.messages.batches.with_raw_response.create(requests=[
        {"custom_id": f"doc-{i}", "params": {"model": MODEL, "max_tokens": 32,
                                             "messages": [{"role": "user", "content": f"{PROMPT} #{i}"}]}}
        for i in range(2)])
    batch = raw.parse()
    create_id = raw.headers["request-id"]
    deadline = time.monotonic() + 15
    while client.messages.batches.retrieve(batch.id).processing_status != "ended" and time.monotonic() < deadline:
        time.sleep(0.1)
    results = list(client.messages.batches.results(batch.id))
    assert len(results) == 2
    rows = wait_stored(gateway, 2)
    assert sorted(r.request_id for r in rows) == sorted([create_id, f"{batch.id}:results"])
    assert all(b"PELICAN" not in r.ciphertext for r in rows)
    org = gateway.control(lambda plane: plane.system())
    content = read_content(gateway, org.org_id, [create_id, f"{batch.id}:results"])
    sent = content[create_id]["request"]["requests"]
    assert [item["params"]["messages"][0]["content"] for item in sent] == [f"{PROMPT} #0", f"{PROMPT} #1"]
    assert content[create_id]["response"]["id"] == batch.id
    answers = content[f"{batch.id}:results"]["response"]
    assert sorted(a["custom_id"] for a in answers) == ["doc-0", "doc-1"]
    assert {a["result"]["message"]["id"] for a in answers} == {
        r.result.message.id for r in results if r.result.type == "succeeded"}
    events = {e.request_id: e for e in gateway.wait_audit([create_id, f"{batch.id}:results"])}
    hashes = {r.request_id: r.content_sha256 for r in rows}
    assert events[create_id].data["content_sha256"] == hashes[create_id]
    results_event = events[f"{batch.id}:results"]
    assert results_event.event == "batch.results"
    assert results_event.data["content_sha256"] == hashes[f"{batch.id}:results"]


def test_batch_results_metered_twice_are_stored_once(gateway: Gateway, tmp_path: Path) -> None:
    """The background meter and a client's download can both meter one batch: fixed ids make the second copy
    of its sealed results (and of their audit event) a no-op at ship time."""
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from steward.dataplane.snapshot import SnapshotStore
    from steward.dataplane.stages.capture import BatchResultsCapture
    from steward.storage.models import AuditEvent, StoredContent
    from steward.storage.repositories.batches import BatchRepository
    from steward.storage.repositories.identity import IdentityRepository
    from steward.storage.repositories.policies import PolicyRepository
    from steward.storage.repositories.records import RecordsRepository
    from steward.workers.journal import Journal
    from steward.workers.shipper import Shipper

    full_audit(gateway)
    client = gateway.client("eng")
    batch = client.messages.batches.create(requests=[
        {"custom_id": "only", "params": {"model": MODEL, "max_tokens": 16,
                                         "messages": [{"role": "user", "content": PROMPT}]}}])
    results = b'{"custom_id":"only","result":{"type":"succeeded","message":{"id":"msg_1"}}}\n'

    async def meter_twice() -> tuple[int, int]:
        database = Database(gateway.settings.resolved_database_url())
        try:
            content = ContentRepository(database.sessions)
            keys = KeyRing(content, master_key_source(gateway.settings))
            await keys.load()
            snapshots = SnapshotStore(IdentityRepository(database.sessions), 1.0, PolicyRepository(database.sessions))
            await snapshots.refresh()
            record = await BatchRepository(database.sessions).get(batch.id)
            assert record is not None
            journal = Journal(tmp_path / "journal")
            capture = BatchResultsCapture(keys, journal, snapshots)
            ended = datetime.now(UTC)
            await capture(record, results, ended)
            await capture(record, results, ended)
            journal.close()
            shipper = Shipper(tmp_path / "journal", RecordsRepository(database.sessions, database.dialect),
                              interval=0.1, batch_size=100)
            await shipper.ship_once()
            shipper.release()
            async with database.sessions() as session:
                stored = await session.scalar(select(func.count()).select_from(StoredContent).where(
                    StoredContent.request_id == f"{batch.id}:results"))
                events = await session.scalar(select(func.count()).select_from(AuditEvent).where(
                    AuditEvent.request_id == f"{batch.id}:results"))
            return int(stored or 0), int(events or 0)
        finally:
            await database.close()

    assert asyncio.run(meter_twice()) == (1, 1)
