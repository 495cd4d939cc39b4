"""Claude Code telemetry end to end: OTLP/HTTP exports (JSON, protobuf, gzip, delta and cumulative) into a real
gateway, Claude Code traffic through it with the official SDK, and the report read back over the Admin API."""

from __future__ import annotations

import csv
import gzip
import io
import os
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric, NumberDataPoint

from steward.sdk import AdminClient
from steward.sdk.resources.claude_code import ClaudeCodeRecord
from tests.support import Gateway, run_steward

DAY = "2026-11-20"
T0 = int(datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp() * 1e9)
SONNET = "claude-sonnet-4-6"
PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


def _kv(attrs: dict[str, Any]) -> list[KeyValue]:
    out = []
    for key, value in attrs.items():
        any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=str(value))
        out.append(KeyValue(key=key, value=any_value))
    return out


def metrics(points: list[tuple[str, dict[str, Any], float]], *, resource: dict[str, Any], cumulative: bool = False,
            start_ns: int = T0, time_ns: int = T0 + 60 * 10**9) -> ExportMetricsServiceRequest:
    """An export of Claude Code sums, one metric per point, as Claude Code's exporter would send it."""
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.extend(_kv({"service.name": "claude-code", **resource}))
    sm = rm.scope_metrics.add()
    sm.scope.name = "com.anthropic.claude_code"
    temporality = (AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE if cumulative
                   else AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA)
    for name, attrs, value in points:
        metric: Metric = sm.metrics.add(name=name)
        metric.sum.aggregation_temporality = temporality
        metric.sum.is_monotonic = True
        point: NumberDataPoint = metric.sum.data_points.add(start_time_unix_nano=start_ns, time_unix_nano=time_ns)
        point.attributes.extend(_kv(attrs))
        if isinstance(value, int):
            point.as_int = value
        else:
            point.as_double = value
    return request


def events(records: list[tuple[str, dict[str, Any]]], *, resource: dict[str, Any]) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend(_kv({"service.name": "claude-code", **resource}))
    sl = rl.scope_logs.add()
    for name, attrs in records:
        record: LogRecord = sl.log_records.add(time_unix_nano=T0 + 5 * 10**9)
        record.body.string_value = f"claude_code.{name}"
        record.attributes.extend(_kv({"event.name": name, **attrs}))
    return request


def post(gateway: Gateway, path: str, body: bytes, headers: dict[str, str], key: str | None = None) -> httpx.Response:
    auth = {"authorization": f"Bearer {key or gateway.keys['eng']}"}
    return httpx.post(gateway.url + path, content=body, headers={**headers, **auth}, timeout=10)


def as_json(message: Any) -> bytes:
    return json_format.MessageToJson(message).encode()


def report(gateway: Gateway, day: str = DAY) -> list[ClaudeCodeRecord]:
    with AdminClient(base_url=gateway.url, api_key=gateway.admin_key, max_retries=0) as admin:
        return admin.claude_code.report(starting_at=day, limit=1000).data


def by_actor(records: list[ClaudeCodeRecord]) -> dict[str, ClaudeCodeRecord]:
    return {r.actor.email_address or r.actor.api_key_name or "": r for r in records}


DEV = {"user.email": "dev@co.example", "session.id": "sess-1", "terminal.type": "vscode",
       "organization.id": "0b8e-org", "user.account_uuid": "acc-1"}


def test_json_delta_export_is_counted_and_reported_in_anthropics_shape(gateway: Gateway) -> None:
    first = metrics([
        ("claude_code.session.count", {}, 1),
        ("claude_code.lines_of_code.count", {"type": "added"}, 100),
        ("claude_code.lines_of_code.count", {"type": "removed"}, 20),
        ("claude_code.commit.count", {}, 2),
        ("claude_code.pull_request.count", {}, 1),
        ("claude_code.code_edit_tool.decision", {"tool_name": "Edit", "decision": "accept"}, 5),
        ("claude_code.code_edit_tool.decision", {"tool_name": "Edit", "decision": "reject"}, 1),
        ("claude_code.code_edit_tool.decision", {"tool_name": "Write", "decision": "accept"}, 2),
        ("claude_code.cost.usage", {"model": SONNET}, 0.5),
        ("claude_code.token.usage", {"model": SONNET, "type": "input"}, 1000),
        ("claude_code.token.usage", {"model": SONNET, "type": "output"}, 200),
        ("claude_code.token.usage", {"model": SONNET, "type": "cacheRead"}, 50),
        ("claude_code.token.usage", {"model": SONNET, "type": "cacheCreation"}, 10),
        ("claude_code.active_time.total", {"type": "user"}, 12.5),
        ("some.other.metric", {}, 7),
    ], resource=DEV)
    response = post(gateway, "/v1/metrics", as_json(first), JSON)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json" and response.json() == {}
    second = metrics([("claude_code.lines_of_code.count", {"type": "added"}, 30)], resource=DEV)
    assert post(gateway, "/v1/metrics", as_json(second), JSON).status_code == 200

    [record] = report(gateway)
    assert record.actor.type == "user_actor" and record.actor.email_address == "dev@co.example"
    assert record.date == f"{DAY}T00:00:00Z" and record.terminal_type == "vscode"
    assert record.customer_type == "api" and record.organization_id
    core = record.core_metrics
    assert (core.num_sessions, core.lines_of_code.added, core.lines_of_code.removed) == (1, 130, 20)
    assert (core.commits_by_claude_code, core.pull_requests_by_claude_code) == (2, 1)
    assert (record.tool_actions.edit_tool.accepted, record.tool_actions.edit_tool.rejected) == (5, 1)
    assert record.tool_actions.write_tool.accepted == 2 and record.tool_actions.notebook_edit_tool.accepted == 0
    [model] = record.model_breakdown
    assert model.model == SONNET
    assert (model.tokens.input, model.tokens.output, model.tokens.cache_read, model.tokens.cache_creation) == \
        (1000, 200, 50, 10)
    assert model.estimated_cost.currency == "USD" and model.estimated_cost.amount == 50  # cents
    assert report(gateway, "2026-11-21") == []


def test_protobuf_cumulative_counters_add_only_their_growth_and_gzip_is_accepted(gateway: Gateway) -> None:
    def send(value: int, cost: float, start_ns: int, *, zipped: bool = False) -> None:
        request = metrics([("claude_code.lines_of_code.count", {"type": "added"}, value),
                           ("claude_code.cost.usage", {"model": SONNET}, cost)],
                          resource=DEV, cumulative=True, start_ns=start_ns)
        body = request.SerializeToString()
        headers = dict(PROTOBUF)
        if zipped:
            body, headers["content-encoding"] = gzip.compress(body), "gzip"
        response = post(gateway, "/v1/metrics", body, headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/x-protobuf"
        parsed = ExportMetricsServiceResponse.FromString(response.content)
        assert not parsed.HasField("partial_success")

    send(10, 0.10, T0)
    send(25, 0.30, T0, zipped=True)   # the same series grew by 15 and 20 cents
    send(25, 0.30, T0)                # a repeated export adds nothing
    send(5, 0.05, T0 + 3600 * 10**9)  # Claude Code restarted: a new start time, counted from zero
    [record] = report(gateway)
    assert record.core_metrics.lines_of_code.added == 30
    assert record.model_breakdown[0].estimated_cost.amount == 35


def test_refusals_and_partial_success(gateway: Gateway) -> None:
    good = as_json(metrics([("claude_code.commit.count", {}, 1)], resource=DEV))
    assert post(gateway, "/v1/metrics", good, JSON, key="sk-stw-api01-not-a-real-key").status_code == 401
    assert post(gateway, "/v1/logs", good, JSON, key=gateway.admin_key).status_code == 401
    missing = httpx.post(gateway.url + "/v1/metrics", content=good, headers=JSON)
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
    for body, headers in ((b"{not json", JSON), (b"\xff\xff\xff", PROTOBUF), (b'{"resourceMetrics": 5}', JSON),
                          (good, {**JSON, "content-encoding": "gzip"}), (good, {"content-type": "text/plain"})):
        response = post(gateway, "/v1/metrics", body, headers)
        assert response.status_code == 400, (body, headers, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"

    mixed = metrics([("claude_code.commit.count", {}, 3), ("claude_code.pull_request.count", {}, -1)], resource=DEV)
    gauge = mixed.resource_metrics[0].scope_metrics[0].metrics.add(name="claude_code.cost.usage")
    gauge.gauge.data_points.add(as_double=1.0, time_unix_nano=T0)
    response = post(gateway, "/v1/metrics", mixed.SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    parsed = ExportMetricsServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_data_points == 2
    assert "monotonic sum" in parsed.partial_success.error_message
    [record] = report(gateway)
    assert record.core_metrics.commits_by_claude_code == 3 and record.core_metrics.pull_requests_by_claude_code == 0
    assert record.model_breakdown == []


def test_log_events_supply_tokens_and_decisions_when_metrics_do_not(gateway: Gateway) -> None:
    resource = {**DEV, "session.id": "sess-events"}
    request = events([
        ("api_request", {"model": SONNET, "input_tokens": "300", "output_tokens": "40", "cache_read_tokens": "0",
                         "cache_creation_tokens": "5", "cost_usd": "0.0123"}),
        ("api_request", {"model": SONNET, "input_tokens": 100, "output_tokens": 10, "cost_usd": "0.0027"}),
        ("tool_decision", {"tool_name": "MultiEdit", "decision": "reject", "source": "user_reject"}),
        ("tool_decision", {"tool_name": "NotebookEdit", "decision": "accept", "source": "config"}),
        ("user_prompt", {"prompt_length": 42}),
    ], resource=resource)
    payload = orjson.loads(as_json(request))
    payload["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = "5b8efff798038103d269b633813fc60c"
    response = post(gateway, "/v1/logs", orjson.dumps(payload), JSON)
    assert response.status_code == 200 and response.json() == {}
    bad = events([("api_request", {"model": SONNET, "input_tokens": "many"})], resource=resource)
    response = post(gateway, "/v1/logs", bad.SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    assert ExportLogsServiceResponse.FromString(response.content).partial_success.rejected_log_records == 1

    [record] = report(gateway)
    assert record.core_metrics.num_sessions == 1
    assert record.tool_actions.multi_edit_tool.rejected == 1 and record.tool_actions.notebook_edit_tool.accepted == 1
    [model] = record.model_breakdown
    assert (model.tokens.input, model.tokens.output, model.tokens.cache_creation) == (400, 50, 5)
    assert model.estimated_cost.amount == 2  # $0.015 -> 1.5 cents, rounded half up


def test_gateway_traffic_is_reported_and_wins_over_telemetry_for_the_same_session(gateway: Gateway) -> None:
    ids = []
    with gateway.client() as client:
        for session, prompt in (("cc-A", "one"), ("cc-A", "two"), ("cc-B", "three")):
            raw = client.messages.with_raw_response.create(
                model=SONNET, max_tokens=50, messages=[{"role": "user", "content": prompt}],
                extra_headers={"x-claude-code-session-id": session})
            ids.append(raw.headers["request-id"])
        plain = client.messages.with_raw_response.create(  # not Claude Code: not in the report
            model=SONNET, max_tokens=50, messages=[{"role": "user", "content": "four"}])
        ids.append(plain.headers["request-id"])
    rows = {r.request_id: r for r in gateway.wait_usage(ids)}
    today = datetime.now(UTC).date().isoformat()
    # Session cc-A also exports telemetry (with the person's email); its tokens come from the gateway's metering.
    telemetry = metrics([("claude_code.token.usage", {"model": SONNET, "type": "input"}, 99999),
                         ("claude_code.lines_of_code.count", {"type": "added"}, 7)],
                        resource={**DEV, "session.id": "cc-A"}, time_ns=int(datetime.now(UTC).timestamp() * 1e9))
    assert post(gateway, "/v1/metrics", telemetry.SerializeToString(), PROTOBUF).status_code == 200

    records = by_actor(report(gateway, today))
    assert set(records) == {"dev@co.example", "eng-test-inference"}
    person, key = records["dev@co.example"], records["eng-test-inference"]
    assert key.actor.type == "api_actor" and person.actor.type == "user_actor"
    assert person.core_metrics.num_sessions == 1 and key.core_metrics.num_sessions == 1
    assert person.core_metrics.lines_of_code.added == 7
    a_rows, b_rows = [rows[i] for i in ids[:2]], [rows[ids[2]]]
    for record, used in ((person, a_rows), (key, b_rows)):
        [model] = record.model_breakdown
        assert model.tokens.input == sum(r.input_tokens for r in used) != 99999
        assert model.tokens.output == sum(r.output_tokens for r in used)
        cost = sum(r.cost_picousd for r in used)
        assert model.estimated_cost.amount == (cost + 5 * 10**9) // 10**10


def _seed(gateway: Gateway, **params: str) -> httpx.Response:
    return httpx.get(gateway.url + "/v1/admin/usage/claude-code", params=params,
                     headers={"x-api-key": gateway.admin_key}, timeout=10)


def _cli(gateway: Gateway, *args: str) -> str:
    env = {**os.environ, "STEWARD_HOME": str(gateway.settings.home), "COLUMNS": "200",
           "STEWARD_DATABASE_URL": gateway.settings.resolved_database_url()}
    done = run_steward(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_grouped_by_user_and_project_with_csv_and_jsonl(gateway: Gateway) -> None:
    people = [("ana@co.example", "s-1", "steward", 10), ("ana@co.example", "s-2", "website", 20),
              ("bo@co.example", "s-3", "steward", 40)]
    for email, session, project, lines in people:
        request = metrics([("claude_code.session.count", {}, 1),
                           ("claude_code.lines_of_code.count", {"type": "added"}, lines),
                           ("claude_code.cost.usage", {"model": SONNET}, lines / 100)],
                          resource={"user.email": email, "session.id": session, "project": project})
        assert post(gateway, "/v1/metrics", request.SerializeToString(), PROTOBUF).status_code == 200

    by_user = _seed(gateway, start_date=DAY, end_date=DAY, group_by="user").json()
    assert [(r["user"], r["num_sessions"], r["lines_added"], r["cost_usd"]) for r in by_user["data"]] == \
        [("ana@co.example", 2, 30, "0.3"), ("bo@co.example", 1, 40, "0.4")]
    by_project = _seed(gateway, start_date=DAY, group_by="project").json()["data"]
    assert [(r["project"], r["num_sessions"], r["lines_added"]) for r in by_project] == \
        [("steward", 2, 50), ("website", 1, 20)]

    exported = _seed(gateway, start_date=DAY, group_by="project", format="csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["project"], r["lines_added"]) for r in rows] == [("steward", "50"), ("website", "20")]
    lines = _seed(gateway, start_date=DAY, group_by="user", format="jsonl").text.splitlines()
    assert [orjson.loads(line) for line in lines] == by_user["data"]

    cli = _cli(gateway, "usage", "claude-code", "--group-by", "project", "--from", DAY, "--to", DAY, "--format", "csv")
    assert list(csv.DictReader(io.StringIO(cli))) == rows
    assert "Claude Code by user" in _cli(gateway, "usage", "claude-code", "--from", DAY, "--to", DAY)
    as_json_text = _cli(gateway, "usage", "claude-code", "--from", DAY, "--to", DAY, "--format", "json")
    assert orjson.loads(as_json_text)["data"] == by_user["data"]

    assert _seed(gateway, start_date="2026-13-01").status_code == 400
    assert _seed(gateway, start_date=DAY, end_date="2026-11-19").status_code == 400
    assert _seed(gateway, start_date=DAY, group_by="model").status_code == 400


def test_report_paging_and_parameters(gateway: Gateway) -> None:
    for i in range(3):
        request = metrics([("claude_code.commit.count", {}, i + 1)],
                          resource={"user.email": f"u{i}@co.example", "session.id": f"p-{i}"})
        assert post(gateway, "/v1/metrics", request.SerializeToString(), PROTOBUF).status_code == 200
    with AdminClient(base_url=gateway.url, api_key=gateway.admin_key, max_retries=0) as admin:
        first = admin.claude_code.report(starting_at=DAY, limit=2)
        assert first.has_more and first.next_page and len(first.data) == 2
        second = admin.claude_code.report(starting_at=DAY, limit=2, page=first.next_page)
        assert not second.has_more and second.next_page is None
        emails = [r.actor.email_address for r in first.data + second.data]
        assert emails == ["u0@co.example", "u1@co.example", "u2@co.example"]
        week = admin.claude_code.report(starting_at="2026-11-15", ending_at="2026-11-22")
        assert len(week.data) == 3
    headers = {"x-api-key": gateway.admin_key}
    for params in ({}, {"starting_at": "yesterday"}, {"starting_at": DAY, "limit": 0},
                   {"starting_at": DAY, "ending_at": "2026-11-19"}, {"starting_at": DAY, "page": "page_###"}):
        response = httpx.get(gateway.url + "/v1/organizations/usage_report/claude_code", params=params,
                             headers=headers)
        assert response.status_code == 400, (params, response.text)
