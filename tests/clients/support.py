"""The real clients under test: Claude Code and the TypeScript SDK from npm, pinned in package.json.

``make clients`` (a step of ``make test``) installs them with ``npm ci``; a test that cannot find them fails
and says so rather than skipping, so a green run always means the real clients ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
# `make test-latest` installs the newest releases into a copy of this folder and points here with this variable.
CLIENTS_DIR = Path(os.environ.get("STEWARD_CLIENTS_DIR", HERE))
NODE_MODULES = CLIENTS_DIR / "node_modules"
LATEST = "STEWARD_CLIENTS_DIR" in os.environ
# USD per million tokens of claude-sonnet-4-6, written out by hand, as pico-dollars per token.
SONNET = {"input": 3_000_000, "output": 15_000_000, "w5": 3_750_000, "w1h": 6_000_000, "read": 300_000}


def installed(package: str) -> str:
    """The installed version of an npm package: the pinned one, unless `make test-latest` chose the newest."""
    manifest = NODE_MODULES / package / "package.json"
    assert manifest.exists(), f"{package} is not installed: run `make clients` (npm ci --prefix tests/clients)"
    version = str(json.loads(manifest.read_text())["version"])
    pinned = str(json.loads((HERE / "package.json").read_text())["dependencies"][package])
    assert LATEST or version == pinned, f"{package} {version} is installed but {pinned} is pinned: run `make clients`"
    return version


def rows_where(gateway: Any, match: Callable[[Any], bool], expected: int, timeout: float = 20) -> list[Any]:
    """The usage rows ``match`` selects, once there are ``expected`` of them (or the timeout has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in gateway.usage() if match(r)]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def picousd(row: Any, prices: dict[str, int] = SONNET) -> int:
    """The exact cost of a usage row's tokens at ``prices``."""
    return (row.input_tokens * prices["input"] + row.output_tokens * prices["output"]
            + row.cache_write_5m_tokens * prices["w5"] + row.cache_write_1h_tokens * prices["w1h"]
            + row.cache_read_tokens * prices["read"])


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.stdout))


def run(command: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> Run:
    """Run a client to completion in its own process group (killed with the group on timeout)."""
    with subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except BaseException:
            os.killpg(process.pid, 9)
            process.communicate()
            raise
    return Run(process.returncode, out, err)


def base_env(home: Path) -> dict[str, str]:
    """A clean environment: no inherited Anthropic or OTEL settings, a private HOME."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
    return {name: os.environ[name] for name in keep if name in os.environ} | {"HOME": str(home)}
