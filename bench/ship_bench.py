"""What the background process costs per request: shipping journal lines (usage + audit rows, rollups) and
sealing the audit chain, measured apart, on SQLite (a temp file) or PostgreSQL (``DATABASE_URL``).

The data-plane worker only appends a journal line per request; everything else happens here, in ``steward ship``.
On one core (as bench/run.sh pins the whole process tree) this work is taken from the worker's throughput, so
it is worth knowing per request. "ship + rollups + seal" is what `steward ship` does per request (its batches'
events sealed in the batch's transaction); "seal" is the sealer on events queued by other writers.

    .venv/bin/python bench/ship_bench.py                       # SQLite, 20,000 requests
    RECORDS=20000 DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/ship_bench.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from steward.compliance.chain import Chains, SigningKey, sealing_for
from steward.ids import new_id
from steward.storage.engine import Database
from steward.storage.migrate import upgrade
from steward.storage.models import Organization
from steward.storage.repositories.audit import AuditRepository
from steward.storage.repositories.records import RecordsRepository
from steward.workers.journal import Journal
from steward.workers.shipper import Shipper

ORG = "org-bench"


def _record(n: int) -> dict[str, Any]:
    """One request's journal line, shaped as stages/record.py writes it."""
    rid = new_id("req")
    at = datetime.now(UTC).isoformat()
    usage = {"id": rid, "request_id": rid, "created_at": at, "org_id": ORG, "workspace_id": f"wrkspc_{n % 4}",
             "api_key_id": f"apikey_{n % 20}", "user_id": f"user-{n % 50}", "tags": {"team": "search"},
             "endpoint": "messages", "model": "claude-sonnet-4-6", "batch_id": None, "input_tokens": 152,
             "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "cache_read_tokens": 0, "output_tokens": 48,
             "thinking_tokens": 0, "web_search_requests": 0, "web_fetch_requests": 0, "code_execution_requests": 0,
             "service_tier": "standard", "inference_geo": "global", "stop_reason": "end_turn", "tools_used": None,
             "status": 200, "complete": True, "latency_ms": 3, "ttft_ms": None, "cost_picousd": 1176000000,
             "pricing_version": "2026-11-01", "claude_code_session_id": None,
             "cost_split": [456000000, 720000000, 0, 0, 0, 0]}
    audit = {"id": new_id("activity"), "created_at": at, "event": "api_call", "org_id": ORG, "request_id": rid,
             "workspace_id": usage["workspace_id"], "api_key_id": usage["api_key_id"], "actor": usage["api_key_id"],
             "model": "claude-sonnet-4-6", "input_tokens": 152, "output_tokens": 48, "tools_used": None,
             "stop_reason": "end_turn", "latency_ms": 3, "status": 200, "decision": "allowed", "reason": None,
             "data": {"endpoint": "messages", "stream": False, "upstream_request_id": "req_up", "complete": True,
                      "cost_usd": "0.001176", "user_id": usage["user_id"], "tags": usage["tags"],
                      "policy": {"version": 3, "rule": None}}}
    return {"audit": audit, "usage": usage}


async def _run(url: str, records: int, home: Path) -> dict[str, float]:
    db = Database(url)
    try:
        async with db.sessions.begin() as session:
            session.add(Organization(id=ORG, name=ORG, created_at=datetime.now(UTC)))
        repo = RecordsRepository(db.sessions, db.dialect)
        out: dict[str, float] = {}
        chains = Chains(AuditRepository(db.sessions, db.dialect), SigningKey.load(None, home, []))

        async def seal() -> None:  # the sealer, on events queued by other writers (the first two cases seal nothing)
            start, cpu = time.perf_counter(), time.process_time()
            sealed = await chains.seal_once()
            out["seal"] = (time.perf_counter() - start) / max(sealed, 1) * 1e6
            out["seal (CPU)"] = (time.process_time() - cpu) / max(sealed, 1) * 1e6

        cases = (("ship, no rollups", False, False), ("ship, with rollups", True, False), ("seal", False, False),
                 ("ship + rollups + seal", True, True))
        for label, rollups, sealing in cases:
            if label == "seal":
                await seal()
                continue
            journal_dir = home / label.replace(" ", "_").replace(",", "").replace("+", "")
            journal = Journal(journal_dir)
            for n in range(records):
                journal.append(_record(n))
            journal.close()
            # "+ seal": what `steward ship` does, the batch's events sealed in its own transaction
            shipper = Shipper(journal_dir, repo, interval=0.2, batch_size=1000,
                              sealing=sealing_for if sealing else None)
            if not rollups:
                shipper._rollups = None  # type: ignore[assignment,method-assign]
            start, cpu = time.perf_counter(), time.process_time()
            await shipper.ship_once()
            out[label] = (time.perf_counter() - start) / records * 1e6
            out[f"{label} (CPU)"] = (time.process_time() - cpu) / records * 1e6
            shipper.release()
        return out
    finally:
        await db.close()


def main() -> None:
    records = int(os.environ.get("RECORDS", "20000"))
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{tmp}/ship.db"
        upgrade(url)
        results = asyncio.run(_run(url, records, Path(tmp)))
    print(f"# {records} requests, {url.split('://')[0]}")
    for label, value in results.items():
        print(f"{label:22s} {value:8.1f} µs per request")


if __name__ == "__main__":
    main()
