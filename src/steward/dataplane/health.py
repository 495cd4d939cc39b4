"""Readiness (``/readyz``) and the journal's numbers for ``/metrics``: the truth about whether records flow.

``/healthz`` stays a liveness answer. ``/readyz`` checks the database (``SELECT 1``, short timeout), the journal
directory (writable, with room), Redis when configured, the config snapshot's age (a poller that stopped means
revocations stop applying) and the ship lag: the shipper's heartbeat (its status file, it usually runs in another
process) and the age of the oldest unshipped record, measured from the journal itself so that it stays true when
the shipper is dead. One reading is cached for a second and shared by concurrent probes, so a probe costs at most
one ``SELECT 1`` per second per process.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from steward.metrics import ConfigNumbers, JournalNumbers, journal_registry, render
from steward.workers.journal import backlog
from steward.workers.quarantine import Quarantine
from steward.workers.ship_status import StatusFile

CACHE_SECONDS = 1.0
PROBE_TIMEOUT = 1.0
MIN_FREE_BYTES = 16 * 1024 * 1024
DEFAULT_RECORD_BYTES = 1024  # the estimate of a record's size before the shipper has measured one
Ping = Callable[[], Awaitable[str | None]]


class Readiness:
    """The readiness checks and journal metrics of one gateway process."""

    def __init__(self, journal_dir: Path, *, database: Ping, snapshot_checked_at: Callable[[], float],
                 snapshot_max_age: float, max_lag: float, shipper_timeout: float, redis: Redis | None = None,
                 snapshot_version: Callable[[], int] = lambda: 0) -> None:
        self._journal_dir = journal_dir
        self._database = database
        self._snapshot_checked_at = snapshot_checked_at
        self._snapshot_max_age = snapshot_max_age
        self._max_lag = max_lag
        self._shipper_timeout = shipper_timeout
        self._redis = redis
        self._status = StatusFile(journal_dir)
        self._quarantine = Quarantine(journal_dir)
        self._numbers: tuple[float, JournalNumbers] | None = None
        self._answer: tuple[float, bool, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()
        self._registry = journal_registry(self.journal, lambda: ConfigNumbers(
            max(0.0, time.monotonic() - snapshot_checked_at()), snapshot_version()))

    def journal(self) -> JournalNumbers:
        """Backlog per slot, the oldest unshipped record's age, quarantined lines, the shipper's errors (cached)."""
        now = time.monotonic()
        if self._numbers is not None and now - self._numbers[0] < CACHE_SECONDS:
            return self._numbers[1]
        status = self._status.read()
        per_record = (status.record_bytes() if status is not None else None) or DEFAULT_RECORD_BYTES
        slots = backlog(self._journal_dir)
        oldest = min((s.oldest_at for s in slots if s.oldest_at is not None), default=None)
        numbers = JournalNumbers(
            backlog_bytes={s.slot: s.bytes for s in slots},
            backlog_records={s.slot: -(-s.bytes // int(per_record)) for s in slots},
            oldest_age=max(0.0, time.time() - oldest) if oldest is not None else 0.0,
            quarantined=self._quarantine.counts(),
            ship_errors=status.errors if status is not None else {},
            shipper_heartbeat_age=max(0.0, time.time() - status.updated_at) if status is not None else None)
        self._numbers = (now, numbers)
        return numbers

    def metrics(self) -> bytes:
        """``/metrics``: the process's counters and the journal's numbers."""
        return render(self._registry)

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """Whether this process is ready, and each check's result ("ok" or what is wrong)."""
        async with self._lock:  # concurrent probes wait for the one reading instead of each taking their own
            now = time.monotonic()
            if self._answer is not None and now - self._answer[0] < CACHE_SECONDS:
                return self._answer[1], self._answer[2]
            checks = {"database": await self._check_database(), "journal": self._check_journal(),
                      "snapshot": self._check_snapshot(), **self._check_shipping()}
            if self._redis is not None:
                checks["redis"] = await self._check_redis()
            ready = all(value == "ok" for value in checks.values())
            self._answer = (time.monotonic(), ready, checks)
            return ready, checks

    async def _check_database(self) -> str:
        problem = await self._database()
        return "ok" if problem is None else f"unavailable: {problem}"

    def _check_journal(self) -> str:
        directory = self._journal_dir
        if not os.access(directory, os.W_OK):
            return f"directory {directory} is not writable"
        stats = os.statvfs(directory)
        if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
            return f"under {MIN_FREE_BYTES // (1024 * 1024)} MiB free in {directory}"
        return "ok"

    def _check_snapshot(self) -> str:
        age = time.monotonic() - self._snapshot_checked_at()
        return "ok" if age <= self._snapshot_max_age else f"config not checked for {age:.1f} s"

    def _check_shipping(self) -> dict[str, str]:
        numbers = self.journal()
        heartbeat = numbers.shipper_heartbeat_age
        if heartbeat is None:
            shipper = "no shipper has reported (is `steward ship` running?)"
        elif heartbeat > self._shipper_timeout:
            shipper = f"no report from the shipper for {heartbeat:.0f} s"
        else:
            shipper = "ok"
        lag = "ok" if numbers.oldest_age <= self._max_lag else \
            f"oldest unshipped record is {numbers.oldest_age:.0f} s old (bound {self._max_lag:g} s)"
        return {"shipper": shipper, "ship_lag": lag}

    async def _check_redis(self) -> str:
        assert self._redis is not None
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self._redis.ping()
        except Exception as exc:  # fail-safe by design: any failure of the probe is the answer
            return f"unavailable: {type(exc).__name__}"
        return "ok"

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
