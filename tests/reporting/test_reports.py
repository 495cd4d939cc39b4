"""Rollups and reports over a real database (SQLite and PostgreSQL): usage shipped in several batches (with a
replay) gives exactly the rollups a recomputation from raw rows gives; the reports' totals equal the usage
records; every group_by and filter; empty buckets; the raw-row path agrees with the rollups; narrowing."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from steward.controlplane.principal import Principal, system_principal
from steward.errors import PermissionDeniedError
from steward.governance.catalog import Catalog
from steward.governance.catalog_source import CatalogSource
from steward.governance.pricing import cost_split, price
from steward.governance.usage import Usage
from steward.reporting.params import CostQuery, UsageQuery
from steward.reporting.rollups import RollupAccumulator
from steward.reporting.service import ReportService
from steward.storage.engine import Database
from steward.storage.models import UsageRollup
from steward.storage.repositories.records import RecordsRepository
from steward.storage.repositories.reports import ReportsRepository

ORG = "org_reports"
T0 = datetime(2026, 8, 1, tzinfo=UTC)
CATALOG = Catalog.load_default()
MODELS = ["claude-sonnet-4-6", "claude-haiku-4-5-20251001", "claude-opus-4-6"]
WORKSPACES = ["wrkspc_a", "wrkspc_b", "wrkspc_c"]


def usage_rows(count: int = 400, seed: int = 3) -> list[dict[str, Any]]:
    """Shipper-style usage rows over three days: cache writes 5m/1h and reads, long context, batch, web search."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        batch = rng.random() < 0.15
        model = rng.choice(MODELS)
        at = T0 + timedelta(seconds=rng.randrange(3 * 86_400))
        usage = Usage(input_tokens=rng.choice([120, 5_000, 210_000]), output_tokens=rng.randint(1, 3_000),
                      cache_write_5m=rng.choice([0, 0, 2_048]), cache_write_1h=rng.choice([0, 0, 0, 1_024]),
                      cache_read=rng.choice([0, 4_096]), web_search_requests=rng.choice([0, 0, 0, 2]),
                      service_tier="batch" if batch else rng.choice(["standard", "standard", "priority"]),
                      inference_geo=rng.choice(["global", "us"]))
        cost = price(CATALOG, model, usage, at=at, batch=batch).total
        rows.append({
            "id": f"req_{seed}_{i:05d}", "request_id": f"req_{seed}_{i:05d}", "created_at": at, "org_id": ORG,
            "workspace_id": rng.choice(WORKSPACES), "api_key_id": f"apikey_{rng.randrange(6)}",
            "user_id": rng.choice([None, "alice", "bob"]),
            "tags": rng.choice([None, {"team": "search"}, {"team": "ads", "feature": "summaries"}]),
            "endpoint": "batch_result" if batch else "messages", "model": model,
            "batch_id": "msgbatch_1" if batch else None, "input_tokens": usage.input_tokens,
            "cache_write_5m_tokens": usage.cache_write_5m, "cache_write_1h_tokens": usage.cache_write_1h,
            "cache_read_tokens": usage.cache_read, "output_tokens": usage.output_tokens,
            "thinking_tokens": 0, "web_search_requests": usage.web_search_requests, "web_fetch_requests": 0,
            "code_execution_requests": rng.choice([0, 1]), "service_tier": usage.service_tier,
            "inference_geo": usage.inference_geo, "stop_reason": rng.choice(["end_turn", "tool_use", "max_tokens"]),
            "tools_used": None, "status": 200, "complete": True, "latency_ms": 10, "ttft_ms": None,
            "cost_picousd": int(cost * 10**12), "pricing_version": CATALOG.version,
            "claude_code_session_id": None})
    return rows


ROWS = usage_rows()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def loaded(database_url: str) -> Iterator[str]:
    """The rows shipped the shipper's way: four batches, the second shipped twice (a replay)."""
    async def load() -> None:
        database = Database(database_url)
        records = RecordsRepository(database.sessions, database.dialect)

        def derive(rows: Any) -> list[dict[str, Any]]:
            return RollupAccumulator(CATALOG).extend(rows).rows()

        try:
            for start in (0, 100, 100, 200, 300):
                await records.insert(ROWS[start:start + 100], [], derive)
        finally:
            await database.close()
    run(load())
    yield database_url


async def _with_service(url: str, action: Any) -> Any:
    database = Database(url)
    try:
        return await action(ReportService(ReportsRepository(database.sessions, database.dialect), CatalogSource(None)),
                            database)
    finally:
        await database.close()


async def _stored_rollups(database: Database) -> dict[tuple[Any, ...], tuple[int, ...]]:
    table = UsageRollup.metadata.tables["usage_rollups"]
    async with database.sessions() as session:
        result = (await session.execute(select(table))).mappings().all()
    key = [c.name for c in table.primary_key.columns]
    return {tuple(r[k] for k in key): tuple(r[c.name] for c in table.columns if c.name not in key) for r in result}


def _expected_rollups() -> dict[tuple[Any, ...], tuple[int, ...]]:
    table = UsageRollup.metadata.tables["usage_rollups"]
    key = [c.name for c in table.primary_key.columns]
    return {tuple(r[k] for k in key): tuple(r[c.name] for c in table.columns if c.name not in key)
            for r in RollupAccumulator(CATALOG).extend(ROWS).rows()}


def test_rollups_equal_a_recomputation_from_raw_rows_and_rebuild_changes_nothing(loaded: str) -> None:
    async def action(service: ReportService, database: Database) -> None:
        assert await _stored_rollups(database) == _expected_rollups()
        days, records, _ = await service.rebuild(system_principal(ORG, "test"), T0.date(),
                                                 (T0 + timedelta(days=2)).date())
        assert (days, records) == (3, len(ROWS))
        assert await _stored_rollups(database) == _expected_rollups()
    run(_with_service(loaded, action))


def test_cost_split_reconciles_with_each_record() -> None:
    for row in RollupAccumulator(CATALOG).extend(ROWS).rows():
        parts = [row[m] for m in ("cost_input_picousd", "cost_output_picousd", "cost_cache_write_5m_picousd",
                                  "cost_cache_write_1h_picousd", "cost_cache_read_picousd", "cost_web_search_picousd")]
        assert sum(parts) == row["cost_picousd"]
    one = RollupAccumulator(CATALOG, {"all": (("model",), ("1d",))}).extend(
        [r for r in ROWS if r["cache_write_1h_tokens"] and r["web_search_requests"]][:1]).rows()[0]
    assert one["cost_cache_write_1h_picousd"] > 0 and one["cost_web_search_picousd"] > 0


def test_the_meters_cost_split_is_taken_as_it_is_and_a_wrong_one_priced_again() -> None:
    """The meter writes each record's split (pricing.cost_split) into the journal; the rollups take it when it sums
    to the record's cost, else price the record again: one split, whoever computed it."""
    lines = ("cost_input_picousd", "cost_output_picousd", "cost_cache_write_5m_picousd", "cost_cache_write_1h_picousd",
             "cost_cache_read_picousd", "cost_web_search_picousd")
    row = next(r for r in ROWS if r["cache_write_1h_tokens"] and r["web_search_requests"] and not r["batch_id"])
    usage = Usage(input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
                  cache_write_5m=row["cache_write_5m_tokens"], cache_write_1h=row["cache_write_1h_tokens"],
                  cache_read=row["cache_read_tokens"], web_search_requests=row["web_search_requests"],
                  service_tier=row["service_tier"], inference_geo=row["inference_geo"])
    meter = cost_split(price(CATALOG, row["model"], usage, at=row["created_at"]), row["cost_picousd"])

    def split(extra: dict[str, Any]) -> list[int]:
        out = RollupAccumulator(CATALOG, {"all": (("model",), ("1d",))}).extend([row | extra]).rows()[0]
        return [out[name] for name in lines]

    assert split({}) == meter  # priced again, as before
    moved = [meter[0] - 5, meter[1] + 5, *meter[2:]]  # a different split of the same total: taken as it is
    assert split({"cost_split": moved}) == moved
    assert split({"cost_split": [meter[0] + 1, *meter[1:]]}) == meter  # does not sum to the cost: priced again
    assert sum(meter) == row["cost_picousd"] and all(part > 0 for part in (meter[0], meter[1], meter[3], meter[5]))


def _totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {"uncached_input_tokens": sum(r["input_tokens"] for r in rows),
            "cache_5m": sum(r["cache_write_5m_tokens"] for r in rows),
            "cache_1h": sum(r["cache_write_1h_tokens"] for r in rows),
            "cache_read_input_tokens": sum(r["cache_read_tokens"] for r in rows),
            "output_tokens": sum(r["output_tokens"] for r in rows),
            "web_search_requests": sum(r["web_search_requests"] for r in rows)}


def _report_totals(page: dict[str, Any]) -> dict[str, int]:
    results = [r for bucket in page["data"] for r in bucket["results"]]
    return {"uncached_input_tokens": sum(r["uncached_input_tokens"] for r in results),
            "cache_5m": sum(r["cache_creation"]["ephemeral_5m_input_tokens"] for r in results),
            "cache_1h": sum(r["cache_creation"]["ephemeral_1h_input_tokens"] for r in results),
            "cache_read_input_tokens": sum(r["cache_read_input_tokens"] for r in results),
            "output_tokens": sum(r["output_tokens"] for r in results),
            "web_search_requests": sum(r["server_tool_use"]["web_search_requests"] for r in results)}


GROUPINGS = [[], ["workspace_id", "model"], ["api_key_id"], ["service_tier", "context_window", "inference_geo"],
             ["account_id", "service_account_id"], ["user_id", "stop_reason"], ["tag:team", "feature"], ["speed"]]


@pytest.mark.parametrize("width", ["1d", "1h", "1m"])
def test_every_grouping_totals_the_usage_records(loaded: str, width: str) -> None:
    limits = {"1d": 3, "1h": 72, "1m": 1440}
    async def action(service: ReportService, _: Database) -> None:
        who = system_principal(ORG, "test")
        for group in GROUPINGS:
            if width == "1m" and group != ["workspace_id", "model"]:
                continue  # minute buckets read raw rows: one grouping proves the path, the rest is slow
            query = UsageQuery.build(T0, T0 + timedelta(days=1 if width == "1m" else 3), width, limits[width],
                                     None, group, {})
            page = await service.messages(who, query)
            rows = [r for r in ROWS if r["created_at"] < query.window.end]
            assert _report_totals(page) == _totals(rows), (width, group)
            result = next(r for b in page["data"] for r in b["results"])
            assert set(result) >= {"api_key_id", "workspace_id", "model", "service_tier", "context_window",
                                   "inference_geo", "account_id", "service_account_id"}
            extra = {"user_id", "stop_reason", "team", "feature", "speed"} & set(result)
            assert extra == {query_group for query_group in query.group if query_group in
                             {"user_id", "stop_reason", "team", "feature", "speed"}}
    run(_with_service(loaded, action))


def test_groups_and_filters_select_the_right_rows(loaded: str) -> None:
    async def action(service: ReportService, _: Database) -> None:
        who = system_principal(ORG, "test")
        cases: list[tuple[dict[str, list[str]], Any]] = [
            ({"workspace_ids": ["wrkspc_a"]}, lambda r: r["workspace_id"] == "wrkspc_a"),
            ({"api_key_ids": ["apikey_1", "apikey_2"]}, lambda r: r["api_key_id"] in ("apikey_1", "apikey_2")),
            ({"models": [MODELS[0]]}, lambda r: r["model"] == MODELS[0]),
            ({"service_tiers": ["batch"]}, lambda r: r["service_tier"] == "batch"),
            ({"context_window": ["200k-1M"]}, lambda r: r["input_tokens"] > 200_000),
            ({"inference_geos": ["us"]}, lambda r: r["inference_geo"] == "us"),
            ({"user_ids": ["alice"]}, lambda r: r["user_id"] == "alice"),
            ({"stop_reasons": ["tool_use"]}, lambda r: r["stop_reason"] == "tool_use"),
            ({"teams": ["ads"]}, lambda r: (r["tags"] or {}).get("team") == "ads"),
            ({"features": ["summaries"]}, lambda r: (r["tags"] or {}).get("feature") == "summaries"),
            ({"account_ids": ["user_x"]}, lambda r: False),
        ]
        for filters, keep in cases:
            for width in ("1d", "1h"):
                query = UsageQuery.build(T0, T0 + timedelta(days=3), width, 72 if width == "1h" else 3, None,
                                         ["workspace_id"], filters)
                page = await service.messages(who, query)
                assert _report_totals(page) == _totals([r for r in ROWS if keep(r)]), (filters, width)
        grouped = await service.messages(who, UsageQuery.build(T0, T0 + timedelta(days=3), "1d", 3, None,
                                                               ["workspace_id", "model", "tag:team"], {}))
        for bucket in grouped["data"]:
            day = datetime.fromisoformat(bucket["starting_at"])
            for result in bucket["results"]:
                rows = [r for r in ROWS if day <= r["created_at"] < day + timedelta(days=1)
                        and r["workspace_id"] == result["workspace_id"] and r["model"] == result["model"]
                        and (r["tags"] or {}).get("team") == result["team"]]
                assert rows and result["output_tokens"] == sum(r["output_tokens"] for r in rows)
    run(_with_service(loaded, action))


def test_empty_buckets_are_listed(loaded: str) -> None:
    async def action(service: ReportService, _: Database) -> None:
        query = UsageQuery.build(T0 - timedelta(days=2), T0 + timedelta(days=5), "1d", 7, None, [], {})
        page = await service.messages(system_principal(ORG, "test"), query)
        assert [len(b["results"]) for b in page["data"]] == [0, 0, 1, 1, 1, 0, 0]
        assert page["data"][0] == {"starting_at": "2026-07-30T00:00:00Z", "ending_at": "2026-07-31T00:00:00Z",
                                   "results": []}
        assert page["has_more"] is False and page["next_page"] is None
    run(_with_service(loaded, action))


def test_cost_reports_reconcile_to_the_picodollar(loaded: str) -> None:
    total = sum(r["cost_picousd"] for r in ROWS)

    async def action(service: ReportService, _: Database) -> None:
        who = system_principal(ORG, "test")
        for group in ([], ["workspace_id"], ["description"], ["workspace_id", "description"]):
            page = await service.cost(who, CostQuery.build(T0, T0 + timedelta(days=3), 3, None, group))
            results = [r for b in page["data"] for r in b["results"]]
            assert sum(Decimal(r["amount"]) for r in results) == Decimal(total).scaleb(-10)
            assert all(r["currency"] == "USD" for r in results)
        page = await service.cost(who, CostQuery.build(T0, T0 + timedelta(days=3), 3, None, ["description"]))
        results = [r for b in page["data"] for r in b["results"]]
        assert {r["token_type"] for r in results} == {
            "uncached_input_tokens", "output_tokens", "cache_read_input_tokens",
            "cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens", None}
        assert {r["cost_type"] for r in results} == {"tokens", "web_search"}
        assert {r["service_tier"] for r in results} == {"standard", "batch"}
        assert {r["context_window"] for r in results} == {"0-200k", "200k-1M"}
        batch = sum(Decimal(r["amount"]) for r in results if r["service_tier"] == "batch")
        assert batch == Decimal(sum(r["cost_picousd"] for r in ROWS if r["batch_id"])).scaleb(-10)
        seed = await service.seed_cost(who, T0.date(), (T0 + timedelta(days=2)).date(), ["workspace", "model"])
        assert Decimal(seed["total_cost_usd"]) == Decimal(total).scaleb(-12)
        assert sum(Decimal(r["cost_usd"]) for r in seed["data"]) == Decimal(total).scaleb(-12)
        by_user = await service.seed_cost(who, T0.date(), (T0 + timedelta(days=2)).date(), ["user", "tag:team"])
        alice = sum(r["cost_picousd"] for r in ROWS if r["user_id"] == "alice"
                    and (r["tags"] or {}).get("team") == "ads")
        found = next(r for r in by_user["data"] if r["user_id"] == "alice" and r["team"] == "ads")
        assert Decimal(found["cost_usd"]) == Decimal(alice).scaleb(-12)
    run(_with_service(loaded, action))


def test_seed_usage_report_rows(loaded: str) -> None:
    async def action(service: ReportService, _: Database) -> None:
        report = await service.seed_usage(system_principal(ORG, "test"), T0.date(), (T0 + timedelta(days=2)).date(),
                                          ["model", "workspace"])
        assert report["group_by"] == ["model", "workspace_id"]
        for row in report["data"]:
            rows = [r for r in ROWS if r["model"] == row["model"] and r["workspace_id"] == row["workspace_id"]]
            assert row["requests"] == len(rows)
            assert row["cache_write_1h_tokens"] == sum(r["cache_write_1h_tokens"] for r in rows)
            assert row["code_execution_requests"] == sum(r["code_execution_requests"] for r in rows)
            assert Decimal(row["cost_usd"]) == Decimal(sum(r["cost_picousd"] for r in rows)).scaleb(-12)
        assert sum(r["requests"] for r in report["data"]) == len(ROWS)
        daily = await service.seed_usage(system_principal(ORG, "test"), T0.date(), T0.date(), ["day"])
        assert daily["data"] == [daily["data"][0]] and daily["data"][0]["day"] == "2026-08-01"
    run(_with_service(loaded, action))


def test_narrowed_callers_see_only_their_workspaces(loaded: str) -> None:
    member = Principal(org_id=ORG, role="developer", user_id="user_x", key_id=None,
                       memberships={"wrkspc_a": "workspace_admin", "wrkspc_b": "workspace_developer"})
    outsider = Principal(org_id=ORG, role="developer", user_id="user_y", key_id=None,
                         memberships={"wrkspc_b": "workspace_developer"})

    async def action(service: ReportService, _: Database) -> None:
        query = UsageQuery.build(T0, T0 + timedelta(days=3), "1d", 3, None, ["workspace_id"], {})
        page = await service.messages(member, query)
        assert {r["workspace_id"] for b in page["data"] for r in b["results"]} == {"wrkspc_a"}
        assert _report_totals(page) == _totals([r for r in ROWS if r["workspace_id"] == "wrkspc_a"])
        seed = await service.seed_cost(member, T0.date(), (T0 + timedelta(days=2)).date(), ["workspace"])
        assert [r["workspace_id"] for r in seed["data"]] == ["wrkspc_a"]
        with pytest.raises(PermissionDeniedError):
            await service.messages(member, UsageQuery.build(T0, None, None, None, None, None,
                                                            {"workspace_ids": ["wrkspc_b"]}))
        with pytest.raises(PermissionDeniedError):
            service.authorize(outsider)
    run(_with_service(loaded, action))


def test_paging_through_next_page_covers_every_bucket_once(loaded: str) -> None:
    async def action(service: ReportService, _: Database) -> None:
        who = system_principal(ORG, "test")
        starts, pages, page = [], [], None
        while True:
            query = UsageQuery.build(T0, T0 + timedelta(days=3), "1h", 30, page, ["model"], {})
            body = await service.messages(who, query)
            pages.append(body)
            starts += [b["starting_at"] for b in body["data"]]
            if not body["has_more"]:
                assert body["next_page"] is None
                break
            page = body["next_page"]
        assert len(pages) == 3 and [len(p["data"]) for p in pages] == [30, 30, 12]
        assert len(starts) == len(set(starts)) == 72
        merged = {"data": [b for p in pages for b in p["data"]]}
        assert _report_totals(merged) == _totals(ROWS)
    run(_with_service(loaded, action))
