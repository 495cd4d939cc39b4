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
