"""The README's first command runs the demo: it must keep working end to end (gateway, simulator, official SDK
traffic, limits, batch, usage table and audit trail)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("STEWARD_UPSTREAM_API_KEYS", None)  # always the simulator here
    done = subprocess.run([sys.executable, "-m", "steward", "demo"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    for expected in ("engineering: messages.create", "requests left this minute", "streamed event by event",
                     "stop_reason=tool_use", "prompt cache reads -> write 0", "refused -> 403",
                     "daily cap (beside the $500 monthly cap) reached",
                     "You have reached your specified workspace API usage limits",
                     "three-teams.yaml -> ", "tools + extended thinking allowed",
                     "tool use refused -> 403 features.tools",
                     "free text refused -> 400 features.structured_output",
                     "batch of 5 ended", "401 authentication_error", "Usage and cost by workspace",
                     "audit events", "steward serve", "/console/link/stw_link_"):
        assert expected in out, expected
    assert "sk-stw-api01-" not in out  # the demo never prints a secret


def test_demo_serve_keeps_the_console_link_usable(tmp_path: Path) -> None:
    """`steward demo --serve`: the printed one-time link signs in to a live console; Ctrl-C ends it cleanly."""
    import re
    import signal
    import time

    import httpx

    env = {**os.environ, "COLUMNS": "400"}
    env.pop("STEWARD_UPSTREAM_API_KEYS", None)
    proc = subprocess.Popen([sys.executable, "-m", "steward", "demo", "--serve"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        deadline, link = time.monotonic() + 180, None
        while link is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()[-2000:] if proc.stderr else ""
            found = re.search(r"(http://127\.0\.0\.1:\d+/console/link/stw_link_\S+)", line)
            link = found.group(1) if found else None
        assert link is not None
        with httpx.Client(follow_redirects=True, timeout=10) as browser:
            landing = browser.get(link)  # a page with a button: link scanners that only GET do not use it up
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', landing.text)
            assert landing.status_code == 200 and csrf, landing.text[:500]
            page = browser.post(link, data={"csrf_token": csrf.group(1)})
            assert page.status_code == 200 and "Dashboard" in page.text, page.text[:500]
            again = browser.post(link, data={"csrf_token": csrf.group(1)})
            assert "Dashboard" not in again.text  # once only
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "Demo data kept in" in out
