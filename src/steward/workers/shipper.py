"""Moves journal lines into the database in batches; replays whatever a dead process left behind.

Inserts are idempotent (records carry their primary keys), so a crash between insert and offset update
ships a few lines twice and stores them once. When the database is down, lines wait in the journal.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import orjson

from steward.storage.repositories.records import RecordsRepository
from steward.workers.journal import Journal, Segment, Slot, slot_paths

log = logging.getLogger("steward.shipper")
_READ_CHUNK = 4 * 1024 * 1024


def _rows(lines: list[bytes]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    usage: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    for line in lines:
        record = orjson.loads(line)
        if (u := record.get("usage")) is not None:
            u["created_at"] = datetime.fromisoformat(u["created_at"])
            usage.append(u)
        if (a := record.get("audit")) is not None:
            a["created_at"] = datetime.fromisoformat(a["created_at"])
            audit.append(a)
    return usage, audit


def _read_from(segment: Segment, offset: int) -> bytes:
    with segment.path.open("rb") as fh:
        fh.seek(offset)
        return fh.read(_READ_CHUNK)


class Shipper:
    """Ships this process's journal and adopts slots whose owners died."""

    def __init__(self, journal: Journal, repo: RecordsRepository, *, interval: float, batch_size: int) -> None:
        self._journal = journal
        self._repo = repo
        self._interval = interval
        self._batch = batch_size

    async def ship_segment(self, segment: Segment) -> int:
        """Ship every complete line of one segment; returns the new shipped offset."""
        offset = segment.shipped_offset()
        while segment.size() > offset:
            data = await asyncio.to_thread(_read_from, segment, offset)
            end = data.rfind(b"\n")
            if end < 0:
                break
            lines = data[: end + 1].splitlines()
            for start in range(0, len(lines), self._batch):
                usage, audit = _rows(lines[start: start + self._batch])
                await self._repo.insert(usage, audit)
            offset += end + 1
            segment.mark_shipped(offset)
        return offset

    async def ship_once(self) -> None:
        """One round over this process's segments, oldest first."""
        for segment in self._journal.slot.segments():
            offset = await self.ship_segment(segment)
            if segment != self._journal.current:
                segment.remove()
            else:
                self._journal.rotate_if_large(offset)

    async def adopt_orphans(self) -> int:
        """Ship and clear the slots of processes that died (their locks are free). Returns lines' slots."""
        adopted = 0
        for path in slot_paths(self._journal.directory):
            if not path.exists():
                break
            if path == self._journal.slot.path:
                continue
            slot = Slot.try_acquire(path)
            if slot is None:
                continue
            try:
                for segment in slot.segments():
                    await self.ship_segment(segment)
                    segment.remove()
                    adopted += 1
            finally:
                slot.release()
        return adopted

    async def run(self) -> None:
        """Ship forever; errors are logged and retried (the journal keeps the lines meanwhile)."""
        rounds = 0
        while True:
            try:
                if rounds % 150 == 0:
                    await self.adopt_orphans()
                await self.ship_once()
            except Exception:  # fail-safe by design: lines stay in the journal until a round succeeds
                log.exception("journal shipping failed; will retry")
            rounds += 1
            await asyncio.sleep(self._interval)
