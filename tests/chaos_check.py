"""The ledger checks after a chaos run, read from the database and through the CLI (``steward journal quarantine
list``, ``steward audit verify``) as an operator would.

``ledger_problems`` returns every violation as a sentence (an empty list is a pass), so that the test and the
benchmark report the same things: each request the client saw succeed has exactly one usage record and one
``api_call`` audit event, no request id has two of either, usage request ids equal audit request ids, every
batch is metered once per item, the rollups equal the aggregation of the raw rows, the hard-capped workspace
spent no more than its cap, the quarantine is empty and the audit chains verify once sealed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from steward.governance.catalog import Catalog
from steward.reporting.rollups import RollupAccumulator
from steward.storage.engine import Database
from steward.storage.models import AuditEvent, UsageRecord, UsageRollup
from steward.storage.repositories.reports import ReportsRepository
from tests.chaos_load import POISON, Outcome


@dataclass
class Ledger:
    usage: list[UsageRecord]
    audit: list[AuditEvent]
    stored_rollups: dict[tuple[Any, ...], tuple[Any, ...]]
    expected_rollups: dict[tuple[Any, ...], tuple[Any, ...]]


def read_ledger(database_url: str, org_id: str) -> Ledger:
    async def main() -> Ledger:
        database = Database(database_url)
        try:
            async with database.sessions() as session:
                usage = list((await session.execute(select(UsageRecord))).scalars().all())
                audit = list((await session.execute(select(AuditEvent).where(AuditEvent.event == "api_call")))
                             .scalars().all())
                table = UsageRollup.metadata.tables["usage_rollups"]
                stored = (await session.execute(select(table).where(table.c.org_id == org_id))).mappings().all()
            now = datetime.now(UTC)
            raw = await ReportsRepository(database.sessions, database.dialect).raw(
                org_id, now - timedelta(days=3), now + timedelta(days=3), {})
        finally:
            await database.close()
        key = [c.name for c in table.primary_key.columns]
        values = [c.name for c in table.columns if c.name not in key]

        def norm(v: Any) -> Any:
            return v.replace(tzinfo=None) if isinstance(v, datetime) else v

        def as_dict(rows: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
            return {tuple(norm(r[k]) for k in key): tuple(r[v] for v in values) for r in rows}
        return Ledger(usage, audit, as_dict(stored), as_dict(RollupAccumulator(Catalog.load_default())
                                                                .extend(raw).rows()))
    return asyncio.run(main())


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "steward", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def verify_when_sealed(env: dict[str, str], timeout: float = 30) -> tuple[int, dict[str, Any]]:
    """``steward audit verify --json`` once no chain has unsealed events (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        done = cli(env, "audit", "verify", "--json")
        try:
            result: dict[str, Any] = json.loads(done.stdout)
        except json.JSONDecodeError:
            result = {"stdout": done.stdout, "stderr": done.stderr[-2000:]}
        unsealed = sum(c.get("unsealed", 0) for c in result.get("chains", []))
        if (done.returncode == 0 and unsealed == 0) or time.monotonic() > deadline:
            return done.returncode, result
        time.sleep(1)


def wait_settled(database_url: str, org_id: str, expected: set[str], batches: int, timeout: float) -> Ledger:
    """The ledger once every ``expected`` request id has its usage record and every batch its two result rows."""
    deadline = time.monotonic() + timeout
    while True:
        ledger = read_ledger(database_url, org_id)
        have = {u.request_id for u in ledger.usage}
        metered = sum(1 for u in ledger.usage if u.batch_id is not None and u.endpoint == "batch_result")
        if (expected <= have and metered >= 2 * batches) or time.monotonic() > deadline:
            return ledger
        time.sleep(0.5)


def ledger_problems(outcomes: list[Outcome], ledger: Ledger, *, capped_workspace: str, cap_picousd: int,
                    quarantine: list[dict[str, Any]], verify: tuple[int, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    calls = [u for u in ledger.usage if u.endpoint != "batch_result"]
    usage_count = Counter(u.request_id for u in calls)
    audit_count = Counter(a.request_id for a in ledger.audit if a.request_id)
    for name, counts in (("usage records", usage_count), ("api_call audit events", audit_count)):
        twice = {rid: n for rid, n in counts.items() if n > 1}
        if twice:
            problems.append(f"{len(twice)} request ids have more than one of their {name}: {list(twice.items())[:5]}")
    ok = [o for o in outcomes if o.status == "ok"]
    missing_usage = [o for o in ok if not o.request_id or usage_count[o.request_id] != 1]
    missing_audit = [o for o in ok if not o.request_id or audit_count[o.request_id] != 1]
    if missing_usage:
        problems.append(f"{len(missing_usage)} of {len(ok)} successes lack their usage record: {missing_usage[:5]}")
    if missing_audit:
        problems.append(f"{len(missing_audit)} of {len(ok)} successes lack their audit event: {missing_audit[:5]}")
    # A request Steward answered itself (a poison value at the door, a spend cap, a gateway error) was never
    # forwarded: it has its audit event (decision refused or error) and no usage record.
    refused = {o.request_id for o in outcomes if o.status == "refused"} | {
        a.request_id for a in ledger.audit if a.decision in ("refused", "error")}
    kind_of: dict[str, str] = {o.request_id: f"{o.kind}/{o.status}/{o.code}" for o in outcomes if o.request_id}
    only_usage = set(usage_count) - set(audit_count)
    only_audit = set(audit_count) - set(usage_count) - refused
    if only_usage or only_audit:
        problems.append(f"usage and audit disagree: {len(only_usage)} ids only in usage "
                        f"({[(i, kind_of.get(i)) for i in sorted(only_usage)[:3]]}), {len(only_audit)} only in audit "
                        f"({[(i, kind_of.get(i)) for i in sorted(only_audit)[:3]]})")
    seen = {o.request_id for o in outcomes if o.request_id}
    blind = len([o for o in outcomes if o.status == "unknown" and o.request_id is None])
    strangers = set(usage_count) - seen
    if len(strangers) > blind:
        problems.append(f"{len(strangers)} usage records of requests the client never saw, but only {blind} "
                        f"requests failed before their headers: {sorted(strangers)[:5]}")
    for o in outcomes:
        if o.kind in POISON and o.status == "ok":
            problems.append(f"poison request {o.kind} was accepted ({o.request_id})")
    per_batch = Counter(u.batch_id for u in ledger.usage if u.endpoint == "batch_result")
    for o in outcomes:
        if o.batch_id and per_batch[o.batch_id] != 2:
            problems.append(f"batch {o.batch_id} has {per_batch[o.batch_id]} metered results, expected 2")
    if ledger.stored_rollups != ledger.expected_rollups:
        differ = {k for k in set(ledger.stored_rollups) | set(ledger.expected_rollups)
                  if ledger.stored_rollups.get(k) != ledger.expected_rollups.get(k)}
        problems.append(f"rollups differ from the raw rows in {len(differ)} rows, e.g. {sorted(differ, key=str)[:2]}")
    spent = sum(u.cost_picousd for u in ledger.usage if u.workspace_id == capped_workspace)
    if spent > cap_picousd:
        problems.append(f"the capped workspace spent {spent} pico-USD, over its hard cap of {cap_picousd}")
    if quarantine:
        problems.append(f"{len(quarantine)} journal lines quarantined: {quarantine[:3]}")
    code, result = verify
    unsealed = sum(c.get("unsealed", 0) for c in result.get("chains", []))
    if code != 0 or not result.get("valid") or unsealed:
        problems.append(f"steward audit verify exited {code} with {unsealed} unsealed: {json.dumps(result)[:1500]}")
    return problems
