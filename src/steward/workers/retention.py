"""The retention worker: runs ``compliance.retention.purge`` every ``STEWARD_RETENTION_INTERVAL`` seconds.

Only one process per home directory runs it (it holds ``retention.lock``, like the shipper's lock), so the
workers of one ``steward serve`` do not repeat each run's audit event; a purge is idempotent anyway.
"""

from __future__ import annotations

import logging
from pathlib import Path

from steward.compliance.retention import purge
from steward.storage.repositories.governance import ContentRepository
from steward.tasks import pause, stop_if_cancelled
from steward.workers.journal import lock_file, unlock_file

log = logging.getLogger("steward.retention")


class RetentionWorker:
    def __init__(self, repo: ContentRepository, lock_path: Path, *, interval: float) -> None:
        self._repo = repo
        self._lock_path = lock_path
        self._interval = interval
        self._lock_fd: int | None = None

    async def run_once(self) -> bool:
        """One purge if this process holds the lock; False when another process runs retention."""
        if self._lock_fd is None:
            self._lock_fd = lock_file(self._lock_path)
            if self._lock_fd is None:
                return False
        report = await purge(self._repo)
        if report.deleted or report.held:
            log.info("retention purged %d stored contents (%d kept by a legal hold)", report.deleted, report.held)
        return True

    async def run(self) -> None:
        """Purge forever; a failed run is logged and retried at the next interval."""
        try:
            while True:
                try:
                    await self.run_once()
                except Exception:  # fail-safe by design: content stays until a run succeeds
                    stop_if_cancelled()
                    log.exception("retention run failed; will retry")
                await pause(self._interval)
        finally:
            if self._lock_fd is not None:
                unlock_file(self._lock_fd)
                self._lock_fd = None
