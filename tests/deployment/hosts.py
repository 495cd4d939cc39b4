"""What the deployment tests share: a fresh PostgreSQL database, the environment of a "host", ``steward serve`` and
``steward simulate`` as real processes (each stopped when its block exits), and the Admin API over HTTP."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from steward.serving import free_port
from tests.support import PG_ADMIN, child, pg_execute

ANNOUNCED = re.compile(r"listening on (http://\S+)")
REDIS_URL = os.environ.get("STEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def secret_b64() -> str:
    """What ``openssl rand -base64 32`` prints: a master key or an audit signing key."""
    return base64.b64encode(os.urandom(32)).decode()


def pg_url(name: str) -> str:
    """The asyncpg URL of database ``name`` on the test server."""
    return f"{PG_ADMIN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


def libpq_url(name: str) -> str:
    """The same database as pg_dump, pg_restore and psql spell it."""
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


@contextmanager
def fresh_database(tag: str) -> Iterator[str]:
    """An empty PostgreSQL database with a unique name (dropped afterwards); yields its name."""
    name = f"steward_{tag}_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def redis_prefix(tag: str) -> Iterator[str]:
    """A Redis key prefix of its own; its keys are deleted afterwards."""
    import redis

    prefix = f"stw-{tag}-{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            for key in client.scan_iter(match=f"{prefix}*", count=500):
                client.delete(key)
        finally:
            client.close()


@contextmanager
def simulator() -> Iterator[str]:
    """``steward simulate --port 0``; yields the URL it announces."""
    with child([sys.executable, "-m", "steward", "simulate", "--port", "0"], stdout=subprocess.PIPE,
               text=True) as proc:
        assert proc.stdout is not None
        found = ANNOUNCED.search(proc.stdout.readline())
        assert found, "steward simulate did not announce its address"
        yield found.group(1)


@dataclass
class Host:
    url: str
    proc: subprocess.Popen[Any]
    log: Path  # its stderr: the access log and Steward's own log lines


@contextmanager
def serve(env: dict[str, str], home: Path, *, workers: int = 1, timeout: float = 90.0) -> Iterator[Host]:
    """``steward serve`` on a free port with ``STEWARD_HOME=home``, until ``/readyz`` answers 200."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "serve.log"
    with open(log, "wb") as sink, child([sys.executable, "-m", "steward", "serve", "--port", str(port), "--workers",
                                        str(workers)], env={**env, "STEWARD_HOME": str(home)},
                                       stdout=sink, stderr=subprocess.STDOUT) as proc:
        host = Host(f"http://127.0.0.1:{port}", proc, log)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{host.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, f"steward serve exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"steward serve not ready in {timeout} s: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        yield host


def admin(url: str, admin_key: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One Admin API call (what the doc's ``curl`` lines send); fails on any status but 200."""
    response = httpx.request(method, f"{url}{path}", json=body, timeout=30,
                             headers={"x-api-key": admin_key, "anthropic-version": "2023-06-01"})
    assert response.status_code == 200, response.text
    return response.json()


def last_line(out: str | IO[str]) -> str:
    text = out if isinstance(out, str) else out.read()
    return text.strip().splitlines()[-1].strip()
