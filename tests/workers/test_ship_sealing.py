"""The shipper's own transaction: its batch's audit events sealed from memory, rollups from the meter's cost split,
SQLite rows written through the driver exactly as the Core path writes them, replays counted and sealed once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from steward.compliance.chain import sealing_for
from steward.storage.engine import Database
from steward.storage.models import Organization
from steward.storage.repositories.records import RecordsRepository
from steward.workers.journal import Journal
from steward.workers.shipper import Shipper, parse_line
from tests.audit.helpers import chains, event, insert

ORG = "org-audit-test"


def line(n: int, *, cost_split: list[int] | None = None) -> dict[str, Any]:
    """One request's journal record, shaped as stages/record.py writes it."""
    at = (datetime.now(UTC) - timedelta(seconds=30) + timedelta(milliseconds=n)).isoformat()
    rid = f"req_{n:04d}"
    usage: dict[str, Any] = {
        "id": rid, "request_id": rid, "created_at": at, "org_id": ORG, "workspace_id": "wrkspc_1",
        "api_key_id": "apikey_1", "user_id": "ana", "tags": {"team": "search"} if n % 2 else None,
        "endpoint": "messages", "model": "claude-sonnet-4-6", "batch_id": None, "input_tokens": 152,
        "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "cache_read_tokens": 0, "output_tokens": 48,
        "thinking_tokens": 0, "web_search_requests": 0, "web_fetch_requests": 0, "code_execution_requests": 0,
        "service_tier": "standard", "inference_geo": "global", "stop_reason": "end_turn",
        "tools_used": ["Read"] if n % 3 == 0 else None, "status": 200, "complete": True, "latency_ms": 3,
        "ttft_ms": None, "cost_picousd": 1_176_000_000, "pricing_version": "2026-11-01",
        "claude_code_session_id": None, "unpriced": False, "charged_picousd": None}
    if cost_split is not None:
        usage["cost_split"] = cost_split
    audit = {"id": f"activity_{n:04d}", "created_at": at, "event": "api_call", "org_id": ORG, "request_id": rid,
             "workspace_id": "wrkspc_1", "api_key_id": "apikey_1", "actor": "apikey_1", "model": "claude-sonnet-4-6",
             "input_tokens": 152, "output_tokens": 48, "tools_used": usage["tools_used"], "stop_reason": "end_turn",
             "latency_ms": 3, "status": 200, "decision": "allowed", "reason": None,
             "data": {"endpoint": "messages", "stream": False, "cost_usd": "0.001176", "user_id": "ana",
                      "tags": usage["tags"], "policy": None,
                      # numbers JSONB stores differently than written (1e16 reads back as an integer, -0.0 as 0.0)
                      "ratio": {3: 0.5, 4: 1e16, 5: -0.0}.get(n)}}
    return {"usage": usage, "audit": audit}


async def _ship(db: Database, directory: Path) -> None:
    shipper = Shipper(directory, RecordsRepository(db.sessions, db.dialect), interval=0.1, batch_size=7,
                      sealing=sealing_for)
    assert await shipper.ship_once()
    shipper.release()


async def _scalar(db: Database, sql: str) -> Any:
    async with db.sessions() as session:
        return await session.scalar(text(sql))


def test_the_shipper_seals_its_batches_in_arrival_order_and_the_chain_verifies(database_url: str,
                                                                                tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal")
    for n in range(20):
        journal.append(line(n))
    journal.close()

    async def main() -> tuple[Any, ...]:
        db = Database(database_url)
        try:
            # An event another writer queued before the shipper's batches (an admin action): sealed first.
            earlier = event(0, event="admin.key_created", request_id=None)
            await insert(db, [earlier])
            await _ship(db, tmp_path / "journal")
            first = await _scalar(db, f"SELECT event_id FROM audit_chain WHERE org_id = '{ORG}' AND seq = 1")
            last = await _scalar(db, f"SELECT event_id FROM audit_chain WHERE org_id = '{ORG}' AND seq = 21")
            pending = await _scalar(db, "SELECT count(*) FROM audit_pending")
            verification = await chains(db).verify(ORG)  # the reference hash (stdlib json) on every link
            return earlier["id"], first, last, pending, verification
        finally:
            await db.close()

    earlier_id, first, last, pending, verification = asyncio.run(main())
    assert (first, last, pending) == (earlier_id, "activity_0019", 0)
    assert (verification.problems, verification.head_seq, verification.unsealed) == ([], 21, 0)


def test_a_replayed_journal_is_stored_counted_and_sealed_once(database_url: str, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal")
    for n in range(15):
        journal.append(line(n, cost_split=[400_000_000, 776_000_000, 0, 0, 0, 0]))  # not what a re-pricing gives
    journal.close()

    async def counts(db: Database) -> tuple[int, ...]:
        return (await _scalar(db, "SELECT count(*) FROM usage_records"),
                await _scalar(db, "SELECT count(*) FROM audit_chain"),
                await _scalar(db, "SELECT sum(requests) FROM usage_rollups WHERE grain = 'ws' AND width = '1d'"),
                await _scalar(db, "SELECT sum(cost_input_picousd) FROM usage_rollups "
                                  "WHERE grain = 'ws' AND width = '1d'"))

    async def main() -> tuple[tuple[int, ...], tuple[int, ...], Any]:
        db = Database(database_url)
        try:
            async with db.sessions.begin() as session:
                session.add(Organization(id=ORG, name=ORG, created_at=datetime.now(UTC)))
            await _ship(db, tmp_path / "journal")
            once = await counts(db)
            for shipped in (tmp_path / "journal").rglob("*.shipped"):
                shipped.unlink()  # progress lost after the commit (a crash): every line is read again
            await _ship(db, tmp_path / "journal")
            return once, await counts(db), await chains(db).verify(ORG)
        finally:
            await db.close()

    once, twice, verification = asyncio.run(main())
    assert once == (15, 15, 15, 15 * 400_000_000)  # the meter's split, carried
    assert twice == once
    assert verification.problems == []


def test_a_record_journaled_twice_in_one_batch_counts_once(database_url: str, tmp_path: Path) -> None:
    """Concurrent downloads of a batch's results may meter and journal the same results twice, into one batch."""
    journal = Journal(tmp_path / "journal")
    for n in (*range(5), *range(5), 5):
        journal.append(line(n))
    journal.close()

    async def main() -> tuple[int, int, int]:
        db = Database(database_url)
        try:
            async with db.sessions.begin() as session:
                session.add(Organization(id=ORG, name=ORG, created_at=datetime.now(UTC)))
            await _ship(db, tmp_path / "journal")
            return (await _scalar(db, "SELECT count(*) FROM usage_records"),
                    await _scalar(db, "SELECT sum(requests) FROM usage_rollups WHERE grain = 'ws' AND width = '1d'"),
                    await _scalar(db, "SELECT count(*) FROM audit_chain"))
        finally:
            await db.close()

    assert asyncio.run(main()) == (6, 6, 6)


def test_rows_written_through_the_sqlite_driver_are_stored_as_the_core_path_stores_them(
        sqlite_template: Path, tmp_path: Path) -> None:
    rows = [parse_line(0, orjson.dumps(line(n, cost_split=[1, 2, 3, 4, 5, 6]))) for n in range(6)]
    legacy = parse_line(0, orjson.dumps(line(99)))
    for name in ("unpriced", "charged_picousd"):  # a line journaled before these columns existed
        del legacy.usage[0][name]
    rows.append(legacy)

    def stored(driver_rows: bool) -> dict[str, list[tuple[Any, ...]]]:
        path = tmp_path / f"{driver_rows}.db"
        path.write_bytes(sqlite_template.read_bytes())

        async def main() -> None:
            db = Database(f"sqlite+aiosqlite:///{path}")
            try:
                repo = RecordsRepository(db.sessions, db.dialect, driver_rows=driver_rows)
                await repo.insert([dict(u) for unit in rows for u in unit.usage],
                                  [dict(a) for unit in rows for a in unit.audit])
            finally:
                await db.close()
        asyncio.run(main())
        with sqlite3.connect(path) as connection:
            return {table: connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                    for table in ("usage_records", "audit_events")}

    fast, core = stored(True), stored(False)
    assert len(fast["usage_records"]) == len(fast["audit_events"]) == 7
    assert fast == core


def test_a_round_ships_what_the_segment_holds_and_leaves_what_arrives_meanwhile(database_url: str,
                                                                                tmp_path: Path) -> None:
    """Under load the shipper must not chase the writer (one or two lines per transaction, each paying the
    transaction's fixed cost): a round ships what the segment held when it began, the next round the rest."""
    journal = Journal(tmp_path / "journal")
    for n in range(50):
        journal.append(line(n))

    async def main() -> tuple[int, int, bool]:
        db = Database(database_url)
        try:
            async with db.sessions.begin() as session:
                session.add(Organization(id=ORG, name=ORG, created_at=datetime.now(UTC)))
            shipper = Shipper(tmp_path / "journal", RecordsRepository(db.sessions, db.dialect), interval=0.1,
                              batch_size=10, sealing=sealing_for)
            writing = True

            async def writer() -> None:  # a busy gateway: about 2,000 lines a second, for up to 10 s
                n, stop = 50, time.monotonic() + 10
                while writing and time.monotonic() < stop:
                    journal.append(line(n))
                    n += 1
                    await asyncio.sleep(0.0005)

            task = asyncio.create_task(writer())
            try:  # chasing the writer, the round would last as long as the writer writes
                assert await asyncio.wait_for(shipper.ship_once(), timeout=5)
                first = await _scalar(db, "SELECT count(*) FROM usage_records")
                still_writing = not task.done()
            finally:
                writing = False
                await task
            await shipper.ship_once()  # the next round takes the rest
            shipper.release()
            return first, await _scalar(db, "SELECT count(*) FROM usage_records"), still_writing
        finally:
            await db.close()

    first, total, still_writing = asyncio.run(main())
    journal.close()
    assert still_writing  # the round ended while the writer was still appending
    assert 50 <= first < total  # at least what was there at the start; the rest in the next round
