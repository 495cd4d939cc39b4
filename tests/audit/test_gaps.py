"""Truncation that the chain alone cannot see (SQLite and PostgreSQL): a usage record whose audit event was
deleted together with the chain's tail and its checkpoints, a newest checkpoint that is stale while newer
positions are sealed, both on a table of many records; and a live gateway under traffic that verifies clean."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from steward.compliance import verify_offline
from steward.compliance.chain import Chains, SigningKey, Verification, iso
from steward.storage.engine import Database
from steward.storage.repositories.audit import AuditRepository
from steward.storage.repositories.records import RecordsRepository
from tests.audit.helpers import ORG, event, insert, sql, unguard
from tests.support import Gateway


def _usage(audit: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The usage record the journal writes beside an ``api_call`` event (same request id)."""
    row: dict[str, Any] = {
        "id": audit["request_id"], "request_id": audit["request_id"], "created_at": audit["created_at"],
        "org_id": audit["org_id"], "workspace_id": "wrkspc_1", "api_key_id": "apikey_1", "user_id": None,
        "tags": None, "endpoint": "messages", "model": "claude-sonnet-4-6", "batch_id": None,
        "input_tokens": 10, "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "cache_read_tokens": 0,
        "output_tokens": 5, "thinking_tokens": 0, "web_search_requests": 0, "web_fetch_requests": 0,
        "code_execution_requests": 0, "service_tier": "standard", "inference_geo": None,
        "stop_reason": "end_turn", "tools_used": None, "status": 200, "complete": True, "latency_ms": 12,
        "ttft_ms": None, "cost_picousd": 1, "pricing_version": "v1", "claude_code_session_id": None,
        "unpriced": False}
    row.update(extra)
    return row


async def _ledger(db: Database, count: int, base: datetime) -> list[dict[str, Any]]:
    """``count`` requests (usage record + audit event each) and one batch's result rows, which share the batch's
    id and have no event of their own."""
    events = [event(n, base=base, request_id=f"req_{n:06d}") for n in range(count)]
    records = RecordsRepository(db.sessions, db.dialect)
    for start in range(0, count, 2000):
        chunk = events[start:start + 2000]
        await insert(db, chunk[:1])  # creates the organization
        await records.insert([_usage(e) for e in chunk], chunk[1:])
    batch = [_usage(events[0], id=f"msgbatch_1:item-{n}", request_id="msgbatch_1", batch_id="msgbatch_1",
                    endpoint="batch_result") for n in range(3)]
    await records.insert(batch, [])
    return events


def _chains(db: Database, interval: float = 60.0) -> Chains:
    return Chains(AuditRepository(db.sessions, db.dialect), SigningKey(Ed25519PrivateKey.generate()),
                  checkpoint_interval=interval)


async def _truncate_tail(db: Database, from_seq: int) -> list[str]:
    """The attack the chain cannot see: remove the newest positions, their events and every checkpoint after."""
    await unguard(db)
    async with db.sessions() as session:
        from sqlalchemy import text
        rows = (await session.execute(text(
            "SELECT e.request_id FROM audit_chain c JOIN audit_events e ON e.id = c.event_id "
            "WHERE c.org_id = :o AND c.seq >= :s ORDER BY e.created_at"), {"o": ORG, "s": from_seq})).scalars()
        removed = [str(r) for r in rows]
    await sql(db, "DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_chain WHERE org_id = :o "
                  "AND seq >= :s)", o=ORG, s=from_seq)
    await sql(db, "DELETE FROM audit_chain WHERE org_id = :o AND seq >= :s", o=ORG, s=from_seq)
    await sql(db, "DELETE FROM audit_checkpoints WHERE org_id = :o AND seq >= :s", o=ORG, s=from_seq)
    return removed


def test_a_cut_tail_with_its_checkpoints_is_found_by_the_usage_records(database_url: str) -> None:
    count = 6000  # a larger table: the anti-join must stay an index walk

    async def main() -> tuple[Verification, Verification, list[str], float, Verification]:
        db = Database(database_url)
        try:
            await _ledger(db, count, datetime.now(UTC) - timedelta(hours=2))
            chain = _chains(db)
            assert await chain.seal_once() == count
            assert await chain.checkpoint(ORG, force=True) is not None
            before = await chain.verify(ORG)
            removed = await _truncate_tail(db, count - 29)  # the newest 30 requests' events
            started = time.perf_counter()
            after = await chain.verify(ORG)
            took = time.perf_counter() - started
            # The window bounds the work: records older than `since` are not looked at.
            recent = await chain.verify(ORG, since=datetime.now(UTC) + timedelta(minutes=1))
            return before, after, removed, took, recent
        finally:
            await db.close()

    before, after, removed, took, recent = asyncio.run(main())
    assert before.problems == []
    assert [p.kind for p in after.problems] == ["missing_audit"], after.problems
    message = after.problems[0].message
    assert message.startswith("30 usage record(s) have no api_call audit event")
    assert ", ".join(removed[:20]) in message and "and 10 more" in message
    assert "msgbatch_1" not in message  # batch results are not requests of their own
    assert recent.problems == []
    assert took < 10, took


def test_a_stale_newest_checkpoint_with_newer_sealed_positions_fails(database_url: str) -> None:
    async def main() -> tuple[Verification, Verification, Verification]:
        db = Database(database_url)
        try:
            now = datetime.now(UTC)
            chain = _chains(db, interval=60)
            await insert(db, [event(n) for n in range(1, 7)])
            await chain.seal_once()
            # A checkpoint signed an hour ago at position 6 (a genuine one: the key's own signature).
            old = now - timedelta(hours=1)
            head = await chain.repo.head(ORG)
            assert head is not None
            await chain.repo.add_checkpoint({
                "org_id": ORG, "seq": 6, "link": head.link, "created_at": old, "key_id": chain.key.key_id,
                "signature": chain.key.sign(verify_offline.checkpoint_message(ORG, 6, head.link, iso(old)))})
            await insert(db, [event(n) for n in range(7, 13)])
            await chain.seal_once()
            just_sealed = await chain.verify(ORG)  # the sealer signs in its next round: not a failure yet
            await unguard(db)  # positions 7..12 sealed ten minutes ago and never signed since
            await sql(db, "UPDATE audit_chain SET sealed_at = :t WHERE org_id = :o AND seq > 6",
                      t=now - timedelta(minutes=10), o=ORG)
            stale = await chain.verify(ORG)
            await chain.checkpoint(ORG)  # the sealer's next round signs the head: fresh again
            return just_sealed, stale, await chain.verify(ORG)
        finally:
            await db.close()

    just_sealed, stale, signed = asyncio.run(main())
    assert just_sealed.problems == []
    assert [(p.kind, p.seq) for p in stale.problems] == [("stale_checkpoint", 6)], stale.problems
    assert "position 12" in stale.problems[0].message and "120 s" in stale.problems[0].message
    assert signed.problems == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_live_gateway_under_traffic_verifies_clean(audited: Gateway) -> None:
    gateway, stop, sent = audited, threading.Event(), []

    def traffic() -> None:
        with gateway.client("eng") as client:
            while not stop.is_set():
                raw = client.messages.with_raw_response.create(
                    model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
                sent.append(raw.headers["request-id"])

    workers = [threading.Thread(target=traffic) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = []
    try:
        with httpx.Client(base_url=gateway.url, headers={"x-api-key": gateway.admin_key}, timeout=30) as http:
            # At least 5 s of traffic and three verifications, however slow each is on a busy machine.
            deadline, give_up = time.monotonic() + 5, time.monotonic() + 120
            while (time.monotonic() < deadline or len(results) < 3) and time.monotonic() < give_up:
                results.append(http.get("/v1/admin/audit/verify").json())
                time.sleep(0.2)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert len(sent) > 20 and len(results) >= 3
    assert [r for r in results if not r["valid"]] == []
