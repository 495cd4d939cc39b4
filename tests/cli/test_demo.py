"""The README's first command runs the demo: it must keep working end to end (gateway, simulator, official SDK
traffic, limits, batch, usage table and audit trail), and it deletes its temporary home (which holds a master key)
on the way out, also when it is interrupted or terminated."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.support import child

DEMO = [sys.executable, "-m", "steward", "demo"]


def _env(columns: int) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("STEWARD_UPSTREAM_API_KEYS", None)  # always the simulator here
    return env


def _homes() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("steward-demo-*"))


def _wait_for(proc: subprocess.Popen[str], pattern: str, timeout: float = 180) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, proc.stderr.read()[-2000:] if proc.stderr else ""
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"{pattern!r} not printed within {timeout} s")


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    before = _homes()
    with child(DEMO, cwd=tmp_path, env=_env(200), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               text=True) as proc:
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-2000:]
    for expected in ("engineering: messages.create", "requests left this minute", "streamed event by event",
                     "stop_reason=tool_use", "prompt cache reads -> write 0", "refused -> 403",
                     "daily cap (beside the $500 monthly cap) reached",
                     "marketing's daily limit of $0.01",
                     "three-teams.yaml -> ", "tools + extended thinking allowed",
                     "tool use refused -> 403 features.tools",
                     "free text refused -> 400 features.structured_output",
                     "batch of 5 ended", "401 authentication_error", "Usage and cost by workspace",
                     "audit events", "steward serve", "/console/link/stw_link_"):
        assert expected in out, expected
    assert "sk-stw-api01-" not in out  # the demo never prints a secret
    assert _homes() == before  # its home is gone


def test_demo_serve_keeps_the_console_link_usable(tmp_path: Path) -> None:
    """`steward demo --serve`: the printed one-time link signs in to a live console; Ctrl-C ends it cleanly and
    deletes the demo's home."""
    with child([*DEMO, "--serve"], stop=signal.SIGINT, cwd=tmp_path, env=_env(400), stdout=subprocess.PIPE,
               stderr=subprocess.PIPE, text=True) as proc:
        home = Path(_wait_for(proc, r"SQLite at (\S+?)\)").group(1))
        link = _wait_for(proc, r"(http://127\.0\.0\.1:\d+/console/link/stw_link_\S+)").group(1)
        assert home.is_dir()
        with httpx.Client(follow_redirects=True, timeout=10) as browser:
            landing = browser.get(link)  # a page with a button: link scanners that only GET do not use it up
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', landing.text)
            assert landing.status_code == 200 and csrf, landing.text[:500]
            page = browser.post(link, data={"csrf_token": csrf.group(1)})
            assert page.status_code == 200 and "Dashboard" in page.text, page.text[:500]
            again = browser.post(link, data={"csrf_token": csrf.group(1)})
            assert "Dashboard" not in again.text  # once only
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "Demo data deleted" in out
    assert not home.exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_demo_deletes_its_home(tmp_path: Path, stop: signal.Signals) -> None:
    with child(DEMO, cwd=tmp_path, env=_env(200), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               text=True) as proc:
        home = Path(_wait_for(proc, r"SQLite at (\S+?)\)").group(1))
        assert home.is_dir()
        proc.send_signal(stop)
        proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert not home.exists()
