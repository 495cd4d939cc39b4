"""Moves journal lines into the database in batches, for every slot of a journal directory.

One shipper per journal directory (it holds ``shipper.lock``): inline in the serving process for the
embedded and test setups, or as its own process beside the workers (``steward serve`` starts one with
``steward ship``), so that database work never competes with requests for the serving process's
interpreter. Inserts are idempotent (records carry their primary keys): a crash between insert and offset
update ships a few lines twice and stores them once. When the database is down, lines wait in the journal.
A segment is deleted once it is fully shipped and no longer written: either a newer segment exists in its
slot, or no process holds the slot.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from steward.governance.catalog import Catalog
from steward.reporting.rollups import RollupAccumulator
from steward.storage.repositories.records import RecordsRepository
from steward.workers.journal import Segment, lock_file, segment_paths, slot_paths, unlock_file

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


def _content_rows(lines: list[bytes]) -> list[dict[str, Any]]:
    """Sealed content records (full audit): already ciphertext in the journal, decoded to bytes for the table."""
    rows: list[dict[str, Any]] = []
    for line in lines:
        if b'"content"' not in line:  # most lines carry none: skip the parse
            continue
        if (c := orjson.loads(line).get("content")) is not None:
            c["created_at"] = datetime.fromisoformat(c["created_at"])
            c["purge_after"] = datetime.fromisoformat(c["purge_after"]) if c["purge_after"] else None
            c["nonce"], c["ciphertext"] = base64.b64decode(c["nonce"]), base64.b64decode(c["ciphertext"])
            rows.append(c)
    return rows


def _read_from(segment: Segment, offset: int) -> bytes:
    with segment.path.open("rb") as fh:
        fh.seek(offset)
        return fh.read(_READ_CHUNK)


class Shipper:
    """Ships every slot of ``directory``; only the holder of ``shipper.lock`` ships."""

    def __init__(self, directory: Path, repo: RecordsRepository, *, interval: float, batch_size: int) -> None:
        self._directory = directory
        self._repo = repo
        self._interval = interval
        self._batch = batch_size
        self._segments: dict[Path, Segment] = {}
        self._lock_fd: int | None = None
        # Usage rollups are kept in each batch's transaction (exactly once: only rows the batch inserted count).
        self._catalog = Catalog.load_default()

    def _rollups(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return RollupAccumulator(self._catalog).extend(rows).rows()

    def _segment(self, path: Path) -> Segment:
        if path not in self._segments:
            self._segments[path] = Segment(path)
        return self._segments[path]

    def _forget(self, segment: Segment) -> None:
        self._segments.pop(segment.path, None)
        segment.remove()

    def acquire(self) -> bool:
        """Become this directory's shipper (idempotent); False while another process is."""
        if self._lock_fd is None:
            self._lock_fd = lock_file(self._directory / "shipper.lock")
        return self._lock_fd is not None

    def release(self) -> None:
        for segment in self._segments.values():
            segment.close()
        self._segments.clear()
        if self._lock_fd is not None:
            unlock_file(self._lock_fd)
            self._lock_fd = None

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
                await self._repo.insert(usage, audit, self._rollups)
                await self._repo.insert_content(_content_rows(lines[start: start + self._batch]))
            offset += end + 1
            segment.mark_shipped(offset)
        return offset

    async def _ship_slot(self, slot: Path) -> None:
        paths = segment_paths(slot)
        for i, path in enumerate(paths):
            segment = self._segment(path)
            offset = await self.ship_segment(segment)
            if offset < segment.size():
                continue
            if i < len(paths) - 1:
                self._forget(segment)
                continue
            writer_gone = lock_file(slot / "lock")
            if writer_gone is not None:  # no process writes here any more: the slot is drained
                self._forget(segment)
                unlock_file(writer_gone)

    async def ship_once(self) -> bool:
        """One round over every slot, oldest segments first; False if another process is the shipper."""
        if not self.acquire():
            return False
        for slot in slot_paths(self._directory):
            if not slot.exists():
                break
            await self._ship_slot(slot)
        return True

    async def run(self) -> None:
        """Ship forever; errors are logged and retried (the journal keeps the lines meanwhile)."""
        while True:
            try:
                await self.ship_once()
            except Exception:  # fail-safe by design: lines stay in the journal until a round succeeds
                log.exception("journal shipping failed; will retry")
            await asyncio.sleep(self._interval)


async def run_standalone(directory: Path, repo: RecordsRepository, *, interval: float, batch_size: int,
                         stop: asyncio.Event, parent_pid: int | None = None) -> None:
    """The ``steward ship`` loop: ship until ``stop`` is set or ``parent_pid`` (the server) is gone,
    then ship once more so nothing the server wrote is left behind."""
    shipper = Shipper(directory, repo, interval=interval, batch_size=batch_size)

    def running() -> bool:
        return not stop.is_set() and (parent_pid is None or os.getppid() == parent_pid)

    try:
        while running():
            try:
                await shipper.ship_once()
            except Exception:  # fail-safe by design: lines stay in the journal until a round succeeds
                log.exception("journal shipping failed; will retry")
            waited = 0.0
            while waited < interval and running():
                await asyncio.sleep(min(interval, 0.1))
                waited += min(interval, 0.1)
        await shipper.ship_once()
    finally:
        shipper.release()
