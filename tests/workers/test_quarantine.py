"""No size cliff and no poison line: huge lines ship, bad lines are quarantined (kept, counted, logged once) and
re-shipped after a fix, one slot's failure never stops another, and a database outage is retried, not quarantined."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from steward.storage.engine import Database
from steward.storage.health import ping
from steward.storage.repositories.records import RecordsRepository
from steward.workers.journal import Journal, segment_paths
from steward.workers.quarantine import Quarantine
from steward.workers.shipper import Shipper
from tests.support import pg_execute, run_steward

SECRET = "PROMPT-METADATA-THAT-MUST-NOT-BE-LOGGED"


def usage(i: int, **over: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    row = {"id": f"req_q{i}", "request_id": f"req_q{i}", "created_at": now, "org_id": "org", "workspace_id": "ws",
           "api_key_id": "key", "user_id": None, "tags": None, "endpoint": "messages", "model": "claude-haiku-4-5",
           "batch_id": None, "input_tokens": 1, "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0,
           "cache_read_tokens": 0, "output_tokens": 1, "thinking_tokens": 0, "web_search_requests": 0,
           "web_fetch_requests": 0, "code_execution_requests": 0, "service_tier": None, "inference_geo": None,
           "stop_reason": "end_turn", "tools_used": None, "status": 200, "complete": True, "latency_ms": 1,
           "ttft_ms": None, "cost_picousd": 0, "pricing_version": None, "claude_code_session_id": None,
           "unpriced": False}
    row.update(over)
    return row


def audit(i: int, **data: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"id": f"activity_q{i}", "created_at": now, "org_id": "org", "event": "api_call", "request_id": f"req_q{i}",
            "workspace_id": None, "api_key_id": None, "actor": None, "model": None, "input_tokens": None,
            "output_tokens": None, "tools_used": None, "stop_reason": None, "latency_ms": 1, "status": 200,
            "decision": "allowed", "reason": None, "data": data or None}


def record(i: int, **over: Any) -> dict[str, Any]:
    return {"usage": usage(i, **over), "audit": audit(i)}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _ship(url: str, directory: Path, rounds: int = 1, batch: int = 50) -> tuple[tuple[int, int], Shipper]:
    db = Database(url)
    try:
        repo = RecordsRepository(db.sessions, db.dialect)
        shipper = Shipper(directory, repo, interval=0.05, batch_size=batch, ping=lambda: ping(db.engine, 2.0))
        for _ in range(rounds):
            await shipper.round()
        shipper.release()
        return await repo.counts(), shipper
    finally:
        await db.close()


def ship(url: str, directory: Path, rounds: int = 1, batch: int = 50) -> tuple[tuple[int, int], Shipper]:
    return run(_ship(url, directory, rounds, batch))


def test_a_line_over_4_mib_ships_with_the_lines_after_it(database_url: str, tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(3):
        journal.append(record(i))
    journal.append({"audit": audit(100, blob="x" * (5 * 1024 * 1024))})  # one 5 MiB line, like sealed content
    for i in range(3, 6):
        journal.append(record(i))
    (counts, _) = ship(database_url, tmp_path)
    assert counts == (6, 7)
    journal.close()


def test_unparsable_line_is_quarantined_counted_logged_once_and_the_rest_ships(
        database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal(tmp_path)
    for i in range(3):
        journal.append(record(i))
    with journal.current.open("ab") as fh:  # a corrupt line in the middle of the segment
        fh.write(b'{"usage": {"id": "' + SECRET.encode() + b'", \xff\n')
    for i in range(3, 6):
        journal.append(record(i))
    with caplog.at_level(logging.ERROR, logger="steward.shipper"):
        (counts, shipper) = ship(database_url, tmp_path, rounds=3)
    assert counts == (6, 6)
    [entry] = Quarantine(tmp_path).entries()
    assert entry.kind == "parse" and entry.slot == journal.slot.name and SECRET.encode() in entry.line
    assert shipper.status.errors == {"parse": 1}
    assert Quarantine(tmp_path).counts() == {journal.slot.name: 1}
    logged = [r for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(logged) == 1 and str(entry.offset) in logged[0].getMessage()
    assert SECRET not in caplog.text
    journal.close()


def test_torn_tail_of_a_finished_writer_is_quarantined_and_its_segment_removed(database_url: str,
                                                                              tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(3):
        journal.append(record(i))
    with journal.current.open("ab") as fh:
        fh.write(b'{"audit": {"id": "activity_torn"')
    journal.close()  # the writer is gone: the tail will never be completed
    (counts, _) = ship(database_url, tmp_path)
    assert counts == (3, 3)
    [entry] = Quarantine(tmp_path).entries()
    assert entry.kind == "torn" and entry.line == b'{"audit": {"id": "activity_torn"'
    assert segment_paths(journal.slot) == []


async def _sql(url: str, *statements: str) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await db.close()


def _refuse_model(url: str) -> None:
    if url.startswith("sqlite"):
        run(_sql(url, "CREATE TRIGGER refuse_model BEFORE INSERT ON usage_records WHEN NEW.model = 'claude-refused' "
                      "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
    else:
        run(_sql(url, "CREATE FUNCTION refuse_model() RETURNS trigger AS $$ BEGIN IF NEW.model = 'claude-refused' "
                      "THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END IF; "
                      "RETURN NEW; END $$ LANGUAGE plpgsql",
                 "CREATE TRIGGER refuse_model BEFORE INSERT ON usage_records FOR EACH ROW "
                 "EXECUTE FUNCTION refuse_model()"))


def steward(directory: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEWARD_JOURNAL_DIR": str(directory), "STEWARD_DATABASE_URL": url, "COLUMNS": "200"}
    return run_steward("journal", "quarantine", *args, env=env)


def test_refused_row_is_quarantined_other_slots_ship_and_reship_works_after_the_fix(database_url: str,
                                                                                  tmp_path: Path) -> None:
    _refuse_model(database_url)
    first, second = Journal(tmp_path), Journal(tmp_path)
    for i in range(10):
        first.append(record(i, model="claude-refused" if i == 4 else "claude-haiku-4-5"))
        second.append(record(100 + i))
    with first.current.open("ab") as fh:
        fh.write(b"not json at all\n")
    counts = ship(database_url, tmp_path, batch=8)[0]
    assert counts == (19, 19)  # the refused line's audit event shares its transaction: kept whole, in quarantine
    entries = {e.kind: e for e in Quarantine(tmp_path).entries()}
    assert set(entries) == {"data", "parse"} and entries["data"].slot == first.slot.name
    assert "refused by the test" in entries["data"].error
    listed = [json.loads(line) for line in steward(tmp_path, database_url, "list", "--json").stdout.splitlines()]
    assert {e["id"] for e in listed} == {entries["data"].id, entries["parse"].id}

    still = steward(tmp_path, database_url, "reship", "--id", entries["data"].id)  # the cause is still there
    assert still.returncode == 1 and "still failing" in still.stdout
    if database_url.startswith("sqlite"):
        run(_sql(database_url, "DROP TRIGGER refuse_model"))
    else:
        run(_sql(database_url, "DROP TRIGGER refuse_model ON usage_records"))
    done = steward(tmp_path, database_url, "reship")
    assert "Re-shipped 1 line(s); 1 still failing." in done.stdout and done.returncode == 1  # the parse error stays
    assert [e.kind for e in Quarantine(tmp_path).entries()] == ["parse"]
    assert ship(database_url, tmp_path)[0] == (20, 20)
    first.close()
    second.close()


def test_postgres_refusals_nul_and_over_long_values_are_quarantined(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite stores these values; PostgreSQL refuses them")
    journal = Journal(tmp_path)
    bad = [{"model": "claude\x00haiku"}, {"model": "m" * 150}, {"user_id": "user\x00"},
           {"claude_code_session_id": "s" * 200}]
    for i in range(12):
        journal.append(record(i, **bad[i // 3]) if i % 3 == 1 else record(i))
    (counts, shipper) = ship(database_url, tmp_path, batch=100)
    assert counts == (8, 8)
    entries = Quarantine(tmp_path).entries()
    assert len(entries) == 4 and {e.kind for e in entries} == {"data"}
    assert shipper.status.errors == {"data": 4}
    journal.append(record(50))  # and shipping goes on
    assert ship(database_url, tmp_path)[0] == (9, 9)
    journal.close()


def test_a_broken_slot_does_not_stop_the_others(database_url: str, tmp_path: Path) -> None:
    broken, healthy = Journal(tmp_path), Journal(tmp_path)
    broken.close()
    broken.current.unlink()
    broken.current.mkdir()  # an unreadable segment: reading it raises in that slot only
    for i in range(5):
        healthy.append(record(i))
    (counts, shipper) = ship(database_url, tmp_path, rounds=2)
    assert counts == (5, 5)
    assert shipper.status.errors.get("internal", 0) >= 1
    healthy.close()


def test_database_outage_is_retried_not_quarantined(database_url: str, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal(tmp_path)
    for i in range(4):
        journal.append(record(i))
    assert ship(database_url, tmp_path)[0] == (4, 4)
    for i in range(4, 8):
        journal.append(record(i))
    if database_url.startswith("sqlite"):
        outage_url = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'steward.db'}"  # cannot be opened
    else:  # rename the test's own database away: connections fail with "database does not exist"
        name = database_url.rsplit("/", 1)[1]
        run(pg_execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        run(pg_execute(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"'))
        outage_url = database_url

    async def outage() -> list[float]:
        db = Database(outage_url)
        try:
            shipper = Shipper(tmp_path, RecordsRepository(db.sessions, db.dialect), interval=0.05, batch_size=50,
                              ping=lambda: ping(db.engine, 2.0))
            waits = [await shipper.round() for _ in range(3)]
            assert shipper.status.database_error and shipper.status.errors == {"database": 3}
            shipper.release()
            return waits
        finally:
            await db.close()

    with caplog.at_level(logging.ERROR, logger="steward.shipper"):
        waits = run(outage())
    assert waits == sorted(waits) and waits[-1] > waits[0] >= 0.05  # backoff
    assert len([r for r in caplog.records if "database unavailable" in r.getMessage()]) == 1
    assert Quarantine(tmp_path).entries() == []
    if not database_url.startswith("sqlite"):
        run(pg_execute(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"'))
    assert ship(database_url, tmp_path)[0] == (8, 8)
    journal.close()
