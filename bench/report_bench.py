"""Report scale benchmark: 10 million generated requests over 31 days, then 31-day reports grouped by workspace
and model (Anthropic's messages usage and cost reports, and the seed's usage and cost reports), timed on
PostgreSQL and on SQLite.

Loading: raw usage rows go into ``usage_records`` in big batches (COPY on PostgreSQL, ``executemany`` on SQLite,
bypassing the journal: the shipper would take hours for 10M rows); rollups are computed by the production
aggregation (``steward.reporting.rollups.RollupAccumulator``, the code the shipper runs per batch) one day at a
time and written as plain rows. Generation is deterministic, so both backends hold the same data.

    .venv/bin/python bench/report_bench.py --backend postgresql --phase load   # minutes
    .venv/bin/python bench/report_bench.py --backend sqlite --phase time
    .venv/bin/python bench/report_bench.py --backend sqlite --phase ship --sqlite-path /tmp/ship.db  # shipper cost
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson

from steward.controlplane.principal import system_principal
from steward.governance.catalog import Catalog
from steward.governance.catalog_source import CatalogSource
from steward.governance.pricing import price
from steward.governance.usage import Usage
from steward.reporting.rollups import RollupAccumulator
from steward.storage.engine import Database
from steward.storage.migrate import upgrade
from steward.storage.models.rollups import DIMENSIONS, MEASURES
from steward.storage.repositories.records import RecordsRepository
from steward.storage.repositories.reports import ReportsRepository

ORG = "org_bench"
START = datetime(2026, 10, 1, tzinfo=UTC)
USAGE_COLUMNS = ("id", "request_id", "created_at", "org_id", "workspace_id", "api_key_id", "user_id", "tags",
                 "endpoint", "model", "batch_id", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
                 "cache_read_tokens", "output_tokens", "thinking_tokens", "web_search_requests",
                 "web_fetch_requests", "code_execution_requests", "service_tier", "inference_geo", "stop_reason",
                 "tools_used", "status", "complete", "latency_ms", "ttft_ms", "cost_picousd", "pricing_version",
                 "claude_code_session_id")
ROLLUP_COLUMNS = ("org_id", "width", "grain", "bucket_start", *DIMENSIONS, *MEASURES)


def to_picousd(amount: Decimal) -> int:
    """As the Meter stage does (``dataplane.stages.meter.to_picousd``)."""
    return int((amount * 10**12).to_integral_value(rounding=ROUND_HALF_EVEN))


class World:
    """~20 workspaces, ~2,000 keys (each with a team, features, a few users and models), 8 models."""

    def __init__(self, catalog: Catalog, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.catalog = catalog
        self.models = [m.id for m in catalog.models() if m.status == "active"][:8]
        self.keys = []
        for i in range(2000):
            ws = f"wrkspc_bench{rng.randrange(20):02d}"
            self.keys.append({
                "id": f"apikey_bench{i:05d}", "ws": ws, "team": f"team-{ws[-2:]}-{i % 3}",
                "features": [f"feature-{rng.randrange(12)}" for _ in range(2)],
                "users": [f"user-{rng.randrange(5000):05d}" for _ in range(3)],
                "models": rng.sample(self.models, rng.randint(1, 3))})
        self.templates = [self._template(rng) for _ in range(20_000)]
        self._costs: dict[tuple[str, int, bool], int] = {}

    @staticmethod
    def _template(rng: random.Random) -> dict[str, Any]:
        long = rng.random() < 0.02
        cached = rng.random() < 0.4
        return {"input_tokens": rng.randint(200_000, 400_000) if long else rng.randint(50, 20_000),
                "cache_write_5m_tokens": rng.randint(0, 4000) if cached else 0,
                "cache_write_1h_tokens": rng.randint(0, 2000) if cached and rng.random() < 0.3 else 0,
                "cache_read_tokens": rng.randint(0, 30_000) if cached else 0,
                "output_tokens": rng.randint(1, 4000), "thinking_tokens": 0,
                "web_search_requests": rng.randint(1, 3) if rng.random() < 0.03 else 0, "web_fetch_requests": 0,
                "code_execution_requests": 1 if rng.random() < 0.01 else 0,
                "inference_geo": "us" if rng.random() < 0.1 else "global",
                "stop_reason": rng.choices(["end_turn", "tool_use", "max_tokens", "stop_sequence"], [70, 20, 8, 2])[0]}

    def cost(self, model: str, index: int, batch: bool, at: datetime) -> int:
        key = (model, index, batch)
        if key not in self._costs:
            t = self.templates[index]
            usage = Usage(input_tokens=t["input_tokens"], output_tokens=t["output_tokens"],
                          cache_write_5m=t["cache_write_5m_tokens"], cache_write_1h=t["cache_write_1h_tokens"],
                          cache_read=t["cache_read_tokens"], web_search_requests=t["web_search_requests"],
                          service_tier="batch" if batch else "standard", inference_geo=t["inference_geo"])
            self._costs[key] = to_picousd(price(self.catalog, model, usage, at=at, batch=batch).total)
        return self._costs[key]

    def day(self, number: int, count: int) -> Iterator[dict[str, Any]]:
        """``count`` requests of day ``number``, in time order, as the shipper hands them over."""
        rng = random.Random(1000 + number)
        start = START + timedelta(days=number)
        offsets = sorted(rng.random() * 86_400 for _ in range(count))
        for i, offset in enumerate(offsets):
            key = self.keys[int(rng.paretovariate(1.2) * 37) % len(self.keys)]
            model = key["models"][rng.randrange(len(key["models"]))]
            index = rng.randrange(len(self.templates))
            batch = rng.random() < 0.05
            at = start + timedelta(seconds=offset)
            rid = f"req_bench{number:02d}{i:07d}"
            yield self.templates[index] | {
                "id": rid, "request_id": rid, "created_at": at, "org_id": ORG, "workspace_id": key["ws"],
                "api_key_id": key["id"], "user_id": key["users"][rng.randrange(3)],
                "tags": {"team": key["team"], "feature": key["features"][rng.randrange(2)]},
                "endpoint": "batch_result" if batch else "messages", "model": model,
                "batch_id": f"msgbatch_bench{number:02d}" if batch else None,
                "service_tier": "batch" if batch else ("priority" if rng.random() < 0.03 else "standard"),
                "tools_used": None, "status": 200, "complete": True, "latency_ms": 900, "ttft_ms": None,
                "cost_picousd": self.cost(model, index, batch, at), "pricing_version": self.catalog.version,
                "claude_code_session_id": None}


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


async def _load_postgresql(url: str, world: World, total: int, days: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for number in range(days):
            rows = list(world.day(number, total // days))
            records = [tuple(orjson.dumps(r[c]).decode() if c == "tags" else r[c] for c in USAGE_COLUMNS)
                       for r in rows]
            await conn.copy_records_to_table("usage_records", records=records, columns=USAGE_COLUMNS)
            rollups = RollupAccumulator(world.catalog).extend(rows).rows()
            await conn.copy_records_to_table("usage_rollups", records=[tuple(r[c] for c in ROLLUP_COLUMNS)
                                                                      for r in rollups], columns=ROLLUP_COLUMNS)
            print(f"day {number + 1}/{days}: {len(rows):,} requests, {len(rollups):,} rollup rows", flush=True)
        await conn.execute("ANALYZE usage_records; ANALYZE usage_rollups")
    finally:
        await conn.close()


def _load_sqlite(path: str, world: World, total: int, days: int) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    usage_sql = f"INSERT INTO usage_records ({','.join(USAGE_COLUMNS)}) VALUES ({','.join('?' * len(USAGE_COLUMNS))})"
    rollup_sql = (f"INSERT INTO usage_rollups ({','.join(ROLLUP_COLUMNS)}) "
                  f"VALUES ({','.join('?' * len(ROLLUP_COLUMNS))})")
    for number in range(days):
        rows = list(world.day(number, total // days))
        db.executemany(usage_sql, ([_sqlite_value(r[c]) for c in USAGE_COLUMNS] for r in rows))
        rollups = RollupAccumulator(world.catalog).extend(rows).rows()
        db.executemany(rollup_sql, ([_sqlite_value(r[c]) for c in ROLLUP_COLUMNS] for r in rollups))
        db.commit()
        print(f"day {number + 1}/{days}: {len(rows):,} requests, {len(rollups):,} rollup rows", flush=True)
    db.execute("ANALYZE")
    db.close()


async def _time(url: str, days: int, rounds: int) -> None:
    from steward.reporting.params import CostQuery, UsageQuery
    from steward.reporting.service import ReportService

    database = Database(url)
    service = ReportService(ReportsRepository(database.sessions, database.dialect), CatalogSource(None))
    who = system_principal(ORG, "bench")
    end = START + timedelta(days=days)
    cases = {
        "anthropic usage_report/messages (1d x 31, group_by workspace_id, model)": lambda: service.messages(
            who, UsageQuery.build(START, end, "1d", 31, None, ["workspace_id", "model"], {})),
        "anthropic cost_report (1d x 31, group_by workspace_id)": lambda: service.cost(
            who, CostQuery.build(START, end, 31, None, ["workspace_id"])),
        "anthropic cost_report (1d x 31, group_by workspace_id, description)": lambda: service.cost(
            who, CostQuery.build(START, end, 31, None, ["workspace_id", "description"])),
        "seed /v1/admin/usage/messages (31 days, group_by workspace,model)": lambda: service.seed_usage(
            who, START.date(), (end - timedelta(days=1)).date(), ["workspace", "model"]),
        "seed /v1/admin/usage/cost (31 days, group_by workspace,model)": lambda: service.seed_cost(
            who, START.date(), (end - timedelta(days=1)).date(), ["workspace", "model"]),
    }
    try:
        count, cost = await service.raw_totals(ORG, START, end)
        print(f"{url.split('://', maxsplit=1)[0]}: {count:,} usage records, ${cost / 10**12:,.2f}")
        for name, call in cases.items():
            await call()  # warm the caches, as a report page reloaded would be
            times = []
            for _ in range(rounds):
                began = time.perf_counter()
                await call()
                times.append((time.perf_counter() - began) * 1000)
            print(f"  {name}: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms ({rounds} runs)")
    finally:
        await database.close()


async def _ship(url: str, records: int, batch: int) -> None:
    """The shipper's insert with and without rollups, alternating, on records as a busy gateway ships them
    (2,000 requests per second, ``batch`` per transaction)."""
    world = World(Catalog.load_default())
    database = Database(url)
    repo = RecordsRepository(database.sessions, database.dialect)

    def derive(rows: Any) -> list[dict[str, Any]]:
        return RollupAccumulator(world.catalog).extend(rows).rows()

    results: dict[str, list[float]] = {"plain": [], "rollups": []}
    try:
        for run in range(4):
            label = "rollups" if run % 2 else "plain"
            rows = list(world.day(40 + run, records))
            for i, row in enumerate(rows):
                row["created_at"] = START + timedelta(days=40 + run, seconds=i / 2000)
            began = time.perf_counter()
            for start in range(0, len(rows), batch):
                await repo.insert(rows[start:start + batch], [], derive if label == "rollups" else None)
            results[label].append((time.perf_counter() - began) * 1e6 / len(rows))
    finally:
        await database.close()
    plain, rolled = min(results["plain"]), min(results["rollups"])
    print(f"{url.split('://', maxsplit=1)[0]} ship: {plain:.0f} us/record without rollups, {rolled:.0f} with "
          f"({rolled / plain:.1f}x), batches of {batch}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], required=True)
    parser.add_argument("--phase", choices=["load", "time", "all", "ship"], default="all")
    parser.add_argument("--requests", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/steward_bench_reports")
    parser.add_argument("--sqlite-path", default="/tmp/steward_bench_reports.db")
    args = parser.parse_args()
    url = args.pg_url if args.backend == "postgresql" else f"sqlite+aiosqlite:///{args.sqlite_path}"
    if args.phase == "ship":  # a fresh database: --pg-url / --sqlite-path of an empty one
        upgrade(url)
        asyncio.run(_ship(url, 20_000, 2000))
        return
    if args.phase in ("load", "all"):
        began = time.perf_counter()
        upgrade(url)
        world = World(Catalog.load_default())
        if args.backend == "postgresql":
            asyncio.run(_load_postgresql(args.pg_url, world, args.requests, args.days))
        else:
            _load_sqlite(args.sqlite_path, world, args.requests, args.days)
        print(f"loaded in {time.perf_counter() - began:.0f} s")
    if args.phase in ("time", "all"):
        asyncio.run(_time(url, args.days, args.rounds))


if __name__ == "__main__":
    main()
