"""The ledger chaos harness, shared by tests/e2e/test_ledger_chaos.py and bench/ledger_chaos.py: real
``steward serve`` processes on a fixed port, a private Redis, a PostgreSQL outage, and mixed client load.

Owns the moving parts only (what it killed and when, what each client request saw); the ledger checks are in
``tests.chaos_check``. Every process it starts lives in its own process group through ``tests.support.child`` and
is killed when the harness's ExitStack closes, whatever happens. Kills pick only processes we found as children
of our own server. The PostgreSQL outage renames the test's own database away for a few seconds (after ending
its connections) and back; the shared server keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from steward.serving import free_port
from tests.support import PG_ADMIN, child


def children(pid: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of the direct children of ``pid``."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            for kid in (task / "children").read_text().split():
                with contextlib.suppress(FileNotFoundError):
                    found.append((int(kid), Path(f"/proc/{kid}/cmdline").read_bytes()))
    return found


@dataclass
class Events:
    """What the chaos did, with the time since the start of the load."""
    started: float = field(default_factory=time.monotonic)
    log: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.log.append(f"{time.monotonic() - self.started:6.1f}s {what}")


class Server:
    """``steward serve`` on one port, restartable after a SIGKILL of its whole group."""

    def __init__(self, stack: ExitStack, env: dict[str, str], workers: int, log: Path) -> None:
        self.stack, self.env, self.workers, self.logfile = stack, env, workers, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        out = self.stack.enter_context(self.logfile.open("ab"))
        self.proc = self.stack.enter_context(child(
            [sys.executable, "-m", "steward", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env, stdout=out, stderr=out))
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"steward serve did not start:\n{self.logfile.read_text()[-3000:]}") from None
                time.sleep(0.1)

    def _pids(self, marker: bytes) -> list[int]:
        assert self.proc is not None
        return [pid for pid, cmd in children(self.proc.pid) if marker in cmd]

    def kill_shipper(self) -> bool:
        pids = self._pids(b"ship")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return bool(pids)

    def kill_worker(self) -> bool:
        """SIGKILL one uvicorn worker (uvicorn starts another); with one worker, the whole server."""
        pids = self._pids(b"spawn_main") if self.workers > 1 else []
        if not pids:
            self.kill_all()
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(pids[0], signal.SIGKILL)
        return True

    def kill_all(self) -> None:
        """SIGKILL the server, its workers and its shipper at once, then start it again on the same home."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.start()

    def stop(self) -> None:
        """A clean stop (SIGTERM: the shipper ships what is left)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


class PrivateRedis:
    """A redis-server of our own (no persistence), so that restarting it loses every counter as a crash would."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = self.stack.enter_context(child(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stop=signal.SIGKILL, grace=1))
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                client = redis.Redis.from_url(self.url)
                client.ping()
                client.close()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.05)

    def restart(self, down: float = 1.0) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        time.sleep(down)
        self.start()


def pg_outage(admin_url: str, name: str, seconds: float, begun: threading.Event | None = None) -> str:
    """Make database ``name`` unreachable for ``seconds``: refuse new connections to it, end its connections and
    rename it away, then back (and accept connections again). ``begun`` is set once it is unreachable. Falls back to
    ending its connections repeatedly if the rename still fails. Returns how."""
    async def main() -> str:
        conn = await asyncpg.connect(admin_url)
        away = f"{name}_away"
        renamed = False
        try:
            # No new connections meanwhile, so the rename does not race clients reconnecting (it lost that race
            # for 3 s on a loaded CI machine, and the outage never began).
            await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            deadline = time.monotonic() + 3
            while not renamed and time.monotonic() < deadline:
                await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                                   name)
                try:
                    await conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{away}"')
                    renamed = True
                except asyncpg.PostgresError:
                    await asyncio.sleep(0.01)
            how = "renamed away" if renamed else "connections ended repeatedly"
            if begun is not None:
                begun.set()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if not renamed:
                    await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                                       name)
                await asyncio.sleep(0.2)
            if renamed:
                while True:  # a client may be mid-connect to the new name: end it and retry
                    await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                                       away)
                    try:
                        await conn.execute(f'ALTER DATABASE "{away}" RENAME TO "{name}"')
                        renamed = False
                        break
                    except asyncpg.PostgresError:
                        await asyncio.sleep(0.01)
            return how
        finally:
            await conn.execute(f'ALTER DATABASE "{away if renamed else name}" ALLOW_CONNECTIONS true')
            await conn.close()
    return asyncio.run(main())


def database_gone(name: str) -> bool:
    """Whether database ``name`` is absent (``pg_outage`` renamed it away)."""
    async def main() -> bool:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            return bool(await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0)
        finally:
            await conn.close()
    return asyncio.run(main())


def pg_name(url: str) -> str | None:
    return url.rsplit("/", 1)[1] if url.startswith("postgresql") else None


def serve_env(home: Path, database_url: str, upstream: str, upstream_key: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "STEWARD_HOME": str(home), "STEWARD_DATABASE_URL": database_url,
            "STEWARD_UPSTREAM_URL": upstream, "STEWARD_UPSTREAM_API_KEYS": f'["{upstream_key}"]',
            "STEWARD_LOG_LEVEL": "warning", "STEWARD_SNAPSHOT_POLL_INTERVAL": "0.25",
            "STEWARD_JOURNAL_SHIP_INTERVAL": "0.2",
            "STEWARD_BATCH_METER_INTERVAL": "0.5", "STEWARD_AUDIT_SEAL_INTERVAL": "0.5", **extra}
