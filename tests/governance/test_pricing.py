"""Exact costs against hand-computed expectations from the published per-million prices.

Every expected amount below was worked out by hand (tokens x USD per million / 1,000,000), never by calling
the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal, Inexact, localcontext

import pytest

from steward.governance.catalog import Catalog
from steward.governance.pricing import (
    CACHE_READ,
    CACHE_WRITE_1H,
    CACHE_WRITE_5M,
    OUTPUT,
    UNCACHED_INPUT,
    UnknownModelError,
    price,
    to_cents_str,
)
from steward.governance.usage import Usage

AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load_default()


def test_sonnet_4_6_input_and_output(catalog: Catalog) -> None:
    # 1,000 x $3/M = 0.003; 500 x $15/M = 0.0075.
    cost = price(catalog, "claude-sonnet-4-6", Usage(input_tokens=1_000, output_tokens=500), at=AT)
    assert cost.total == Decimal("0.0105")
    amounts = {line.token_type: line.amount for line in cost.lines}
    assert amounts == {UNCACHED_INPUT: Decimal("0.003"), OUTPUT: Decimal("0.0075")}
    assert cost.model == "claude-sonnet-4-6"
    assert cost.catalog_version == catalog.version


def test_lines_are_exact_products(catalog: Catalog) -> None:
    usage = Usage(input_tokens=1_234, output_tokens=567, cache_read=89, web_search_requests=3)
    cost = price(catalog, "claude-opus-4-8", usage, at=AT, batch=True)
    assert all(line.amount == line.unit_price * line.quantity for line in cost.lines)
    assert cost.total == sum(line.amount for line in cost.lines)


@pytest.mark.parametrize(
    ("field", "token_type", "expected"),
    [
        ("cache_write_5m", CACHE_WRITE_5M, Decimal("0.0375")),  # 10,000 x $3.75/M
        ("cache_write_1h", CACHE_WRITE_1H, Decimal("0.06")),  # 10,000 x $6/M
        ("cache_read", CACHE_READ, Decimal("0.003")),  # 10,000 x $0.30/M
    ],
)
def test_cache_prices(catalog: Catalog, field: str, token_type: str, expected: Decimal) -> None:
    cost = price(catalog, "claude-sonnet-4-6", Usage(**{field: 10_000}), at=AT)  # type: ignore[arg-type]
    assert cost.total == expected
    assert [line.token_type for line in cost.lines] == [token_type]


def test_cache_reads_are_not_billed_as_input(catalog: Catalog) -> None:
    # Haiku 4.5: 2,000 uncached x $1/M = 0.002; 50,000 read x $0.10/M = 0.005.
    cost = price(catalog, "claude-haiku-4-5", Usage(input_tokens=2_000, cache_read=50_000), at=AT)
    assert cost.total == Decimal("0.007")


def test_thinking_is_inside_output_and_not_added_twice(catalog: Catalog) -> None:
    # 1,000 output (800 of them thinking) x $15/M = 0.015.
    usage = Usage(output_tokens=1_000, thinking_tokens=800)
    assert price(catalog, "claude-sonnet-4-6", usage, at=AT).total == Decimal("0.015")


def test_batch_halves_tokens_but_not_web_search(catalog: Catalog) -> None:
    # Tokens 0.0105 / 2 = 0.00525; 3 searches x $0.01 = 0.03 undiscounted.
    usage = Usage(input_tokens=1_000, output_tokens=500, web_search_requests=3)
    assert price(catalog, "claude-sonnet-4-6", usage, at=AT).total == Decimal("0.0405")
    assert price(catalog, "claude-sonnet-4-6", usage, at=AT, batch=True).total == Decimal("0.03525")


def test_batch_service_tier_counts_as_batch(catalog: Catalog) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=500, service_tier="batch")
    assert price(catalog, "claude-sonnet-4-6", usage, at=AT).total == Decimal("0.00525")


def test_web_search_is_ten_dollars_per_thousand(catalog: Catalog) -> None:
    cost = price(catalog, "claude-opus-5", Usage(web_search_requests=1_000), at=AT)
    assert cost.total == Decimal("10")
    (line,) = cost.lines
    assert (line.cost_type, line.token_type, line.quantity) == ("web_search", None, 1_000)


def test_us_inference_geo_costs_ten_percent_more(catalog: Catalog) -> None:
    # 0.0105 x 1.1 = 0.01155; with batch 0.00525 x 1.1 = 0.005775.
    usage = Usage(input_tokens=1_000, output_tokens=500, inference_geo="us")
    assert price(catalog, "claude-sonnet-4-6", usage, at=AT).total == Decimal("0.01155")
    assert price(catalog, "claude-sonnet-4-6", usage, at=AT, batch=True).total == Decimal("0.005775")
    global_geo = Usage(input_tokens=1_000, output_tokens=500, inference_geo="global")
    assert price(catalog, "claude-sonnet-4-6", global_geo, at=AT).total == Decimal("0.0105")


def test_long_context_band_starts_above_200k(catalog: Catalog) -> None:
    # "Above 200K" means more than 200,000 prompt tokens.
    # At 200,000: 200,000 x $3/M = 0.6 and 1,000 x $15/M = 0.015.
    at_limit = price(catalog, "claude-sonnet-4-6", Usage(input_tokens=200_000, output_tokens=1_000), at=AT)
    assert at_limit.total == Decimal("0.615")
    # At 200,001 every token moves to the band: 200,001 x $6/M = 1.200006 and 1,000 x $22.50/M = 0.0225.
    above = price(catalog, "claude-sonnet-4-6", Usage(input_tokens=200_001, output_tokens=1_000), at=AT)
    assert above.total == Decimal("1.222506")


def test_long_context_band_counts_cache_tokens(catalog: Catalog) -> None:
    # Prompt = 100,000 + 100,001 read = 200,001: 100,000 x $6/M = 0.6; 100,001 x $0.60/M = 0.0600006.
    usage = Usage(input_tokens=100_000, cache_read=100_001)
    assert price(catalog, "claude-sonnet-4-5", usage, at=AT).total == Decimal("0.6600006")


def test_band_batch_and_geo_stack(catalog: Catalog) -> None:
    # 1.222506 x 0.5 x 1.1 = 0.6723783.
    usage = Usage(input_tokens=200_001, output_tokens=1_000, inference_geo="us")
    assert price(catalog, "claude-sonnet-4-6", usage, at=AT, batch=True).total == Decimal("0.6723783")


def test_haiku_5_5_band_at_100k(catalog: Catalog) -> None:
    # 100,000 x $0.10/M = 0.01. Above: 100,001 x $0.50/M = 0.0500005 and 1,000 x $2.50/M = 0.0025.
    assert price(catalog, "claude-haiku-5-5", Usage(input_tokens=100_000), at=AT).total == Decimal("0.01")
    usage = Usage(input_tokens=100_001, output_tokens=1_000)
    assert price(catalog, "claude-haiku-5-5", usage, at=AT).total == Decimal("0.0525005")


def test_sonnet_5_5_cache_read_price_change_is_effective_dated(catalog: Catalog) -> None:
    # 1,000,000 reads: $0.20 before 2026-10-07, $0.10 from that day (UTC).
    usage = Usage(cache_read=1_000_000)
    before = datetime(2026, 10, 6, 23, 59, 59, tzinfo=UTC)
    after = datetime(2026, 10, 7, 0, 0, tzinfo=UTC)
    assert price(catalog, "claude-sonnet-5-5", usage, at=before).total == Decimal("0.20")
    assert price(catalog, "claude-sonnet-5-5", usage, at=after).total == Decimal("0.10")


@pytest.mark.parametrize(
    ("alias", "dated"),
    [
        ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
        ("claude-opus-4-5", "claude-opus-4-5-20251101"),
    ],
)
def test_aliases_price_the_same(catalog: Catalog, alias: str, dated: str) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000, cache_write_1h=500)
    assert price(catalog, alias, usage, at=AT) == price(catalog, dated, usage, at=AT)


def test_newer_model_prices(catalog: Catalog) -> None:
    # Opus 5.5: 1,000 x $4/M + 1,000 x $20/M + 10,000 read x $0.20/M = 0.004 + 0.02 + 0.002.
    usage = Usage(input_tokens=1_000, output_tokens=1_000, cache_read=10_000)
    assert price(catalog, "claude-opus-5-5", usage, at=AT).total == Decimal("0.026")
    # Fable 5.1 cache read $0.25/M: 1,000,000 reads = 0.25.
    assert price(catalog, "claude-fable-5-1", Usage(cache_read=1_000_000), at=AT).total == Decimal("0.25")


def test_refusal_before_output_bills_only_input(catalog: Catalog) -> None:
    # A refusal before any output reports output_tokens == 0: 1,000 x $10/M = 0.01.
    cost = price(catalog, "claude-fable-5", Usage(input_tokens=1_000, output_tokens=0), at=AT)
    assert cost.total == Decimal("0.01")
    assert [line.token_type for line in cost.lines] == [UNCACHED_INPUT]


def test_empty_usage_costs_nothing(catalog: Catalog) -> None:
    cost = price(catalog, "claude-opus-4-7", Usage(), at=AT)
    assert cost.total == 0
    assert cost.lines == ()


def test_unknown_model_is_a_key_error(catalog: Catalog) -> None:
    with pytest.raises(UnknownModelError) as caught:
        price(catalog, "claude-unknown-9", Usage(input_tokens=1), at=AT)
    assert isinstance(caught.value, KeyError)


def test_naive_datetime_is_refused(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        price(catalog, "claude-opus-4-8", Usage(), at=datetime(2026, 11, 29))


def test_no_float_in_results(catalog: Catalog) -> None:
    usage = Usage(input_tokens=3, output_tokens=7, cache_write_5m=11, cache_write_1h=13, cache_read=17,
                  web_search_requests=1, inference_geo="us")
    cost = price(catalog, "claude-sonnet-4-6", usage, at=AT, batch=True)
    values = [cost.total, *(line.amount for line in cost.lines), *(line.unit_price for line in cost.lines)]
    assert all(type(value) is Decimal for value in values)


def test_arithmetic_never_rounds(catalog: Catalog) -> None:
    usage = Usage(input_tokens=987_654_321, output_tokens=123_457, cache_write_5m=99_999, cache_write_1h=7,
                  cache_read=3_333_333, web_search_requests=17, inference_geo="us")
    with localcontext(Context(prec=28, traps=[Inexact])):
        for model in ("claude-sonnet-4-6", "claude-haiku-5-5", "claude-fable-5-1", "claude-opus-5-5"):
            cost = price(catalog, model, usage, at=AT, batch=True)
            to_cents_str(cost.total)


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        (Decimal("0.0123"), "1.23"),
        (Decimal("0.0105"), "1.05"),
        (Decimal("0.010500"), "1.05"),
        (Decimal("1.222506"), "122.2506"),
        (Decimal("12"), "1200"),
        (Decimal("0.00000165"), "0.000165"),
        (Decimal("0"), "0"),
        (Decimal("0.000"), "0"),
    ],
)
def test_to_cents_str(amount: Decimal, cents: str) -> None:
    assert to_cents_str(amount) == cents
