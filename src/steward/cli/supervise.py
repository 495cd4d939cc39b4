"""Keeps ``steward serve``'s ``steward ship`` process alive: restarted with backoff when it dies, stopped on exit.

A thread of the serving process watches the child. Each death is logged with its exit code and the delay before
the restart (1 s, doubling to 30 s; back to 1 s once a shipper has run for a minute). ``/readyz`` reports a
shipper that is down meanwhile (its status file stops moving), so an orchestrator sees it too.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Sequence

log = logging.getLogger("steward.serve")
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_SECONDS = 60.0


class Supervisor:
    """Runs ``command`` and restarts it whenever it exits, until ``stop()``."""

    def __init__(self, command: Sequence[str], *, first_delay: float = FIRST_DELAY, max_delay: float = MAX_DELAY,
                 name: str = "steward ship") -> None:
        self._command = list(command)
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._name = name
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._thread = threading.Thread(target=self._watch, name="shipper-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self.process = subprocess.Popen(self._command)  # noqa: S603 - our own interpreter and arguments

    def _watch(self) -> None:
        delay = self._first_delay
        while not self._stopping.is_set():
            process = self.process
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= STABLE_SECONDS:
                delay = self._first_delay
            self.restarts += 1
            log.error("%s (pid %d) exited with code %s; restarting it in %g s (restart %d)", self._name,
                      process.pid, code, delay, self.restarts)
            if self._stopping.wait(delay):
                return
            self._spawn()
            if self.process is not None:
                log.warning("%s restarted (pid %d)", self._name, self.process.pid)
            delay = min(self._max_delay, delay * 2)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop restarting, then end the current process (SIGTERM: it ships what is left), SIGKILL after
        ``timeout``."""
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
