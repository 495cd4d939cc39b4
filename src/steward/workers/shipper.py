"""Moves journal lines into the database in batches, for every slot of a journal directory.

One shipper per journal directory (it holds ``shipper.lock``): inline in the serving process for the
embedded and test setups, or as its own process beside the workers (``steward serve`` starts and supervises one
``steward ship``), so that database work never competes with requests for the serving process's interpreter.
Inserts are idempotent (records carry their primary keys): a crash between insert and offset update ships a few
lines twice and stores them once. Nothing a client sends can stop it:

- lines of any size ship (``journal.read_lines`` reads past its chunk to the newline);
- a line that does not parse, a torn tail nobody writes any more, and a line whose rows the database refuses
  (found by bisecting the failed batch) go to the quarantine (``quarantine.py``), logged once by slot and offset;
- a database outage is not a bad line (``storage.health`` tells them apart): the round stops, the lines wait in
  the journal, and rounds are retried with backoff, logged once per outage;
- any other failure of one slot is logged and that slot retried next round; the other slots keep shipping.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from steward.governance.catalog_source import CatalogSource
from steward.reporting.rollups import RollupAccumulator
from steward.storage.health import describe, is_data_error
from steward.storage.repositories.records import RecordsRepository, SealingFor
from steward.tasks import pause, stop_if_cancelled
from steward.workers.journal import Segment, lock_file, read_lines, read_tail, segment_paths, slot_paths, unlock_file
from steward.workers.quarantine import Entry, Quarantine
from steward.workers.ship_status import ShipStatus, StatusFile

log = logging.getLogger("steward.shipper")
MAX_BACKOFF = 5.0
Ping = Callable[[], Awaitable[str | None]]  # None when the database answers, else what is wrong


class Outage(Exception):
    """The database cannot take writes right now (not the fault of any line): retry later."""


@dataclass(slots=True)
class Unit:
    """One journal line and the rows it holds."""

    offset: int
    line: bytes
    usage: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    content: list[dict[str, Any]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)  # a batch row its gateway could not write


def parse_line(offset: int, line: bytes) -> Unit:
    """The rows of one line; raises ValueError, KeyError or TypeError when it is not a journal record."""
    record = orjson.loads(line)
    if not isinstance(record, dict):
        raise TypeError(f"a journal line is a JSON object, not {type(record).__name__}")
    unit = Unit(offset, line)
    if (u := record.get("usage")) is not None:
        u["created_at"] = datetime.fromisoformat(u["created_at"])
        unit.usage.append(u)
    if (a := record.get("audit")) is not None:
        a["created_at"] = datetime.fromisoformat(a["created_at"])
        unit.audit.append(a)
    if (b := record.get("batch")) is not None:
        b["created_at"] = datetime.fromisoformat(b["created_at"])
        unit.batches.append(b)
    if (c := record.get("content")) is not None:  # sealed content (full audit): already ciphertext, as bytes
        c["created_at"] = datetime.fromisoformat(c["created_at"])
        c["purge_after"] = datetime.fromisoformat(c["purge_after"]) if c["purge_after"] else None
        c["nonce"], c["ciphertext"] = base64.b64decode(c["nonce"]), base64.b64decode(c["ciphertext"])
        unit.content.append(c)
    return unit


class Shipper:
    """Ships every slot of ``directory``; only the holder of ``shipper.lock`` ships."""

    def __init__(self, directory: Path, repo: RecordsRepository, *, interval: float, batch_size: int,
                 ping: Ping | None = None, catalogs: CatalogSource | None = None,
                 sealing: SealingFor | None = None) -> None:
        self._directory = directory
        self._repo = repo
        self._interval = interval
        self._batch = batch_size
        self._ping = ping
        self._segments: dict[Path, Segment] = {}
        self._lock_fd: int | None = None
        self._failing_slots: set[str] = set()
        self._backoff = 0.0
        self.quarantine = Quarantine(directory)
        self.status = ShipStatus()
        self._status_file = StatusFile(directory)
        # Usage rollups are kept in each batch's transaction (exactly once: only rows the batch inserted count).
        # Their cost split prices with the catalog in force (read once per round; without a store: the packaged file).
        self._catalogs = catalogs or CatalogSource(None)
        # With it, each batch's audit events are sealed into their chains in the batch's own transaction, from
        # memory (compliance.chain.sealing_for); the sealer then only has what other writers queued.
        self._sealing = sealing

    def _rollups(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return RollupAccumulator(self._catalogs.catalog).extend(rows).rows()

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

    def _quarantine(self, slot: str, segment: Segment, offset: int, kind: str, error: str, line: bytes) -> None:
        self.quarantine.add(slot, segment.path.name, offset, kind, error, line)
        self.status.count(kind)
        # Slot and offset only: the line may hold request metadata, and the error text may quote a value.
        log.error("journal line quarantined (%s): slot %s segment %s offset %d, %d bytes, %s; "
                  "see `steward journal quarantine list`", kind, slot, segment.path.name, offset, len(line),
                  error.split(":", maxsplit=1)[0])

    async def _insert(self, units: Sequence[Unit]) -> None:
        await self._repo.insert([u for unit in units for u in unit.usage],
                                [a for unit in units for a in unit.audit], self._rollups, self._sealing)
        await self._repo.insert_content([c for unit in units for c in unit.content])
        await self._repo.insert_batches([b for unit in units for b in unit.batches])

    async def store(self, units: Sequence[Unit]) -> list[tuple[Unit, str]]:
        """Insert the units; the ones the database refuses (found by bisection) are returned with the reason.
        Raises Outage when the database itself is the problem."""
        if not units:
            return []
        try:
            await self._insert(units)
            return []
        except Exception as exc:  # classified below: an outage is raised, a refused value is isolated
            if not is_data_error(exc):
                raise Outage(describe(exc)) from exc
            if self._ping is not None and (problem := await self._ping()) is not None:
                raise Outage(problem) from exc
            if len(units) == 1:
                return [(units[0], describe(exc))]
        middle = len(units) // 2
        return await self.store(units[:middle]) + await self.store(units[middle:])

    async def ship_segment(self, segment: Segment, slot: str = "") -> int:
        """Ship the complete lines the segment holds now; returns the new shipped offset. Lines appended meanwhile
        wait for the next round: chasing the writer instead shipped one or two lines per transaction under load (a
        transaction's fixed cost for each), which made shipping cost 5-6x more CPU per request at 500 req/s."""
        offset = segment.shipped_offset()
        end = segment.size()
        while end > offset:
            data = await asyncio.to_thread(read_lines, segment.path, offset)
            if not data:
                break
            lines = data.split(b"\n")[:-1]
            for start in range(0, len(lines), self._batch):
                units: list[Unit] = []
                refused: list[tuple[str, str, Unit]] = []
                for line in lines[start: start + self._batch]:
                    if line.strip():
                        try:
                            units.append(parse_line(offset, line))
                        except (ValueError, KeyError, TypeError, AttributeError) as exc:
                            refused.append(("parse", f"{type(exc).__name__}: {exc}", Unit(offset, line)))
                    offset += len(line) + 1
                # Stored first: during an outage (store raises) nothing is quarantined, so nothing twice.
                refused += [("data", error, unit) for unit, error in await self.store(units)]
                for kind, error, unit in sorted(refused, key=lambda r: r[2].offset):
                    self._quarantine(slot, segment, unit.offset, kind, error, unit.line)
                self.status.shipped_lines += len(units)
                self.status.shipped_bytes += sum(len(unit.line) + 1 for unit in units)
                segment.mark_shipped(offset)
                self._status_file.write(self.status)
        return offset

    async def _finish(self, slot: Path, segment: Segment) -> None:
        """A segment nobody writes any more: ship what completed meanwhile, quarantine a torn tail, delete it."""
        offset = await self.ship_segment(segment, slot.name)
        if offset < segment.size():
            tail = await asyncio.to_thread(read_tail, segment.path, offset)
            self._quarantine(slot.name, segment, offset, "torn", "no newline: a write cut short", tail)
            segment.mark_shipped(offset + len(tail))
        self._forget(segment)

    async def _ship_slot(self, slot: Path) -> None:
        paths = segment_paths(slot)
        for i, path in enumerate(paths):
            segment = self._segment(path)
            if i < len(paths) - 1:  # a newer segment exists: the writer has finished with this one
                await self._finish(slot, segment)
                continue
            await self.ship_segment(segment, slot.name)
            writer_gone = lock_file(slot / "lock")
            if writer_gone is not None:  # no process writes here any more: the slot is drained
                try:
                    await self._finish(slot, segment)
                finally:
                    unlock_file(writer_gone)

    async def ship_once(self) -> bool:
        """One round over every slot, oldest segments first; False if another process is the shipper.
        Raises Outage when the database does not take writes (the lines stay in the journal)."""
        if not self.acquire():
            return False
        for slot in slot_paths(self._directory):
            if not slot.exists():
                break
            try:
                await self._ship_slot(slot)
            except Outage:
                raise
            except Exception:  # fail-safe by design: one slot's failure never stops the others
                stop_if_cancelled()
                self.status.count("internal")
                if slot.name not in self._failing_slots:
                    self._failing_slots.add(slot.name)
                    log.exception("shipping journal slot %s failed; it is retried every round", slot.name)
                continue
            if slot.name in self._failing_slots:
                self._failing_slots.discard(slot.name)
                log.warning("journal slot %s ships again", slot.name)
        return True

    async def reship(self, ids: Collection[str] | None = None) -> tuple[list[Entry], dict[str, str]]:
        """Try quarantined lines again (all, or ``ids``): the ones that store leave the quarantine, the others stay
        with their new error. Returns (shipped, still failing: id -> error); raises Outage, changing nothing."""
        entries = [e for e in self.quarantine.entries() if ids is None or e.id in ids]
        shipped: list[Entry] = []
        failing: dict[str, str] = {}
        for entry in entries:
            try:
                unit = parse_line(entry.offset, entry.line)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                failing[entry.id] = f"{type(exc).__name__}: {exc}"
                continue
            refused = await self.store([unit])
            if refused:
                failing[entry.id] = refused[0][1]
            else:
                shipped.append(entry)
        self.quarantine.replace({e.id for e in shipped}, failing)
        return shipped, failing

    async def round(self) -> float:
        """One round with outage bookkeeping; returns the seconds to wait before the next one (backoff)."""
        await self._catalogs.refresh()  # never raises: a failed read keeps the last catalog
        try:
            await self.ship_once()
        except Outage as exc:
            self.status.count("database")
            if self.status.outage_since is None:
                self.status.outage_since = time.time()
                log.error("database unavailable, journal lines wait until it is back: %s", exc)
            self.status.database_error = str(exc)
            self._backoff = min(MAX_BACKOFF, max(self._interval, self._backoff * 2))
            self._status_file.write(self.status, force=True)
            return self._backoff
        except Exception:  # fail-safe by design (e.g. the journal directory vanished): retried next round
            stop_if_cancelled()
            self.status.count("internal")
            log.exception("journal shipping round failed; will retry")
            self._status_file.write(self.status)
            return self._interval
        if self.status.outage_since is not None:
            log.warning("database is back after %.1f s; shipping resumes", time.time() - self.status.outage_since)
            self.status.outage_since, self.status.database_error = None, None
            self._status_file.write(self.status, force=True)
        self._backoff = 0.0
        self._status_file.write(self.status)
        return self._interval

    async def run(self) -> None:
        """Ship forever; the journal keeps the lines while a round cannot complete."""
        while True:
            wait = await self.round()
            await pause(wait)


async def run_standalone(directory: Path, repo: RecordsRepository, *, interval: float, batch_size: int,
                         stop: asyncio.Event, parent_pid: int | None = None, ping: Ping | None = None,
                         catalogs: CatalogSource | None = None, sealing: SealingFor | None = None) -> None:
    """The ``steward ship`` loop: ship until ``stop`` is set or ``parent_pid`` (the server) is gone,
    then ship once more so nothing the server wrote is left behind."""
    shipper = Shipper(directory, repo, interval=interval, batch_size=batch_size, ping=ping, catalogs=catalogs,
                      sealing=sealing)

    def running() -> bool:
        return not stop.is_set() and (parent_pid is None or os.getppid() == parent_pid)

    try:
        while running():
            wait = await shipper.round()
            waited = 0.0
            while waited < wait and running():
                await asyncio.sleep(min(wait, 0.1))
                waited += min(wait, 0.1)
        await shipper.round()
    finally:
        shipper.release()
