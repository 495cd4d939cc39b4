"""Where a spend counter starts: what was charged to the caps, recorded or not yet, and what batches hold.

A counter is created when a process first needs it, and again when the store lost it (Redis restarted empty).
Recorded spend (the usage rows in the database) lags real spend by the journal the shipper has not delivered yet,
and batch holds live only in the store; a counter started from recorded spend alone let a hard cap be overrun by
that lag (issue 12: the ledger chaos run, seed 762879, spent 1.0548 of a 1-cent cap after a Redis restart). So:

* ``spent`` = the charge of every usage line of this host's journal not in the database yet, plus the charge the
  database has recorded. Both come from one read: the journal is scanned first (``JournalIndex``), then one
  database transaction (a single snapshot on PostgreSQL) says which of those lines' ids it already holds and sums
  what it has, so a line shipped meanwhile is counted once, never twice and never not at all. The charge is the
  cost, or for an unpriced model the usage at the catalog's highest rates (``usage_records.charged_picousd``).
* ``reserved`` = the holds of the batches not metered yet, on their hard counters: the database's rows and the
  journaled rows of batches created while the database refused them.

``JournalIndex`` keeps what it parsed, by segment and offset, and reads only the bytes appended since (and forgets
what the shipper has delivered), so starting many counters after a Redis loss costs one scan of the backlog.

Limits (docs/ARCHITECTURE.md, "Rate limits and spend limits"): another host's journal is not visible here, so
with several hosts a start misses what their shippers have not delivered; and the reservations of requests still
in flight when the store lost a counter are not restored (their settlement adds their cost: governance/budgets
``counts_again``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from steward.dataplane.snapshot import SpendEntry
from steward.governance.budgets import MAX_PICOUSD
from steward.governance.spend_rules import window
from steward.storage.repositories.spend import SpendRecords, SpendScope
from steward.workers.journal import Segment, read_lines, segment_paths, slot_paths

log = logging.getLogger("steward.budget")

# The usage field that names each scope of a spend limit (as storage.repositories.spend.SCOPE_ROLLUPS); a person's
# usage is their keys' (``owner_of`` maps a key to its person).
_SCOPE_FIELDS = {"workspace": "workspace_id", "api_key": "api_key_id", "user": "user_id", "organization": "org_id",
                 "person": "api_key_id"}
OwnerOf = Callable[[str | None], str | None]


@dataclass(slots=True, frozen=True)
class Start:
    """A counter's starting point, in pico-USD."""

    spent: int
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class JournaledUsage:
    """What one usage line charged, and to whom."""

    id: str
    org_id: str
    scopes: dict[str, str | None]
    created_at: datetime
    charged: int


@dataclass(slots=True, frozen=True)
class JournaledBatch:
    """A batch row journaled because the database refused it, with its hold."""

    id: str
    hold: dict[str, Any]


Journaled = JournaledUsage | JournaledBatch


def _amount(value: Any) -> int | None:
    """A non-negative integer amount of pico-USD within the ledger's bound, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PICOUSD:
        return None
    return int(value)


def parse_line(line: bytes) -> Journaled | None:
    """The usage or batch row of one journal line; None for anything else, or anything odd (a torn line, a
    naive time, a cost that is not a bounded non-negative integer: the shipper's quarantine is their judge)."""
    try:
        record = orjson.loads(line)
        if not isinstance(record, dict):
            return None
        if isinstance(usage := record.get("usage"), dict):
            created = datetime.fromisoformat(usage["created_at"])
            explicit = usage.get("charged_picousd")
            charged = _amount(explicit if explicit is not None else usage.get("cost_picousd", 0))
            if charged is None or created.tzinfo is None or not isinstance(usage.get("id"), str):
                return None
            return JournaledUsage(usage["id"], str(usage["org_id"]), {f: usage.get(f) for f in _SCOPE_FIELDS.values()},
                                  created.astimezone(UTC), charged)
        if isinstance(batch := record.get("batch"), dict) and isinstance(batch.get("budget_hold"), dict):
            return JournaledBatch(str(batch["id"]), batch["budget_hold"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return None


@dataclass(slots=True)
class _Scanned:
    """What one segment holds beyond its shipped offset, as far as it has been read."""

    start: int
    end: int
    items: list[tuple[int, Journaled]] = field(default_factory=list)  # (offset of the line, what it says)


class JournalIndex:
    """The usage and batch lines of a journal directory that are not shipped yet, read incrementally."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._segments: dict[Path, _Scanned] = {}

    def unshipped(self) -> list[Journaled]:
        """Every usage or batch line beyond its segment's shipped offset (blocking: run it in a thread)."""
        found: list[Journaled] = []
        live: set[Path] = set()
        for slot in slot_paths(self._directory):
            if not slot.exists():
                break
            for path in segment_paths(slot):
                live.add(path)
                found.extend(self._segment(path))
        for gone in set(self._segments) - live:  # shipped and removed
            del self._segments[gone]
        return found

    def _segment(self, path: Path) -> list[Journaled]:
        shipped = Segment(path).shipped_offset()
        scanned = self._segments.get(path)
        if scanned is None or shipped < scanned.start:  # new here, or the offset went back (a replay): read again
            scanned = self._segments[path] = _Scanned(shipped, shipped)
        if scanned.items and scanned.items[0][0] < shipped:
            scanned.items = [(at, item) for at, item in scanned.items if at >= shipped]
        offset = max(scanned.end, shipped)
        while data := read_lines(path, offset):
            for line in data.splitlines(keepends=True):
                if (b'"usage"' in line or b'"batch"' in line) and (item := parse_line(line)) is not None:
                    scanned.items.append((offset, item))
                offset += len(line)
        scanned.end = offset
        return [item for _, item in scanned.items]


def held_by_batches(holds: Iterable[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, int]:
    """Per counter key: what unmetered batches reserved on it (``BatchHold.to_json`` groups, hard counters)."""
    wanted = dict.fromkeys(keys, 0)
    for hold in holds:
        groups = [hold.get("shared") or {}, *(hold.get("users") or {}).values()]
        for group in groups:
            for key, _cap, _ttl, hard in group.get("counters") or ():
                if hard and key in wanted:
                    wanted[key] += int(group.get("amount") or 0)
    return wanted


def _matches(usage: JournaledUsage, where: SpendScope, owner_of: OwnerOf = lambda _: None) -> bool:
    named = usage.scopes[_SCOPE_FIELDS[where.scope]]
    if where.scope == "person":
        named = owner_of(named)
    return usage.org_id == where.org_id and named == where.scope_id and usage.created_at >= where.since


class SpendRecovery:
    """Computes counter starts from this host's journal and the database (usage records and batch holds)."""

    def __init__(self, journal_dir: Path, spend: SpendRecords, owner_of: OwnerOf = lambda _: None) -> None:
        self._index = JournalIndex(journal_dir)
        self._spend = spend
        self._owner_of = owner_of  # key id -> the person who created it (the snapshot's keys)

    async def starts(self, counters: Sequence[tuple[str, SpendEntry]], now: datetime) -> dict[str, Start]:
        """Per counter key: its start for the period containing ``now``. Raises when the database does not
        answer (the caller then starts nothing and hard caps refuse until it does)."""
        scopes = {key: SpendScope(e.org_id, e.scope, e.scope_id, window(e.period, now).start)
                  for key, e in counters}
        journaled = await asyncio.to_thread(self._index.unshipped)  # before the database: see the module doc
        usage = [u for u in journaled if isinstance(u, JournaledUsage)
                 and any(_matches(u, where, self._owner_of) for where in scopes.values())]
        batches = {b.id: b.hold for b in journaled if isinstance(b, JournaledBatch)}
        recorded = await self._spend.read(list(scopes.values()), [u.id for u in usage], list(batches))
        holds = [*recorded.holds, *(hold for batch_id, hold in batches.items() if batch_id not in recorded.batches)]
        held = held_by_batches(holds, scopes)
        starts: dict[str, Start] = {}
        unshipped: dict[str, int] = {}
        for (key, where), stored in zip(scopes.items(), recorded.spent, strict=True):
            unshipped[key] = sum(u.charged for u in usage if u.id not in recorded.present
                                and _matches(u, where, self._owner_of))
            starts[key] = Start(min(MAX_PICOUSD, stored + unshipped[key]), min(MAX_PICOUSD, held[key]))
        if any(unshipped.values()) or any(held.values()):
            log.warning("spend counters start with spend not shipped yet and batch holds (pico-USD): %s",
                        {key: {"recorded": s.spent - unshipped[key], "unshipped": unshipped[key],
                               "held": s.reserved} for key, s in starts.items()})
        return starts
