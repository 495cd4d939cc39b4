"""The gateway, the CLI and the simulator run without the ``client`` extra: ``anthropic`` is needed only by the
client helpers (``steward.RateLimitedClient``) and ``steward demo``. A fresh interpreter with ``anthropic``
blocked imports them, serves a request and runs a CLI command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import child

BLOCKED = """
import sys
sys.modules["anthropic"] = None  # any `import anthropic` now raises ImportError
"""

SERVE = BLOCKED + """
from pathlib import Path

import httpx

import steward
import steward.app
import steward.cli.main
from steward.serving import BackgroundServer
from steward.settings import Settings
from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade

home = Path(sys.argv[1])
with SimulatorServer(SimulatorConfig(api_key="sk-ant-x")) as sim:
    settings = Settings(home=home, upstream_url=sim.url, upstream_api_keys=["sk-ant-x"])
    upgrade(settings.resolved_database_url())
    with BackgroundServer(steward.app.create_app(settings)) as server:
        health = httpx.get(f"{server.url}/healthz")
        refused = httpx.get(f"{server.url}/v1/models", headers={"x-api-key": "sk-stw-api01-nope"})
print(health.status_code, refused.status_code, refused.json()["error"]["type"])
assert "anthropic" not in {name.split(".")[0] for name, module in sys.modules.items() if module is not None}
try:
    steward.RateLimitedClient
except ImportError:
    print("RateLimitedClient needs the client extra")
"""

CLI = BLOCKED + """
from steward.cli.main import main
main()
"""


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "STEWARD_HOME": str(tmp_path / "cli-home")}
    with child([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_the_gateway_serves_without_the_anthropic_sdk(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "-c", SERVE, str(tmp_path / "home"))
    assert code == 0, err[-3000:]
    assert out.splitlines() == ["200 401 authentication_error", "RateLimitedClient needs the client extra"]


def test_the_cli_runs_without_the_anthropic_sdk(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, "-c", CLI, "init", "--name", "Acme", "--admin-email", "admin@acme.example")
    assert code == 0, err[-3000:]
    code, _, err = _run(tmp_path, "-c", CLI, "workspaces", "list")
    assert code == 0, err[-3000:]
