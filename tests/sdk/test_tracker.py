"""``UsageTracker``: exact costs from the pricing catalog (equal to hand-computed prices and to what the gateway
itself recorded), attribution by team, feature, model or any tag, every usage field, and export rows."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import steward
from steward.sdk.tracker import UsageRecord
from steward.storage.migrate import upgrade
from tests.support import Gateway

HAIKU: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 64,
                         "messages": [{"role": "user", "content": "hi"}]}
PER_TOKEN = {"input": Decimal("0.000001"), "output": Decimal("0.000005")}  # claude-haiku-4-5: $1/M, $5/M


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the database plays no part in client-side behaviour (overrides the conftest fixture)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    return url


def by_hand(input_tokens: int, output_tokens: int) -> Decimal:
    return input_tokens * PER_TOKEN["input"] + output_tokens * PER_TOKEN["output"]


def test_costs_equal_hand_computed_prices_and_the_gateways(gateway: Gateway) -> None:
    tracker = steward.UsageTracker()
    expected: dict[str, Decimal] = {}
    request_ids = []
    with gateway.client() as client:
        for team, feature, tokens in (("search", "autocomplete", 10), ("search", "summaries", 40),
                                      ("support", "summaries", 25)):
            message = client.messages.create(**HAIKU, extra_headers={"x-sim-output-tokens": str(tokens)})
            record = tracker.record(message, team=team, feature=feature, env="prod")
            assert record.usage.output_tokens == tokens and record.usage.input_tokens > 0
            assert record.cost == by_hand(message.usage.input_tokens, tokens)
            assert record.request_id == message._request_id and record.message_id == message.id
            assert record.time.tzinfo is not None and record.stop_reason == message.stop_reason
            expected[team] = expected.get(team, Decimal(0)) + record.cost
            request_ids.append(message._request_id or "")
    assert tracker.cost_by("team") == expected
    summaries = [r.cost or Decimal(0) for r in tracker.records if r.tags["feature"] == "summaries"]
    assert tracker.cost_by("feature") == {"autocomplete": tracker.records[0].cost, "summaries": sum(summaries)}
    assert tracker.cost_by("env") == {"prod": tracker.total_cost()}
    assert tracker.cost_by("region") == {"unknown": tracker.total_cost()}
    assert tracker.total_cost() == sum(expected.values())
    # The gateway prices the same responses from the same catalog, in pico-dollars.
    recorded = {row.request_id: row.cost_picousd for row in gateway.wait_usage(request_ids)}
    assert {r.request_id: int(r.cost.scaleb(12)) for r in tracker.records if r.cost is not None} == recorded


def test_rate_limited_client_records_automatically(gateway: Gateway) -> None:
    tracker = steward.UsageTracker()
    with steward.RateLimitedClient(base_url=gateway.url, api_key=gateway.keys["eng"], tracker=tracker,
                                   tags={"team": "growth", "feature": "onboarding"}) as client:
        message = client.messages.create(**HAIKU)
    (record,) = tracker.records
    assert record.model == message.model and dict(record.tags) == {"team": "growth", "feature": "onboarding"}
    assert tracker.cost_by("team") == {"growth": by_hand(message.usage.input_tokens, message.usage.output_tokens)}
    assert tracker.cost_by("model") == {message.model: record.cost}


async def test_async_client_records_automatically(gateway: Gateway) -> None:
    tracker = steward.UsageTracker()
    async with steward.AsyncRateLimitedClient(base_url=gateway.url, api_key=gateway.keys["eng"], tracker=tracker,
                                              tags={"team": "growth"}) as client:
        message = await client.messages.create(**HAIKU)
    assert tracker.cost_by("team") == {"growth": by_hand(message.usage.input_tokens, message.usage.output_tokens)}


MESSAGE: dict[str, Any] = {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
    "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
    "usage": {"input_tokens": 1000, "output_tokens": 2000, "cache_read_input_tokens": 30_000,
              "cache_creation_input_tokens": 6000,
              "cache_creation": {"ephemeral_5m_input_tokens": 4000, "ephemeral_1h_input_tokens": 2000},
              "output_tokens_details": {"thinking_tokens": 500}, "server_tool_use": {"web_search_requests": 3}},
}


def test_every_usage_field_is_recorded_and_priced() -> None:
    tracker = steward.UsageTracker()
    record = tracker.record(MESSAGE, team="research", feature="deep-search")
    usage = record.usage
    assert (usage.input_tokens, usage.cache_write_5m, usage.cache_write_1h, usage.cache_read, usage.output_tokens,
            usage.thinking_tokens, usage.web_search_requests) == (1000, 4000, 2000, 30_000, 2000, 500, 3)
    # Per million: input $1, 5-minute writes $1.25, 1-hour writes $2, reads $0.10, output (thinking inside) $5;
    # web search $10 per 1,000 requests.
    assert record.cost == Decimal("0.001") + Decimal("0.005") + Decimal("0.004") + Decimal("0.003") \
        + Decimal("0.010") + Decimal("0.03")
    assert record.request_id is None and record.message_id == "msg_01" and record.stop_reason == "end_turn"
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.model = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.tags["team"] = "other"  # type: ignore[index]


def test_rows_unknown_models_and_reserved_tags() -> None:
    tracker = steward.UsageTracker()
    tracker.record(MESSAGE, team="research", ticket="T-1")
    unknown = tracker.record({**MESSAGE, "model": "claude-future-9"}, team="research")
    assert isinstance(unknown, UsageRecord) and unknown.cost is None
    assert tracker.total_cost() == tracker.records[0].cost and len(tracker) == 2
    first, second = tracker.to_rows()
    assert first["cost_usd"] == "0.053" and first["team"] == "research" and first["ticket"] == "T-1"
    assert (first["input_tokens"], first["cache_write_5m_tokens"], first["cache_write_1h_tokens"],
            first["cache_read_tokens"], first["output_tokens"], first["thinking_tokens"],
            first["web_search_requests"]) == (1000, 4000, 2000, 30_000, 2000, 500, 3)
    assert str(first["time"]).endswith("+00:00") and first["model"] == "claude-haiku-4-5-20251001"
    assert second["cost_usd"] is None and "ticket" not in second
    with pytest.raises(ValueError, match="model"):
        tracker.record(MESSAGE, model="x")
