"""Counter starts (dataplane/spend_recovery.py): the journal's unshipped usage in a limit's scope and period, and
the holds of batches not metered yet. The gateway-level promises (a Redis loss with spend unshipped or a batch
running) are in tests/e2e/test_limits_redis.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from steward.dataplane.spend_recovery import held_by_batches, unshipped_spend
from steward.storage.repositories.spend import SpendScope
from steward.workers.journal import Journal, Segment

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
DAY = NOW.replace(hour=0)


def usage(cost: int, *, workspace: str = "ws_a", key: str = "key_a", user: str | None = None,
          at: datetime = NOW, org: str = "org_1") -> dict[str, Any]:
    return {"usage": {"id": f"u{cost}", "org_id": org, "workspace_id": workspace, "api_key_id": key,
                      "user_id": user, "created_at": at.isoformat(), "cost_picousd": cost}}


def test_only_unshipped_usage_in_the_scope_and_period_counts(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    first.append(usage(1))  # shipped below
    shipped_to = first.current.stat().st_size
    first.append(usage(10))
    first.append({"audit": {"id": "a1", "cost_picousd": 999}})  # not usage
    first.append(usage(100, workspace="ws_b", key="key_b", user="alice"))
    first.append(usage(1000, at=DAY - timedelta(seconds=1)))  # yesterday: another period
    first.append(usage(10000, org="org_2"))
    Segment(first.current).mark_shipped(shipped_to)
    second = Journal(tmp_path)  # another worker's slot
    second.append(usage(100000, key="key_b"))
    with second.current.open("ab") as torn:  # a write cut short: skipped here, the quarantine's business
        torn.write(b'{"t":1,"usage":{"org_id":"org_1","cost_pico')
    scopes = {"org": SpendScope("org_1", "organization", "org_1", DAY),
              "ws_a": SpendScope("org_1", "workspace", "ws_a", DAY),
              "key_b": SpendScope("org_1", "api_key", "key_b", DAY),
              "alice": SpendScope("org_1", "user", "alice", DAY),
              "week": SpendScope("org_1", "workspace", "ws_a", DAY - timedelta(days=3))}
    assert unshipped_spend(tmp_path, scopes) == {"org": 100110, "ws_a": 100010, "key_b": 100100, "alice": 100,
                                                 "week": 101010}
    first.close()
    second.close()


def test_an_empty_journal_adds_nothing(tmp_path: Path) -> None:
    assert unshipped_spend(tmp_path, {"x": SpendScope("org_1", "workspace", "ws_a", DAY)}) == {"x": 0}


def test_batch_holds_count_on_their_hard_counters() -> None:
    holds = [{"shared": {"amount": 7, "counters": [["org", 10, 60, True], ["ws", 10, 60, True],
                                                     ["soft", 10, 60, False]]},
              "users": {"alice": {"amount": 3, "counters": [["alice", 10, 60, True]]}}, "user_of": {}, "at": ""},
             {"shared": {"amount": 5, "counters": [["ws", 10, 60, True]]}, "users": {}}]
    assert held_by_batches(holds, ["org", "ws", "soft", "alice", "other"]) == {
        "org": 7, "ws": 12, "soft": 0, "alice": 3, "other": 0}
