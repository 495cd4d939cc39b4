"""A gateway whose sealer runs every 0.1 s and checkpoints every 0.2 s, so tests see sealed chains quickly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway


@pytest.fixture
def audited(database_url: str, simulator: SimulatorServer, tmp_path: Path) -> Iterator[Gateway]:
    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY,
                       audit_seal_interval=0.1, audit_checkpoint_interval=0.2) as gw:
        yield gw
