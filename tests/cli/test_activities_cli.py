"""``steward compliance activities``: the activity feed's metadata from the command line, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support import run_steward


def steward(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_steward(*args, env={**os.environ, "STEWARD_HOME": str(home), "COLUMNS": "200"})


def test_activities_are_listed_filtered_and_paged(tmp_path: Path) -> None:
    assert steward(tmp_path, "init", "--name", "Acme").returncode == 0
    for name in ("eng", "ops"):
        assert steward(tmp_path, "workspaces", "create", name).returncode == 0
    page = json.loads(steward(tmp_path, "compliance", "activities", "--type", "admin.workspaces.create",
                              "--limit", "1", "--json").stdout)
    assert [a["type"] for a in page["data"]] == ["admin.workspaces.create"] and page["has_more"]
    rest = json.loads(steward(tmp_path, "compliance", "activities", "--type", "admin.workspaces.create",
                              "--cursor", page["next_cursor"], "--json").stdout)
    assert len(rest["data"]) == 1 and not rest["has_more"] and rest["data"][0]["id"] != page["data"][0]["id"]
    table = steward(tmp_path, "compliance", "activities").stdout
    assert "admin.organization.init" in table and "ops" in table  # workspace names, not ids
    assert "wrkspc_" not in table
    later = steward(tmp_path, "compliance", "activities", "--from", "2999-01-01", "--json")
    assert json.loads(later.stdout)["data"] == []
    bad = steward(tmp_path, "compliance", "activities", "--from", "yesterday")
    assert bad.returncode == 1 and "error: --from: not an RFC 3339 time or a day" in bad.stderr
