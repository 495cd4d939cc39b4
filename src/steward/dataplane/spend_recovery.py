"""Where a spend counter starts: recorded spend, plus spend not recorded yet, plus what batches hold.

A counter is created when a process first needs it, and again when the store lost it (Redis restarted empty).
Recorded spend (the usage rows in the database) lags real spend by what the shipper has not delivered yet, and
batch holds live only in the store; a counter started from recorded spend alone let a hard cap be overrun by
that lag (issue 12: the ledger chaos run, seed 762879, spent 1.0548 of a 1-cent cap after a Redis restart). So:

* ``spent`` = the usage lines of this host's journal not shipped yet, read **first**, plus the recorded spend,
  read **second**: a line shipped between the two reads counts twice (the cap errs on the safe side), none is
  missed;
* ``reserved`` = the holds of the batches not metered yet (``batches.budget_hold``), on their hard counters.

What it cannot see: another host's journal. With several hosts a start may miss what they have not shipped yet,
about one ship interval of their spend (docs/ARCHITECTURE.md, "Spend caps").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from steward.dataplane.snapshot import SpendEntry
from steward.governance.spend_rules import window
from steward.storage.repositories.batches import BatchRepository
from steward.storage.repositories.spend import SpendRecords, SpendScope
from steward.workers.journal import Segment, read_lines, segment_paths, slot_paths

log = logging.getLogger("steward.budget")

# The usage field that names each scope of a spend limit (as storage.repositories.spend.SCOPE_COLUMNS).
_SCOPE_FIELDS = {"workspace": "workspace_id", "api_key": "api_key_id", "user": "user_id", "organization": "org_id"}


@dataclass(slots=True, frozen=True)
class Start:
    """A counter's starting point, in pico-USD."""

    spent: int
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class _Spend:
    """What one usage line says about spend."""

    org_id: str
    scopes: dict[str, str | None]
    created_at: datetime
    cost: int


def unshipped_usage(directory: Path) -> Iterator[_Spend]:
    """The usage lines of every slot that the shipper has not delivered yet (complete lines; a torn or
    unreadable line is the quarantine's business and is skipped here)."""
    for slot in slot_paths(directory):
        if not slot.exists():
            return
        for path in segment_paths(slot):
            offset = Segment(path).shipped_offset()
            while data := read_lines(path, offset):
                offset += len(data)
                for line in data.splitlines():
                    if b'"usage"' in line and (spend := _usage_of(line)) is not None:
                        yield spend


def _usage_of(line: bytes) -> _Spend | None:
    try:
        usage = orjson.loads(line).get("usage")
        if not isinstance(usage, dict):
            return None
        return _Spend(str(usage["org_id"]), {f: usage.get(f) for f in _SCOPE_FIELDS.values()},
                      datetime.fromisoformat(usage["created_at"]), int(usage.get("cost_picousd") or 0))
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None


def unshipped_spend(directory: Path, scopes: Mapping[str, SpendScope]) -> dict[str, int]:
    """Per key of ``scopes``: the pico-USD of unshipped usage lines in that scope since its ``since``."""
    found = dict.fromkeys(scopes, 0)
    for spend in unshipped_usage(directory):
        for key, where in scopes.items():
            if (spend.org_id == where.org_id and spend.scopes[_SCOPE_FIELDS[where.scope]] == where.scope_id
                    and spend.created_at >= where.since):
                found[key] += spend.cost
    return found


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


class SpendRecovery:
    """Computes counter starts from this host's journal, the database's usage records and the batches' holds."""

    def __init__(self, journal_dir: Path, spend: SpendRecords, batches: BatchRepository) -> None:
        self._journal_dir = journal_dir
        self._spend = spend
        self._batches = batches

    async def starts(self, counters: Sequence[tuple[str, SpendEntry]], now: datetime) -> dict[str, Start]:
        """Per counter key: its start for the period containing ``now``. Raises when the database does not answer
        (the caller falls back to the snapshot's recorded spend)."""
        scopes = {key: SpendScope(e.org_id, e.scope, e.scope_id, window(e.period, now).start)
                  for key, e in counters}
        unshipped = await asyncio.to_thread(unshipped_spend, self._journal_dir, scopes)  # before the database
        recorded = dict(zip(scopes, await self._spend.recorded(list(scopes.values())), strict=True))
        held = held_by_batches(await self._batches.outstanding_holds(), scopes)
        starts = {key: Start(recorded[key] + unshipped[key], held[key]) for key in scopes}
        if any(unshipped.values()) or any(held.values()):
            log.info("spend counters start with unshipped spend and batch holds: %s",
                     {k: (s.spent, s.reserved) for k, s in starts.items()})
        return starts
