"""Console fixtures: a real gateway on SQLite for the browser tests (they run on one backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway


@pytest.fixture
def sqlite_gateway(simulator: SimulatorServer, tmp_path: Path) -> Iterator[Gateway]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    with start_gateway(url, simulator.url, tmp_path / "home", UPSTREAM_KEY) as gw:
        yield gw
