"""The ledger chaos run, longer: the CI test's load and kills (tests/e2e/test_ledger_chaos.py) for minutes instead
of seconds, on a fresh PostgreSQL database (with a private Redis for spend counters) or a SQLite file.

    .venv/bin/python bench/ledger_chaos.py --seconds 180 --rate 12 --kills 6            # PostgreSQL + Redis
    .venv/bin/python bench/ledger_chaos.py --database sqlite --seconds 180

Everything listens on 127.0.0.1; the load is bounded in time and count, every process is killed on exit, and the
database it created is dropped. Prints the outcome counts, the chaos timeline and any ledger problem (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos_run import run
from tests.support import PG_ADMIN, pg_execute

from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade

UPSTREAM_KEY = "sk-ant-upstream-bench-0123456789-secret"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--rate", type=float, default=12.0, help="Requests per second, about.")
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--kills", type=int, default=6, help="Worker, shipper and whole-server kills (at most 6).")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    with tempfile.TemporaryDirectory(prefix="ledger-chaos-") as tmp, \
            SimulatorServer(SimulatorConfig(api_key=UPSTREAM_KEY, batch_processing_seconds=0.3)) as simulator:
        name = f"steward_chaos_{uuid.uuid4().hex[:8]}"
        if args.database == "postgresql":
            asyncio.run(pg_execute(f'CREATE DATABASE "{name}"'))
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        else:
            url = f"sqlite+aiosqlite:///{tmp}/steward.db"
        try:
            upgrade(url)
            postgres = args.database == "postgresql"
            report = run(url, simulator.url, UPSTREAM_KEY, Path(tmp), seconds=args.seconds, rate=args.rate,
                         threads=args.threads, kills=args.kills, seed=seed, admin_pg_url=PG_ADMIN,
                         use_redis=postgres, workers=2 if postgres else 1)
        finally:
            if args.database == "postgresql":
                asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"database {args.database}, rate {args.rate}/s, {args.threads} threads")
    print(report.text())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
