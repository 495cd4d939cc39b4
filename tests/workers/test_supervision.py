"""`steward serve` restarts a killed `steward ship` (logged, with backoff) and stops it on exit: real processes."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

from steward.serving import free_port
from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import child


def shippers(pid: int) -> list[int]:
    """The `steward ship` children of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for kid in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if b"steward.workers.ship_process" in cmdline or b"ship" in cmdline:
                found.append(int(kid))
    return found


def wait_for(condition: object, timeout: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_serve_restarts_a_killed_shipper_and_stops_it_on_exit(database_url: str, simulator: SimulatorServer,
                                                              tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "STEWARD_HOME": str(tmp_path / "home"), "STEWARD_DATABASE_URL": database_url,
           "STEWARD_UPSTREAM_URL": simulator.url, "STEWARD_UPSTREAM_API_KEYS": f'["{UPSTREAM_KEY}"]',
           "STEWARD_LOG_LEVEL": "warning"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out, child([sys.executable, "-m", "steward", "serve", "--port", str(port)], env=env,
                                      stdout=out, stderr=out) as serve:
        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return True
            except OSError:
                assert serve.poll() is None, log.read_text()
                return False

        wait_for(up, 30)
        wait_for(lambda: len(shippers(serve.pid)) == 1, 10)
        [first] = shippers(serve.pid)
        os.kill(first, signal.SIGKILL)  # only the process we found as our server's child
        wait_for(lambda: shippers(serve.pid) not in ([], [first]), 10)
        [second] = shippers(serve.pid)
        assert second != first
        text = log.read_text()
        assert f"steward ship (pid {first}) exited with code -9; restarting it in 1 s (restart 1)" in text, text
        assert "restarted (pid" in text

        os.kill(second, signal.SIGKILL)  # the second death waits twice as long (backoff)
        wait_for(lambda: "restarting it in 2 s (restart 2)" in log.read_text(), 10)
        wait_for(lambda: len(shippers(serve.pid)) == 1, 10)
        [third] = shippers(serve.pid)

        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        wait_for(lambda: not alive(third), 10)  # stopped with the server
