"""The Claude Code report's parts: cumulative differences, OTLP mapping, source precedence when merging, cents,
and the counters' storage on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
from datetime import date

import orjson
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from steward.errors import InvalidRequestError, RequestTooLargeError
from steward.reporting.claude_code import Totals, anthropic_record, cents, dollars, merge
from steward.reporting.otlp import JSON, Exporter, decode, inflate, map_metrics
from steward.storage.engine import Database
from steward.storage.repositories.claude_code import (
    ClaudeCodeRepository,
    Counter,
    Cumulative,
    Delta,
    GatewayUsage,
    StoredCounter,
    difference,
)
from tests.e2e.test_otlp import DEV, SONNET, T0, metrics

DAY = date(2026, 11, 20)
EXPORTER = Exporter("org-1", "wrkspc_eng", "eng-cc-telemetry")


def test_difference_of_cumulative_points() -> None:
    assert difference(None, 1, 40) == 40           # first point of a series: all of it
    assert difference((1, 40), 1, 55) == 15        # growth
    assert difference((1, 55), 1, 55) == 0         # a repeated export
    assert difference((1, 55), 2, 5) == 5          # a restart with a new start time
    assert difference((1, 55), 1, 3) == 3          # a reset the exporter did not announce


def test_metrics_map_to_counters_with_actor_project_and_session() -> None:
    request = metrics([("claude_code.lines_of_code.count", {"type": "added"}, 12),
                       ("claude_code.lines_of_code.count", {"type": "moved"}, 3),
                       ("claude_code.token.usage", {"model": SONNET, "type": "cacheRead"}, 70),
                       ("claude_code.cost.usage", {"model": SONNET}, 0.1)],
                      resource={**DEV, "project": "steward"})
    mapped = map_metrics(request, EXPORTER)
    assert mapped.rejected == 0 and mapped.cumulative == []
    got = {(d.counter.metric, d.counter.dimension): d.value for d in mapped.deltas}
    assert got == {("lines_added", ""): 12, ("tokens.cache_read", SONNET): 70,
                   ("cost_picousd", SONNET): 100_000_000_000}  # $0.1 exactly, from the double's shortest repr
    counter = mapped.deltas[0].counter
    assert (counter.day, counter.actor_type, counter.actor, counter.project, counter.session_id) == \
        (DAY, "user_actor", "dev@co.example", "steward", "sess-1")
    assert counter.terminal_type == "vscode" and counter.workspace_id == "wrkspc_eng"

    anonymous = map_metrics(metrics([("claude_code.commit.count", {}, 1)], resource={}), EXPORTER).deltas[0].counter
    assert (anonymous.actor_type, anonymous.actor, anonymous.project, anonymous.session_id) == \
        ("api_actor", "eng-cc-telemetry", "wrkspc_eng", "")


def test_cumulative_points_carry_a_stable_series_per_attribute_set() -> None:
    def series(attrs: dict[str, str]) -> str:
        request = metrics([("claude_code.commit.count", attrs, 1)], resource=DEV, cumulative=True)
        [point] = map_metrics(request, EXPORTER).cumulative
        return point.series

    assert series({}) == series({}) != series({"x": "1"})


def test_bad_bodies_are_refused() -> None:
    with pytest.raises(InvalidRequestError):
        inflate(b"not gzip", "gzip", 1000)
    with pytest.raises(InvalidRequestError):
        inflate(b"x", "br", 1000)
    with pytest.raises(RequestTooLargeError):
        inflate(gzip.compress(b"a" * 5000), "gzip", 1000)
    assert inflate(gzip.compress(b"abc"), "gzip", 1000) == b"abc"


def _row(session: str, source: str, metric: str, value: int, dimension: str = "", actor: str = "a@co.example",
         terminal: str | None = "vscode") -> StoredCounter:
    return StoredCounter(day=DAY, actor_type="user_actor", actor=actor, project="p", session_id=session,
                         source=source, metric=metric, dimension=dimension, value=value, workspace_id="wrkspc_eng",
                         terminal_type=terminal)


def _gateway(session: str, input_tokens: int, cost: int) -> GatewayUsage:
    return GatewayUsage(day=DAY, session_id=session, model=SONNET, workspace_id="wrkspc_eng", api_key_id="apikey_1",
                        api_key_name="eng-cc", owner_email=None, end_user=None, requests=1,
                        input_tokens=input_tokens, output_tokens=1, cache_read_tokens=0, cache_creation_tokens=0,
                        cost_picousd=cost)


def test_merge_prefers_gateway_then_metrics_then_events_per_session() -> None:
    counters = [
        _row("s1", "metric", "tokens.input", 500, SONNET), _row("s1", "event", "tokens.input", 400, SONNET),
        _row("s2", "metric", "tokens.input", 700, SONNET), _row("s2", "event", "tokens.input", 600, SONNET),
        _row("s3", "event", "tokens.input", 300, SONNET), _row("s3", "event", "tool.accepted", 2, "Edit"),
        _row("s2", "metric", "tool.accepted", 5, "Edit"), _row("s2", "event", "tool.accepted", 9, "Edit"),
        _row("", "metric", "sessions", 4, terminal=None),
    ]
    sessions = merge(counters, [_gateway("s1", 11, 10**10), _gateway("s9", 13, 2 * 10**10)])
    totals = Totals()
    for s in sessions:
        if s.actor == "a@co.example":
            totals.add(s)
    # s1 from the gateway (11), s2 from metrics (700), s3 from events (300); s9 is another actor (the key).
    assert totals.models[SONNET][1] == 11 + 700 + 300
    assert totals.tools["edit_tool"]["accepted"] == 5 + 2
    assert totals.sessions == 3 + 4  # three sessions seen by id, four counted without one
    record = anthropic_record("org-1", DAY, "user_actor", "a@co.example", totals)
    assert record["terminal_type"] == "vscode" and record["core_metrics"]["num_sessions"] == 7
    [other] = [s for s in sessions if s.actor != "a@co.example"]
    assert (other.actor_type, other.actor, other.session_id) == ("api_actor", "eng-cc", "s9")


def test_cents_and_dollars_are_exact() -> None:
    assert cents(0) == 0 and cents(4_999_999_999) == 0 and cents(5 * 10**9) == 1 and cents(123 * 10**10) == 123
    assert dollars(1_234_500_000_000) == "1.2345" and dollars(0) == "0"


async def test_counters_add_up_under_concurrent_ingests(database_url: str) -> None:
    database = Database(database_url)
    repo = ClaudeCodeRepository(database.sessions, database.dialect)
    where = Counter(DAY, "user_actor", "a@co.example", "p", "s1", "metric", "commits", "", "wrkspc_eng", "cli")
    try:
        await asyncio.gather(*(repo.ingest("org-1", [Delta(where, 1), Delta(where, 2)], []) for _ in range(10)))
        await repo.ingest("org-1", [], [Cumulative(where, "series-1", T0, 10)])
        await repo.ingest("org-1", [], [Cumulative(where, "series-1", T0, 14), Cumulative(where, "series-1", T0, 16)])
        [row] = await repo.counters("org-1", DAY, DAY)
        assert (row.value, row.terminal_type) == (30 + 16, "cli")
        assert await repo.counters("org-2", DAY, DAY) == []
    finally:
        await database.close()


def test_hand_written_otlp_json_decodes() -> None:
    body = orjson.dumps({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "user.email", "value": {"stringValue": "dev@co.example"}},
                                    {"key": "session.id", "value": {"stringValue": "s-json"}}]},
        "scopeMetrics": [{"scope": {"name": "com.anthropic.claude_code"}, "metrics": [{
            "name": "claude_code.cost.usage", "unit": "USD",
            "sum": {"aggregationTemporality": 1, "isMonotonic": True, "dataPoints": [{
                "attributes": [{"key": "model", "value": {"stringValue": SONNET}}],
                "startTimeUnixNano": str(T0), "timeUnixNano": T0 + 1, "asDouble": 0.25}]}}]}]}]})
    request = ExportMetricsServiceRequest()
    decode(request, body, JSON)
    [delta] = map_metrics(request, EXPORTER).deltas
    assert (delta.counter.metric, delta.counter.dimension, delta.value) == ("cost_picousd", SONNET, 250_000_000_000)
    assert (delta.counter.actor, delta.counter.session_id, delta.counter.day) == ("dev@co.example", "s-json", DAY)
