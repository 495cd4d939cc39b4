"""Report parameters (Anthropic's names, defaults and limits), page tokens, money formatting and exports: pure."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from steward.errors import InvalidRequestError
from steward.reporting.cost import cents, usd
from steward.reporting.export import choose_format, to_csv, to_jsonl
from steward.reporting.params import CostQuery, UsageQuery, decode_page, encode_page, parse_time

T0 = datetime(2026, 8, 1, tzinfo=UTC)
NOW = datetime(2026, 9, 1, tzinfo=UTC)


def build(width: str | None = None, limit: int | None = None, start: datetime = T0, end: datetime | None = None,
          page: str | None = None, group_by: list[str] | None = None,
          filters: dict[str, list[str]] | None = None) -> UsageQuery:
    return UsageQuery.build(start, end, width, limit, page, group_by, filters or {}, now=NOW)


@pytest.mark.parametrize(("width", "default", "maximum", "step"), [
    ("1d", 7, 31, timedelta(days=1)), ("1h", 24, 168, timedelta(hours=1)), ("1m", 60, 1440, timedelta(minutes=1))])
def test_bucket_widths_defaults_and_limits(width: str, default: int, maximum: int, step: timedelta) -> None:
    query = build(width)
    assert len(query.window.starts) == default
    assert query.window.starts[1] - query.window.starts[0] == step
    assert len(build(width, maximum).window.starts) == maximum
    for bad in (0, maximum + 1):
        with pytest.raises(InvalidRequestError, match="limit"):
            build(width, bad)


def test_default_width_is_a_day_and_start_snaps_to_the_bucket() -> None:
    query = build(None, start=datetime(2026, 8, 1, 13, 37, 5, tzinfo=UTC))
    assert query.window.width == "1d" and query.window.starts[0] == T0
    hourly = build("1h", start=datetime(2026, 8, 1, 13, 37, 5, tzinfo=UTC))
    assert hourly.window.starts[0] == datetime(2026, 8, 1, 13, tzinfo=UTC)


def test_paging_walks_every_bucket_once_and_stops_at_ending_at() -> None:
    end = T0 + timedelta(days=10)
    seen: list[datetime] = []
    page = None
    while True:
        query = build("1d", 4, end=end, page=page)
        seen.extend(query.window.starts)
        if query.window.next_start is None:
            break
        page = encode_page(query.window.next_start)
    assert seen == [T0 + timedelta(days=i) for i in range(10)]


def test_page_tokens_round_trip_and_foreign_tokens_are_refused() -> None:
    token = encode_page(T0 + timedelta(days=3))
    assert token.startswith("page_") and decode_page(token) == T0 + timedelta(days=3)
    for bad in ("page_%%%", "page_bm90IGEgZGF0ZQ=="):
        with pytest.raises(InvalidRequestError, match="page"):
            build(page=bad)
    with pytest.raises(InvalidRequestError, match="page"):  # before starting_at
        build(page=encode_page(T0 - timedelta(days=1)))
    with pytest.raises(InvalidRequestError, match="page"):  # not on a bucket boundary
        build(page=encode_page(T0 + timedelta(hours=5)))


def test_invalid_parameters_are_400s() -> None:
    with pytest.raises(InvalidRequestError, match="starting_at"):
        UsageQuery.build(None, None, None, None, None, None, {})
    with pytest.raises(InvalidRequestError, match="bucket_width"):
        build("1w")
    with pytest.raises(InvalidRequestError, match="group_by"):
        build(group_by=["colour"])
    with pytest.raises(InvalidRequestError, match="service_tiers"):
        build(filters={"service_tiers": ["gold"]})
    with pytest.raises(InvalidRequestError, match="context_window"):
        build(filters={"context_window": ["1M+"]})
    with pytest.raises(InvalidRequestError, match="ending_at"):
        build(end=T0 - timedelta(days=1))
    with pytest.raises(InvalidRequestError, match="RFC 3339"):
        parse_time("yesterday", "starting_at")
    with pytest.raises(InvalidRequestError, match="only 1d"):
        CostQuery.build(T0, None, None, None, None, "1h", now=NOW)
    with pytest.raises(InvalidRequestError, match="limit"):
        CostQuery.build(T0, None, 32, None, None, now=NOW)
    with pytest.raises(InvalidRequestError, match="group_by"):
        CostQuery.build(T0, None, None, None, ["model"], now=NOW)


def test_groups_accept_steward_aliases_once() -> None:
    query = build(group_by=["model", "tag:team", "team", "feature", "user_id", "stop_reason"])
    assert query.group == ("model", "team", "feature", "user_id", "stop_reason")
    assert parse_time("2026-08-01T02:00:00+02:00", "x") == T0


def test_cents_and_dollars_are_exact_decimal_strings() -> None:
    assert cents(10**10) == "1" and cents(12_345 * 10**8) == "123.45"
    assert cents(1) == "0.0000000001" and cents(0) == "0"
    assert usd(1_230_000_000_000) == "1.23" and usd(5) == "0.000000000005"


def test_exports() -> None:
    rows = [{"workspace_id": "wrkspc_a", "model": None, "requests": 3}, {"workspace_id": "w,b", "requests": 1}]
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert parsed == [{"workspace_id": "wrkspc_a", "model": "", "requests": "3"},
                      {"workspace_id": "w,b", "model": "", "requests": "1"}]
    assert [orjson.loads(line) for line in to_jsonl(rows).splitlines()] == rows
    assert choose_format(None, "text/csv") == "csv" and choose_format(None, "application/x-ndjson") == "jsonl"
    assert choose_format("jsonl", "text/csv") == "jsonl" and choose_format(None, None) == "json"
    with pytest.raises(InvalidRequestError):
        choose_format("xml", None)
