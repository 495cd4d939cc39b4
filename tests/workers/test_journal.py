"""The journal and the shipper: durable appends, idempotent shipping, torn lines, slots and clean-up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from steward.storage.engine import Database
from steward.storage.repositories.records import RecordsRepository
from steward.workers import journal as journal_mod
from steward.workers.journal import Journal, segment_paths
from steward.workers.shipper import Shipper


def record(i: int) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"audit": {"id": f"activity_{i}", "created_at": now, "org_id": "org", "event": "api_call",
                      "request_id": f"req_{i}", "workspace_id": None, "api_key_id": None, "actor": None,
                      "model": None, "input_tokens": None, "output_tokens": None, "tools_used": None,
                      "stop_reason": None, "latency_ms": 1, "status": 401, "decision": "refused",
                      "reason": "authentication_error", "data": None}}


def ship(database_url: str, directory: Path) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        db = Database(database_url)
        try:
            repo = RecordsRepository(db.sessions, db.dialect)
            shipper = Shipper(directory, repo, interval=0.1, batch_size=7)
            assert await shipper.ship_once()
            shipper.release()
            return await repo.counts()
        finally:
            await db.close()
    return asyncio.run(main())


def test_ship_replay_and_torn_line(database_url: str, tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(20):
        journal.append(record(i))
    with journal.current.open("ab") as fh:  # a torn write (power loss mid-line) is not shipped
        fh.write(b'{"audit": {"id": "activity_torn"')
    assert ship(database_url, tmp_path) == (0, 20)
    (journal.current.with_suffix(".shipped")).unlink()  # lost progress: everything replays, once
    assert ship(database_url, tmp_path) == (0, 20)
    journal.close()


def test_two_writers_get_two_slots_and_drained_slots_are_removed(database_url: str, tmp_path: Path) -> None:
    first, second = Journal(tmp_path), Journal(tmp_path)
    assert first.slot != second.slot
    first.append(record(1))
    second.append(record(2))
    first.close()  # its writer is gone: once shipped, its segment can go
    assert ship(database_url, tmp_path) == (0, 2)
    assert segment_paths(first.slot) == []
    assert len(segment_paths(second.slot)) == 1  # still being written
    second.close()


def test_segments_roll_over_and_old_ones_are_deleted(database_url: str, tmp_path: Path,
                                                    monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(journal_mod, "SEGMENT_BYTES", 2000)
    journal = Journal(tmp_path)
    for i in range(30):
        journal.append(record(i))
    assert len(segment_paths(journal.slot)) > 3
    assert ship(database_url, tmp_path) == (0, 30)
    assert segment_paths(journal.slot) == [journal.current]
    journal.close()


def test_only_one_shipper_per_directory(database_url: str, tmp_path: Path) -> None:
    async def main() -> None:
        db = Database(database_url)
        try:
            repo = RecordsRepository(db.sessions, db.dialect)
            a = Shipper(tmp_path, repo, interval=0.1, batch_size=10)
            b = Shipper(tmp_path, repo, interval=0.1, batch_size=10)
            assert await a.ship_once()
            assert not await b.ship_once()
            a.release()
            assert await b.ship_once()
            b.release()
        finally:
            await db.close()
    asyncio.run(main())


def test_a_stale_offset_file_never_skips_a_new_segments_lines(database_url: str, tmp_path: Path) -> None:
    """An offset left by an earlier segment of the same number (a crash between the deletes of a drained slot, a
    stray file) must not make the shipper skip the new segment's first lines."""
    slot = tmp_path / "slot-000"
    slot.mkdir()
    (slot / "000000000001.shipped").write_bytes(b"%020d" % 20_000)
    journal = Journal(tmp_path)
    assert journal.current == slot / "000000000001.jsonl"
    for i in range(60):  # more than 20,000 bytes: an inherited offset would skip the first ones
        journal.append(record(i))
    assert journal.current.stat().st_size > 20_000
    assert ship(database_url, tmp_path) == (0, 60)
    journal.close()
