"""The audit chain at volume: sealing throughput, the cost of a steady-state sealing round over a large trail,
full verification, export and the offline verifier.

Inserts EVENTS audit events as the shipper does (Core batch inserts), then times each phase.

    .venv/bin/python bench/audit_bench.py                      # SQLite, 200,000 events
    EVENTS=200000 DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/audit_bench.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from steward.compliance.chain import Chains, SigningKey
from steward.ids import new_id
from steward.storage.engine import Database
from steward.storage.migrate import upgrade
from steward.storage.models import Organization
from steward.storage.repositories.audit import AuditRepository
from steward.storage.repositories.records import RecordsRepository

ORG = "org-bench"


def _event(n: int, base: datetime) -> dict[str, Any]:
    return {"id": new_id("activity"), "created_at": base + timedelta(milliseconds=n), "org_id": ORG,
            "event": "api_call", "request_id": f"req_{n}", "workspace_id": "wrkspc_1", "api_key_id": "apikey_1",
            "actor": "apikey_1", "model": "claude-sonnet-4-6", "input_tokens": n % 5000, "output_tokens": 100,
            "tools_used": None, "stop_reason": "end_turn", "latency_ms": 40, "status": 200, "decision": "allowed",
            "reason": None, "data": {"endpoint": "messages", "stream": False, "cost_usd": "0.0012"}}


async def seed(database: Database, count: int, base: datetime) -> float:
    started = time.perf_counter()
    async with database.sessions.begin() as session:
        session.add(Organization(id=ORG, name="bench", created_at=base))
    records = RecordsRepository(database.sessions, database.dialect)
    for offset in range(0, count, 5000):
        await records.insert([], [_event(n, base) for n in range(offset, min(count, offset + 5000))])
    return time.perf_counter() - started


async def main(url: str, count: int, work: Path) -> None:
    database = Database(url)
    base = datetime.now(UTC) - timedelta(days=1)
    try:
        print(f"backend {database.dialect}, {count:,} events")
        print(f"insert (shipper path)        {await seed(database, count, base):8.2f} s")
        chains = Chains(AuditRepository(database.sessions, database.dialect),
                        SigningKey(Ed25519PrivateKey.generate()), batch_size=5000)
        started = time.perf_counter()
        sealed = await chains.seal_once()
        took = time.perf_counter() - started
        print(f"seal (first round, all)      {took:8.2f} s   {sealed / took:10,.0f} events/s")
        await chains.checkpoint(ORG, force=True)
        rounds = []
        for _ in range(5):  # steady state: nothing new; each round reads its window by the index
            started = time.perf_counter()
            await chains.seal_once()
            rounds.append(time.perf_counter() - started)
        print(f"idle round (30 s window)     {min(rounds) * 1000:8.2f} ms")
        started = time.perf_counter()
        result = await chains.verify(ORG)
        took = time.perf_counter() - started
        assert not result.problems, result.problems
        print(f"verify online                {took:8.2f} s   {result.checked / took:10,.0f} events/s")
        started = time.perf_counter()
        await chains.export(ORG, work / "bundle")
        print(f"export                       {time.perf_counter() - started:8.2f} s")
    finally:
        await database.close()


def offline(work: Path) -> None:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(work / "bundle" / "verify_offline.py"), str(work / "bundle")],
                          capture_output=True, text=True, check=True)
    print(f"verify offline               {time.perf_counter() - started:8.2f} s   {done.stdout.strip()[:60]}")


if __name__ == "__main__":
    events = int(os.environ.get("EVENTS", "200000"))
    with tempfile.TemporaryDirectory() as tmp:
        database_url = os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(database_url)
        asyncio.run(main(database_url, events, Path(tmp)))
        offline(Path(tmp))
