"""Reports over HTTP after real traffic through the gateway (official SDK: prompt caching 5 m / 1 h, web search,
a message batch, tags and users): Anthropic's shapes, totals equal to the usage records (tokens and cost to the
pico-dollar), rollups equal to a recomputation from the raw rows, exports, narrowing and bad input."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from steward.controlplane.services import ControlPlane
from steward.governance.catalog import Catalog
from steward.reporting.rollups import RollupAccumulator
from steward.sdk import AdminClient
from steward.storage.models import UsageRollup
from steward.storage.repositories.reports import ReportsRepository
from tests.support import Gateway, run_steward

SONNET = "claude-sonnet-4-6"
HAIKU = "claude-haiku-4-5"
# The result fields of Anthropic's messages usage report and cost report (/work/shared/reference, section 2).
USAGE_FIELDS = {"uncached_input_tokens", "cache_creation", "cache_read_input_tokens", "output_tokens",
                "server_tool_use", "api_key_id", "workspace_id", "model", "service_tier", "context_window",
                "inference_geo", "account_id", "service_account_id"}
COST_FIELDS = {"amount", "currency", "workspace_id", "description", "cost_type", "model", "service_tier",
               "token_type", "context_window", "inference_geo"}


def _traffic(gateway: Gateway) -> list[str]:
    """Cached 1 h and 5 m prompts (write then read), a web search, tagged requests, a batch of two; returns the
    request ids (the batch's id for its results)."""
    ids = []
    with gateway.client("eng") as client:
        for ttl in ("1h", "5m"):
            system = [{"type": "text", "text": f"Case {uuid.uuid4()}. " + "Be precise. " * 900,
                       "cache_control": {"type": "ephemeral", "ttl": ttl}}]
            for user in ("alice", "bob"):
                raw = client.messages.with_raw_response.create(
                    model=SONNET, max_tokens=40, system=system, metadata={"user_id": user},
                    messages=[{"role": "user", "content": "Go"}],
                    extra_headers={"x-steward-tags": "team=search,feature=summaries"})
                ids.append(raw.headers["request-id"])
        raw = client.messages.with_raw_response.create(
            model=SONNET, max_tokens=200, tools=[{"type": "web_search_20250305", "name": "web_search"}],
            messages=[{"role": "user", "content": "Search the web for the weather in Paris"}],
            extra_headers={"x-steward-tags": "team=ads"})
        ids.append(raw.headers["request-id"])
    with gateway.client("marketing") as client:
        raw = client.messages.with_raw_response.create(model=HAIKU, max_tokens=30,
                                                       messages=[{"role": "user", "content": "Hello"}])
        ids.append(raw.headers["request-id"])
        batch = client.messages.batches.create(requests=[
            {"custom_id": f"item-{i}", "params": {"model": HAIKU, "max_tokens": 32,
                                                  "messages": [{"role": "user", "content": f"Q {i}"}]}}
            for i in range(2)])
    ids.append(batch.id)  # the batch's two results are recorded under the batch's id
    deadline = time.monotonic() + 20
    while len(gateway.usage(ids)) < len(ids) + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    return ids


@pytest.fixture
def traffic(gateway: Gateway) -> dict[str, Any]:
    ids = _traffic(gateway)
    rows = gateway.usage(ids)
    assert len(rows) == len(ids) + 1
    return {"ids": ids, "rows": rows}


def _get(gateway: Gateway, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        return http.get(path, headers={"x-api-key": key or gateway.admin_key, **kwargs.pop("headers", {})},
                        **kwargs)


def _dollars(traffic: dict[str, Any]) -> Decimal:
    return Decimal(sum(r.cost_picousd for r in traffic["rows"])).scaleb(-12)


def _today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _window() -> dict[str, str]:
    start = _today() - timedelta(days=1)
    return {"starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ending_at": (start + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_messages_usage_report_matches_the_records(gateway: Gateway, traffic: dict[str, Any]) -> None:
    rows = traffic["rows"]
    assert any(r.cache_write_1h_tokens for r in rows) and any(r.cache_write_5m_tokens for r in rows)
    assert any(r.cache_read_tokens for r in rows) and any(r.web_search_requests for r in rows)
    assert any(r.batch_id for r in rows)
    params = [*_window().items(), ("group_by[]", "workspace_id"), ("group_by[]", "model")]
    body = _get(gateway, "/v1/organizations/usage_report/messages", params=params).json()
    assert [len(b["results"]) > 0 for b in body["data"]] == [False, True, False]  # empty buckets included
    assert body["has_more"] is False and body["next_page"] is None
    results = [r for b in body["data"] for r in b["results"]]
    assert all(set(r) == USAGE_FIELDS for r in results)  # no Steward extras unless asked for
    assert set(results[0]["cache_creation"]) == {"ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"}
    for result in results:
        mine = [r for r in rows if r.workspace_id == result["workspace_id"] and r.model == result["model"]]
        assert result["uncached_input_tokens"] == sum(r.input_tokens for r in mine)
        assert result["cache_creation"]["ephemeral_1h_input_tokens"] == sum(r.cache_write_1h_tokens for r in mine)
        assert result["cache_creation"]["ephemeral_5m_input_tokens"] == sum(r.cache_write_5m_tokens for r in mine)
        assert result["cache_read_input_tokens"] == sum(r.cache_read_tokens for r in mine)
        assert result["output_tokens"] == sum(r.output_tokens for r in mine)
        assert result["server_tool_use"]["web_search_requests"] == sum(r.web_search_requests for r in mine)
        assert result["account_id"] is None and result["api_key_id"] is None
    assert sum(r["output_tokens"] for r in results) == sum(r.output_tokens for r in rows)
    extra = [*_window().items(), ("group_by[]", "user_id"), ("group_by[]", "tag:team"), ("bucket_width", "1h"),
             ("limit", "72")]
    hourly = _get(gateway, "/v1/organizations/usage_report/messages", params=extra).json()
    found = {(r["user_id"], r["team"]): r["output_tokens"] for b in hourly["data"] for r in b["results"]}
    assert found[("alice", "search")] == sum(r.output_tokens for r in rows if r.user_id == "alice")
    assert found[(None, "ads")] == sum(r.output_tokens for r in rows if (r.tags or {}).get("team") == "ads")


def test_cost_reports_reconcile_with_the_records(gateway: Gateway, traffic: dict[str, Any]) -> None:
    total = sum(r.cost_picousd for r in traffic["rows"])
    assert total > 0
    for group in ([], ["workspace_id"], ["workspace_id", "description"]):
        params = [*_window().items(), *(("group_by[]", g) for g in group)]
        body = _get(gateway, "/v1/organizations/cost_report", params=params).json()
        results = [r for b in body["data"] for r in b["results"]]
        assert all(set(r) == COST_FIELDS for r in results)
        assert sum(Decimal(r["amount"]) for r in results) == Decimal(total).scaleb(-10)  # cents, exactly
    described = [r for r in results if r["service_tier"] == "batch"]
    batch_cost = sum(r.cost_picousd for r in traffic["rows"] if r.batch_id)
    assert sum(Decimal(r["amount"]) for r in described) == Decimal(batch_cost).scaleb(-10) > 0
    assert {"web_search", "tokens"} <= {r["cost_type"] for r in results}
    assert "cache_creation.ephemeral_1h_input_tokens" in {r["token_type"] for r in results}
    day = _today().date().isoformat()
    seed = _get(gateway, "/v1/admin/usage/cost", params={"start_date": day, "end_date": day,
                                                         "group_by": "workspace,model"}).json()
    assert Decimal(seed["total_cost_usd"]) == Decimal(total).scaleb(-12)
    by_tag = _get(gateway, "/v1/admin/usage/cost", params={"start_date": day, "group_by": "tag:team"}).json()
    search = sum(r.cost_picousd for r in traffic["rows"] if (r.tags or {}).get("team") == "search")
    assert Decimal(next(r for r in by_tag["data"] if r["team"] == "search")["cost_usd"]) == \
        Decimal(search).scaleb(-12)


def test_rollups_equal_a_recomputation_after_gateway_traffic(gateway: Gateway, traffic: dict[str, Any]) -> None:
    async def action(plane: ControlPlane) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        org = await plane.admin.organization.current()
        repo = ReportsRepository(plane.database.sessions, plane.database.dialect)
        raw = await repo.raw(org.id, _today() - timedelta(days=1), _today() + timedelta(days=2), {})
        table = UsageRollup.metadata.tables["usage_rollups"]
        async with plane.database.sessions() as session:
            stored = [dict(r) for r in (await session.execute(select(table))).mappings().all()]
        return RollupAccumulator(Catalog.load_default()).extend(raw).rows(), stored

    expected, stored = gateway.control(action)
    key = lambda r: tuple(str(r[c]) for c in ("width", "grain", "bucket_start", "workspace_id", "api_key_id",  # noqa: E731
                                               "model", "user_id", "stop_reason", "team", "feature", "batch",
                                               "service_tier", "inference_geo", "context_window"))
    assert len(expected) == len(stored) > 0
    assert sorted(expected, key=key) == sorted(stored, key=key)


def test_exports_and_accept_header(gateway: Gateway, traffic: dict[str, Any]) -> None:
    day = _today().date().isoformat()
    params = {"start_date": day, "end_date": day, "group_by": "workspace,model"}
    as_json = _get(gateway, "/v1/admin/usage/messages", params=params).json()
    as_csv = _get(gateway, "/v1/admin/usage/messages", params={**params, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["workspace_id"], r["model"], int(r["requests"]), r["cost_usd"]) for r in parsed] == \
        [(r["workspace_id"], r["model"], r["requests"], r["cost_usd"]) for r in as_json["data"]]
    as_jsonl = _get(gateway, "/v1/admin/usage/cost", params=params, headers={"accept": "application/x-ndjson"})
    lines = [orjson.loads(line) for line in as_jsonl.content.splitlines()]
    assert sum(Decimal(r["cost_usd"]) for r in lines) == \
        Decimal(sum(r.cost_picousd for r in traffic["rows"])).scaleb(-12)
    assert sum(r["requests"] for r in as_json["data"]) == len(traffic["rows"])


def test_a_workspace_admin_sees_only_their_workspace(gateway: Gateway, traffic: dict[str, Any]) -> None:
    eng, marketing = gateway.workspace_ids["eng"], gateway.workspace_ids["marketing"]

    async def action(plane: ControlPlane) -> str:
        system = await plane.system()
        invite = await plane.admin.invitations.create(system, "lead@example.com", "developer", workspaces=[
            {"workspace_id": eng, "workspace_role": "workspace_admin"}])
        secret: str = (await plane.admin.invitations.accept(invite["token"], "Lead"))["secret"]
        return secret

    key = gateway.control(action)
    params = [*_window().items(), ("group_by[]", "workspace_id")]
    body = _get(gateway, "/v1/organizations/usage_report/messages", key, params=params).json()
    assert {r["workspace_id"] for b in body["data"] for r in b["results"]} == {eng}
    refused = _get(gateway, "/v1/organizations/cost_report", key,
                   params=[*_window().items(), ("workspace_ids[]", marketing)])
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    seed = _get(gateway, "/v1/admin/usage/messages", key, params={"group_by": "workspace"}).json()
    assert [r["workspace_id"] for r in seed["data"]] == [eng]


@pytest.mark.parametrize("query", [
    "", "starting_at=yesterday", "starting_at=2026-01-01T00:00:00Z&limit=32",
    "starting_at=2026-01-01T00:00:00Z&bucket_width=1h&limit=169", "starting_at=2026-01-01T00:00:00Z&limit=x",
    "starting_at=2026-01-01T00:00:00Z&group_by[]=colour", "starting_at=2026-01-01T00:00:00Z&page=page_bad",
    "starting_at=2026-01-01T00:00:00Z&service_tiers[]=gold"])
def test_bad_parameters_are_400s(gateway: Gateway, query: str) -> None:
    response = _get(gateway, f"/v1/organizations/usage_report/messages?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert _get(gateway, "/v1/admin/usage/cost?start_date=2026-13-01").status_code == 400
    assert _get(gateway, "/v1/admin/usage/cost?format=xml").status_code == 400


def test_python_sdk_reads_the_reports(gateway: Gateway, traffic: dict[str, Any]) -> None:
    start = _today() - timedelta(days=1)
    with AdminClient(base_url=gateway.url, api_key=gateway.admin_key) as admin:
        usage = admin.reports.messages(starting_at=start, limit=3, group_by=["model", "user_id"],
                                       workspace_ids=[gateway.workspace_ids["eng"]])
        results = [r for bucket in usage.data for r in bucket.results]
        assert {r.model for r in results} == {SONNET} and {r.model_extra["user_id"] for r in results if r.model_extra}
        assert sum(r.output_tokens for r in results) == sum(
            r.output_tokens for r in traffic["rows"] if r.workspace_id == gateway.workspace_ids["eng"])
        cost = admin.reports.cost(starting_at=start, limit=3, group_by=["description"])
        assert sum(Decimal(r.amount) for b in cost.data for r in b.results) == \
            Decimal(sum(r.cost_picousd for r in traffic["rows"])).scaleb(-10)
        totals = admin.reports.cost_totals(group_by=["workspace", "model"])
        assert Decimal(totals.total_cost_usd or "0") == _dollars(traffic)


def test_cli_reports_and_rebuild(gateway: Gateway, traffic: dict[str, Any]) -> None:
    env = {**os.environ, "STEWARD_HOME": str(gateway.settings.home), "COLUMNS": "200",
           "STEWARD_DATABASE_URL": gateway.settings.resolved_database_url()}

    def steward(*args: str) -> subprocess.CompletedProcess[str]:
        return run_steward(*args, env=env)

    day = _today().date().isoformat()
    table = steward("usage", "report", "--group-by", "workspace,model", "--from", day, "--to", day)
    assert table.returncode == 0, table.stderr
    assert SONNET in table.stdout and gateway.workspace_ids["marketing"] in table.stdout
    as_csv = steward("usage", "cost", "--group-by", "workspace", "--from", day, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert sum(Decimal(r["cost_usd"]) for r in rows) == _dollars(traffic)
    as_jsonl = steward("usage", "report", "--group-by", "user", "--from", day, "--format", "jsonl")
    users = {orjson.loads(line)["user_id"] for line in as_jsonl.stdout.splitlines()}
    assert users == {"alice", "bob", None}
    rebuilt = steward("usage", "rebuild-rollups", "--from", day)
    assert rebuilt.returncode == 0 and "Rebuilt 1 day(s)" in rebuilt.stdout, rebuilt.stderr
    assert steward("usage", "report", "--format", "xml").returncode == 2
    test_rollups_equal_a_recomputation_after_gateway_traffic(gateway, traffic)
