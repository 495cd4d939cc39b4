"""Promises that need real processes: revocation across two gateways, and no lost records on SIGKILL."""

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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anthropic

from steward.serving import free_port
from steward.simulator.server import SimulatorServer
from tests.chaos import children, database_gone, pg_outage
from tests.conftest import UPSTREAM_KEY
from tests.support import PG_ADMIN, Gateway, gateway_settings, pg_execute, provision

BODY = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


@contextmanager
def serve(database_url: str, upstream: str, home: Path, workers: int = 1,
          **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    environ = {**os.environ, "STEWARD_HOME": str(home), "STEWARD_DATABASE_URL": database_url,
               "STEWARD_UPSTREAM_URL": upstream, "STEWARD_UPSTREAM_API_KEYS": f'["{UPSTREAM_KEY}"]',
               "STEWARD_LOG_LEVEL": "warning", **env}
    proc = subprocess.Popen([sys.executable, "-m", "steward", "serve", "--port", str(port), "--workers",
                             str(workers)], env=environ,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("steward serve did not start") from None
                time.sleep(0.05)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def _works(url: str, key: str) -> bool:
    with anthropic.Anthropic(base_url=url, api_key=key, max_retries=0) as client:
        try:
            client.messages.create(**BODY)  # type: ignore[arg-type]
            return True
        except anthropic.AuthenticationError:
            return False


def test_revoked_key_refused_by_every_process_within_a_second(  # one single-worker server, one with two
database_url: str, simulator: SimulatorServer,
                                                                tmp_path: Path) -> None:
    settings = gateway_settings(database_url, simulator.url, tmp_path / "h", UPSTREAM_KEY)
    gw: Gateway = provision(settings, {"eng": None})
    with serve(database_url, simulator.url, tmp_path / "a") as (url_a, _), \
            serve(database_url, simulator.url, tmp_path / "b", workers=2, STEWARD_REDIS_URL="redis://127.0.0.1:6379/0",
                  STEWARD_REDIS_KEY_PREFIX=f"stw-test-{uuid.uuid4().hex[:12]}:") as (url_b, _):
        key = gw.keys["eng"]
        assert _works(url_a, key) and _works(url_b, key)
        sent = {url_a: 1, url_b: 1}
        gw.control(lambda plane: plane.set_key_status(gw.key_ids["eng"], "archived"))
        revoked_at = time.monotonic()  # the change has committed
        # The promise: no request sent more than a second after the revocation is accepted. So what counts is when
        # the last accepted request was sent, not when a refusal came back (on a loaded machine a round trip alone
        # can take a good part of a second).
        pending = {url_a, url_b}
        last_accepted_sent = {url_a: 0.0, url_b: 0.0}
        while pending and time.monotonic() - revoked_at < 5:
            for url in list(pending):
                at = time.monotonic() - revoked_at
                sent[url] += 1
                if _works(url, key):
                    last_accepted_sent[url] = at
                else:
                    pending.discard(url)
            time.sleep(0.02)
        assert not pending, "a process kept accepting the revoked key"
        assert max(last_accepted_sent.values()) < 1.0, last_accepted_sent
        # /metrics of the two-worker server sums both workers, whichever answers (issue 13): every scrape counts
        # exactly the requests this test sent it (each worker alone has only its share).
        totals = [_requests_counted(url_b) for _ in range(6)]
        assert totals == [sent[url_b]] * 6, (totals, sent[url_b])


def _requests_counted(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("steward_requests_total{") and "/metrics" not in line)


def test_sigkill_under_load_loses_no_sent_response(database_url: str, simulator: SimulatorServer,
                                                   tmp_path: Path) -> None:
    settings = gateway_settings(database_url, simulator.url, tmp_path / "h", UPSTREAM_KEY)
    gw = provision(settings, {"eng": None})
    home = tmp_path / "gateway"
    completed: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(url: str) -> None:
        with anthropic.Anthropic(base_url=url, api_key=gw.keys["eng"], max_retries=0, timeout=5) as client:
            while not stop.is_set():
                try:
                    raw = client.messages.with_raw_response.create(**BODY)  # type: ignore[arg-type]
                except anthropic.APIError:
                    continue
                with lock:
                    completed.append(raw.headers["request-id"])

    # Ship rarely, so that most records are only in the journal when the process dies.
    with serve(database_url, simulator.url, home, STEWARD_JOURNAL_SHIP_INTERVAL="30") as (url, proc):
        threads = [threading.Thread(target=load, args=(url,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        while len(completed) < 300:
            time.sleep(0.01)
        # The whole process group: the server and its journal shipper die at once.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        for thread in threads:
            thread.join()
    sent = list(completed)
    # A new process on the same home adopts the journal and ships what the dead one left.
    with serve(database_url, simulator.url, home):
        rows = gw.wait_usage(sent, timeout=20)
        events = gw.wait_audit(sent, timeout=20)
    assert len(rows) == len(sent) == len({r.request_id for r in rows})
    assert {e.request_id for e in events} == set(sent)


def test_several_workers_without_redis_refuse_to_start(tmp_path: Path) -> None:
    """`steward serve --workers 4` without Redis counted every limit in each worker: a 20 RPM limit admitted 60 of
    a 300-request burst and a $0.01 hard cap reached $0.018. It now refuses to start, saying why."""
    env = {k: v for k, v in os.environ.items() if k != "STEWARD_REDIS_URL"}
    done = subprocess.run([sys.executable, "-m", "steward", "serve", "--workers", "4", "--port", str(free_port())],
                          env={**env, "STEWARD_HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2 and "without Redis" in done.stderr and "STEWARD_REDIS_URL" in done.stderr
    assert not (tmp_path / "steward.db").exists()  # refused before touching anything


def test_a_worker_replaced_during_a_database_outage_waits_for_it(pg_template: str, simulator: SimulatorServer,
                                                                  tmp_path: Path) -> None:
    """A worker that dies while the database is down is restarted by uvicorn into the outage; its start-up waits
    for the database (``STEWARD_STARTUP_DATABASE_WAIT``). Before, it failed, and uvicorn stops the whole server
    when a worker fails to start: a chaos run (seed 441207) lost its gateway and its shipper that way."""
    name = f"steward_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        gw = provision(gateway_settings(url, simulator.url, tmp_path / "h", UPSTREAM_KEY), {"eng": None})
        with serve(url, simulator.url, tmp_path / "a", workers=2, STEWARD_REDIS_URL="redis://127.0.0.1:6379/0",
                   STEWARD_REDIS_KEY_PREFIX=f"stw-test-{uuid.uuid4().hex[:12]}:") as (address, proc):
            assert _works(address, gw.keys["eng"])
            workers = [pid for pid, cmd in children(proc.pid) if b"spawn_main" in cmd]
            assert len(workers) == 2
            outage = threading.Thread(target=pg_outage, args=(PG_ADMIN, name, 4.0))
            outage.start()
            deadline = time.monotonic() + 10
            while not database_gone(name):  # renamed away: a worker started now meets the outage
                assert time.monotonic() < deadline, "the outage did not begin"
                time.sleep(0.05)
            os.kill(workers[0], signal.SIGKILL)
            outage.join()
            deadline = time.monotonic() + 60
            replaced: list[int] = []
            while len(replaced) < 1:  # uvicorn started another worker, still alive, not the killed one
                assert proc.poll() is None, "the server exited: a worker failed to start during the outage"
                replaced = [pid for pid, cmd in children(proc.pid) if b"spawn_main" in cmd and pid not in workers]
                assert time.monotonic() < deadline, "no worker replaced the killed one"
                time.sleep(0.1)
            answered = 0
            while answered < 20:  # both workers serve again (connections land on either)
                assert proc.poll() is None, "the server exited after the outage"
                if _works(address, gw.keys["eng"]):
                    answered += 1
                else:
                    raise AssertionError("a known key was refused after the outage")
            assert proc.poll() is None
    finally:
        asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_serve_waits_for_a_database_that_comes_up_after_it(pg_template: str, simulator: SimulatorServer,
                                                           tmp_path: Path) -> None:
    """At boot PostgreSQL may start after Steward: `steward serve` waits for it (STEWARD_STARTUP_DATABASE_WAIT)
    instead of exiting with a traceback; a database that never answers is one clear line and exit code 1."""
    name = f"steward_t_{uuid.uuid4().hex[:12]}"
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    environ = {**os.environ, "STEWARD_HOME": str(tmp_path / "never"), "STEWARD_DATABASE_URL": url,
               "STEWARD_UPSTREAM_URL": simulator.url, "STEWARD_STARTUP_DATABASE_WAIT": "1"}
    gave_up = subprocess.run([sys.executable, "-m", "steward", "serve", "--port", str(free_port())], env=environ,
                             capture_output=True, text=True, timeout=60, check=False)
    assert gave_up.returncode == 1, gave_up.stderr
    assert "was not available within 1 s (STEWARD_STARTUP_DATABASE_WAIT)" in gave_up.stderr
    assert "create the database" in gave_up.stderr  # it said "does not exist": what to do about it
    assert "Traceback" not in gave_up.stderr

    def create_later() -> None:
        time.sleep(2.0)
        asyncio.run(pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))

    creator = threading.Thread(target=create_later)
    creator.start()
    try:
        with serve(url, simulator.url, tmp_path / "a") as (address, proc):  # waits up to 30 s for /healthz
            creator.join()
            gw = provision(gateway_settings(url, simulator.url, tmp_path / "h", UPSTREAM_KEY), {"eng": None})
            deadline = time.monotonic() + 10
            while not _works(address, gw.keys["eng"]):  # a key made after start: known once polled or checked
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert proc.poll() is None
    finally:
        creator.join()
        asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
