"""The CLI as a new user runs it: init, workspaces, keys (secret printed once), usage and audit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import run_steward


def steward(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_steward(*args, env={**os.environ, "STEWARD_HOME": str(home), "COLUMNS": "200"})


def test_init_workspaces_keys(tmp_path: Path) -> None:
    assert "Created organization" in steward(tmp_path, "init", "--name", "Acme").stdout
    assert "Already initialised" in steward(tmp_path, "init").stdout
    assert "Created workspace eng" in steward(tmp_path, "workspaces", "create", "eng").stdout
    duplicate = steward(tmp_path, "workspaces", "create", "eng")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    created = steward(tmp_path, "keys", "create", "--workspace", "eng", "--name", "ml-prod-inference")
    assert created.returncode == 0
    secret = next(line for line in created.stdout.splitlines() if line.startswith("sk-stw-api01-"))
    listing = steward(tmp_path, "keys", "list")
    assert "ml-prod-inference" in listing.stdout and secret not in listing.stdout
    assert "active" in listing.stdout
    key_id = next(w for w in listing.stdout.split() if w.startswith("apikey_"))
    assert "status archived" in steward(tmp_path, "keys", "revoke", key_id).stdout
    missing = steward(tmp_path, "keys", "create", "--workspace", "nope", "--name", "x-y-z")
    assert missing.returncode == 1 and "No workspace" in missing.stderr
    assert "Usage and cost" in steward(tmp_path, "usage").stdout
    assert "audit events" in steward(tmp_path, "audit", "tail").stdout


def test_help_lists_the_commands(tmp_path: Path) -> None:
    """Through the real entry point (``python -m steward``), not the fork server."""
    env = {**os.environ, "STEWARD_HOME": str(tmp_path), "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "steward", "--help"], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    for command in ("init", "workspaces", "keys", "serve", "ship", "simulate", "demo", "usage", "audit"):
        assert command in out
