"""Counter starts (dataplane/spend_recovery.py): the journal's unshipped charges in a limit's scope and period,
counted once against what the database already holds, and the holds of batches not metered yet. The
gateway-level promises (a Redis loss with spend unshipped or a batch running) are in
tests/e2e/test_limits_redis.py."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from steward.dataplane.records import usage_row
from steward.dataplane.snapshot import SpendEntry
from steward.dataplane.spend_recovery import (
    JournaledBatch,
    JournaledUsage,
    JournalIndex,
    SpendRecovery,
    Start,
    held_by_batches,
    parse_line,
)
from steward.governance.catalog import Catalog
from steward.reporting.rollups import RollupAccumulator
from steward.storage.engine import Database
from steward.storage.models import BatchRecord
from steward.storage.repositories.batches import BatchRepository
from steward.storage.repositories.records import RecordsRepository
from steward.storage.repositories.spend import SpendRecords
from steward.workers.journal import Journal, Segment

NOW = datetime.now(UTC).replace(hour=12)
DAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)


def usage(cost: int, *, workspace: str = "ws_a", key: str = "key_a", user: str | None = None,
          at: datetime = NOW, org: str = "org_1", charged: int | None = None, row: str | None = None) -> dict[str, Any]:
    return usage_row(row_id=row or f"u{cost}", request_id=row or f"u{cost}", created_at=at.isoformat(), org_id=org,
                     workspace_id=workspace, api_key_id=key, user_id=user, tags=None, endpoint="messages",
                     model="claude-sonnet-4-6", batch_id=None, metered=None, status=200, latency_ms=1, ttft_ms=None,
                     cost_picousd=cost, pricing_version=None, unpriced=charged is not None,
                     claude_code_session_id=None, charged_picousd=charged)


def charges(index: JournalIndex) -> list[int]:
    return sorted(item.charged for item in index.unshipped() if isinstance(item, JournaledUsage))


def test_the_index_reads_only_unshipped_lines_and_only_new_bytes(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append({"usage": usage(1)})
    journal.append({"audit": {"id": "a1", "cost_picousd": 999}})  # not usage
    index = JournalIndex(tmp_path)
    assert charges(index) == [1]
    shipped_to = journal.current.stat().st_size
    journal.append({"usage": usage(10)})
    journal.append({"usage": usage(0, charged=100)})  # unpriced: charged at the ceiling rates
    assert charges(index) == [1, 10, 100]
    Segment(journal.current).mark_shipped(shipped_to)
    assert charges(index) == [10, 100]
    other = Journal(tmp_path)  # another worker's slot
    other.append({"batch": {"id": "msgbatch_1", "budget_hold": {"shared": {"amount": 5, "counters": []}}}})
    with other.current.open("ab") as torn:  # a write cut short: skipped here, the quarantine's business
        torn.write(b'{"t":1,"usage":{"org_id":"org_1","cost_pico')
    found = index.unshipped()
    assert [b.id for b in found if isinstance(b, JournaledBatch)] == ["msgbatch_1"]
    journal.close()
    other.close()


def test_odd_lines_are_skipped_not_trusted() -> None:
    good = usage(7)
    assert isinstance(parse_line(orjson.dumps({"usage": good})), JournaledUsage)
    for odd in ({"created_at": NOW.replace(tzinfo=None).isoformat()}, {"cost_picousd": -5},
                {"cost_picousd": 10**30}, {"cost_picousd": "7"}, {"cost_picousd": True}, {"cost_picousd": 1.5},
                {"charged_picousd": -1, "unpriced": True}, {"id": None}):
        assert parse_line(json.dumps({"usage": {**good, **odd}}).encode()) is None, odd
    assert parse_line(b"[1, 2]") is None and parse_line(b"not json") is None


def test_batch_holds_count_on_their_hard_counters() -> None:
    holds = [{"shared": {"amount": 7, "counters": [["org", 10, 60, True], ["ws", 10, 60, True],
                                                     ["soft", 10, 60, False]]},
              "users": {"alice": {"amount": 3, "counters": [["alice", 10, 60, True]]}}, "user_of": {}, "at": ""},
             {"shared": {"amount": 5, "counters": [["ws", 10, 60, True]]}, "users": {}}]
    assert held_by_batches(holds, ["org", "ws", "soft", "alice", "other"]) == {
        "org": 7, "ws": 12, "soft": 0, "alice": 3, "other": 0}


def entry(scope: str, scope_id: str, period: str = "daily") -> SpendEntry:
    return SpendEntry(f"spl_{scope}", "org_1", scope, scope_id, period, 10**12, True, (50,))


def hold(amount: int, key: str) -> dict[str, Any]:
    return {"shared": {"amount": amount, "counters": [[key, 10**12, 60, True]]}, "users": {}, "user_of": {},
            "at": NOW.isoformat()}


def batch(batch_id: str, amount: int, key: str, *, metered: bool = False) -> BatchRecord:
    return BatchRecord(id=batch_id, org_id="org_1", workspace_id="ws_a", api_key_id="key_a", request_count=1,
                       created_at=NOW, metered_at=NOW if metered else None, deleted_at=None, user_id=None, tags=None,
                       budget_hold=hold(amount, key))


def test_a_start_counts_each_charge_once(database_url: str, tmp_path: Path) -> None:
    """Recorded rows, journal lines already shipped (offset not advanced yet: the shipper is between insert and
    offset update) and lines not shipped: each charge once. Unpriced usage at its ceiling charge. Batch holds from
    the database and from journaled rows the database does not hold yet; a metered batch holds nothing."""
    async def scenario() -> dict[str, Start]:
        database = Database(database_url)
        try:
            records = RecordsRepository(database.sessions, database.dialect)
            shipped = [usage(1, row="r1"), usage(0, charged=20, row="r2"), usage(300, at=DAY - timedelta(hours=1),
                                                                                row="r3")]
            # As the shipper writes them: the rows and, in the same transaction, their rollups (what starts read).
            await records.insert([{**u, "created_at": datetime.fromisoformat(u["created_at"])} for u in shipped], [],
                                 lambda fresh: RollupAccumulator(Catalog.load_default()).extend(fresh).rows())
            journal = Journal(tmp_path)
            for row in [shipped[0], usage(4000, row="j1"), usage(50000, workspace="ws_b", row="j2"),
                        usage(0, charged=600000, row="j3")]:
                journal.append({"usage": row})
            journal.append({"batch": {"id": "msgbatch_journaled", "budget_hold": hold(7, "ws_a_key")}})
            journal.append({"batch": {"id": "msgbatch_metered", "budget_hold": hold(900, "ws_a_key")}})
            batches = BatchRepository(database.sessions)
            await batches.add(batch("msgbatch_stored", 80, "ws_a_key"))
            await batches.add(batch("msgbatch_metered", 900, "ws_a_key", metered=True))
            recovery = SpendRecovery(tmp_path, SpendRecords(database.sessions))
            return await recovery.starts([("ws_a_key", entry("workspace", "ws_a")),
                                          ("org_key", entry("organization", "org_1")),
                                          ("ws_a_month", entry("workspace", "ws_a", "monthly"))], NOW)
        finally:
            await database.close()

    starts = asyncio.run(scenario())
    assert starts["ws_a_key"] == Start(1 + 20 + 4000 + 600000, 80 + 7)
    assert starts["org_key"] == Start(1 + 20 + 4000 + 50000 + 600000, 0)
    month = 1 + 20 + 4000 + 600000 + (300 if DAY.day > 1 else 0)  # yesterday's row is this month's unless the 1st
    assert starts["ws_a_month"].spent == month
