"""The ledger under chaos (issue 12): concurrent plain, streaming, batch, full-audit, capped and poison requests
while a worker, the shipper and the whole server are SIGKILLed at random moments, the private Redis restarts
(PostgreSQL run) and the test's PostgreSQL database goes away for three seconds. Afterwards: every success the
client saw has exactly one usage record and one audit event, no request id has two, usage equals audit, batches
are metered once per item, rollups equal the raw rows, the hard cap held, the quarantine is empty and
`steward audit verify` passes. About 30 s of load per database; the seed is printed for a rerun
(STEWARD_CHAOS_SEED)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from steward.simulator.server import SimulatorServer
from tests.chaos_run import run
from tests.conftest import PG_ADMIN, UPSTREAM_KEY


@pytest.mark.timeout(240)
def test_ledger_survives_kills_and_outages(database_url: str, simulator: SimulatorServer, tmp_path: Path) -> None:
    seed = int(os.environ.get("STEWARD_CHAOS_SEED") or random.randrange(1_000_000))
    postgres = database_url.startswith("postgresql")
    report = run(database_url, simulator.url, UPSTREAM_KEY, tmp_path, seconds=25, rate=12, threads=6, kills=4,
                 seed=seed, admin_pg_url=PG_ADMIN, use_redis=postgres, workers=2 if postgres else 1)
    print(report.text())
    oks = sum(row["ok"] for row in report.summary.values())
    assert oks >= 50, report.text()  # the load really ran
    assert not report.problems, report.text()
