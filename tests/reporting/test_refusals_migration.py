"""Migration 0017 on a real database (SQLite and PostgreSQL): the 0-token usage records that earlier versions wrote
for refused requests leave the usage table and the rollups, and the rollups then equal a recomputation from the
records that remain (what ``steward usage rebuild-rollups`` writes); forwarded requests, an upstream's own 4xx
among them, stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from alembic import command
from sqlalchemy import select

from steward.controlplane.principal import system_principal
from steward.dataplane.records import audit_event
from steward.governance.catalog_source import CatalogSource
from steward.reporting.rollups import RollupAccumulator
from steward.reporting.service import ReportService
from steward.storage.engine import Database
from steward.storage.migrate import alembic_config, upgrade
from steward.storage.models import UsageRecord, UsageRollup
from steward.storage.repositories.records import RecordsRepository
from steward.storage.repositories.reports import ReportsRepository
from tests.reporting.test_reports import CATALOG, ORG, T0, usage_rows

FORWARDED = usage_rows(120, seed=11)


def _zero(row: dict[str, Any], request_id: str, status: int) -> dict[str, Any]:
    """A usage record with nothing metered, as Steward wrote one for a request it refused (or an upstream 4xx)."""
    zero = {k: 0 for k in ("input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens",
                           "output_tokens", "thinking_tokens", "web_search_requests", "web_fetch_requests",
                           "code_execution_requests", "cost_picousd")}
    return {**row, **zero, "id": request_id, "request_id": request_id, "endpoint": "messages", "batch_id": None,
            "service_tier": None, "inference_geo": None, "stop_reason": None, "status": status, "complete": False,
            "pricing_version": None, "charged_picousd": None}


def _event(row: dict[str, Any], decision: str, status: int) -> dict[str, Any]:
    event = audit_event("api_call", created_at=row["created_at"].isoformat(), decision=decision,
                        reason="invalid_request_error: no" if decision == "refused" else "upstream returned 404",
                        data={"endpoint": "messages"}, org_id=ORG, request_id=row["request_id"],
                        workspace_id=row["workspace_id"], api_key_id=row["api_key_id"], status=status)
    return event | {"created_at": row["created_at"]}


REFUSED = [_zero(row, f"req_refused_{i}", 400 + i % 30) for i, row in enumerate(FORWARDED[::4])]
UPSTREAM_4XX = [_zero(row, f"req_upstream_{i}", 404) for i, row in enumerate(FORWARDED[1::10])]


async def _load(url: str) -> None:
    database = Database(url)
    records = RecordsRepository(database.sessions, database.dialect)

    def derive(rows: Any) -> list[dict[str, Any]]:  # the shipper's aggregation, refusals counted as before 0017
        return RollupAccumulator(CATALOG).extend(rows).rows()

    events = [_event(r, "refused", r["status"]) for r in REFUSED] + [
        _event(r, "allowed", 404) for r in UPSTREAM_4XX]
    try:
        await records.insert(FORWARDED + REFUSED + UPSTREAM_4XX, events, derive)
    finally:
        await database.close()


async def _state(url: str, rebuild: bool) -> tuple[set[str], dict[tuple[Any, ...], tuple[int, ...]]]:
    database = Database(url)
    table = UsageRollup.metadata.tables["usage_rollups"]
    key = [c.name for c in table.primary_key.columns]
    try:
        if rebuild:
            service = ReportService(ReportsRepository(database.sessions, database.dialect), CatalogSource(None))
            await service.rebuild(system_principal(ORG, "test"), T0.date(), (T0 + timedelta(days=2)).date())
        async with database.sessions() as session:
            ids = set((await session.execute(select(UsageRecord.id))).scalars())
            rollups = (await session.execute(select(table))).mappings().all()
    finally:
        await database.close()
    return ids, {tuple(r[k] for k in key): tuple(r[c.name] for c in table.columns if c.name not in key)
                 for r in rollups}


def test_migration_0017_takes_refusals_out_of_usage_and_rollups(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0016")
    asyncio.run(_load(database_url))
    ids, before = asyncio.run(_state(database_url, rebuild=False))
    assert len(ids) == len(FORWARDED + REFUSED + UPSTREAM_4XX)
    upgrade(database_url)
    kept = FORWARDED + UPSTREAM_4XX
    table = UsageRollup.metadata.tables["usage_rollups"]
    key = [c.name for c in table.primary_key.columns]
    expected = {tuple(r[k] for k in key): tuple(r[c.name] for c in table.columns if c.name not in key)
                for r in RollupAccumulator(CATALOG).extend(kept).rows()}
    ids, migrated = asyncio.run(_state(database_url, rebuild=False))
    assert ids == {r["id"] for r in kept}
    assert migrated != before and migrated == expected
    assert asyncio.run(_state(database_url, rebuild=True))[1] == expected  # a rebuild agrees with the migration
