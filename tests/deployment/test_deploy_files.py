"""The files of deploy/ and docs/deployment.md stay true: the env example names only real settings, and the
walk-through's steps are the ones tests/deployment/test_two_hosts.py runs."""

from __future__ import annotations

import re
from pathlib import Path

from steward.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_env_example_names_only_real_settings() -> None:
    names = [line.split("=", 1)[0] for line in (ROOT / "deploy" / "steward.env").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    known = {f"STEWARD_{field.upper()}" for field in Settings.model_fields}
    assert names and set(names) <= known, sorted(set(names) - known)
    for line in (ROOT / "deploy" / "steward.env").read_text().splitlines():
        # systemd's EnvironmentFile has no comments after a value: they would become part of it
        assert line.startswith("#") or "#" not in line, line


def test_the_walk_through_and_its_test_have_the_same_steps() -> None:
    doc = (ROOT / "docs" / "deployment.md").read_text()
    test = (ROOT / "tests" / "deployment" / "test_two_hosts.py").read_text()
    doc_steps = re.findall(r"^\*\*Step (\d+):", doc, re.MULTILINE)
    test_steps = re.findall(r"^\s+# Step (\d+):", test, re.MULTILINE)
    assert doc_steps == test_steps == [str(n) for n in range(1, 9)]


def test_the_unit_runs_serve_and_stops_it_alone() -> None:
    unit = (ROOT / "deploy" / "steward.service").read_text()
    assert re.search(r"^ExecStart=\S+/steward serve\b", unit, re.MULTILINE)
    assert "KillMode=mixed" in unit  # serve stops its shipper after the workers: their last lines are shipped
