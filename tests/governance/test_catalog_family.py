"""The family rule, lifecycle by date, and the ceiling rates of unpriced models (governance/catalog.py)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from steward.governance.catalog import Catalog, family_word, lifecycle, packaged_bytes
from steward.governance.limit_rules import group_of
from steward.governance.pricing import UnknownModelError, price
from steward.governance.spend_rules import worst_case_picousd
from steward.governance.usage import Usage

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
CATALOG = Catalog.load_default()


def _document() -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(orjson.loads(packaged_bytes()))
    return document


@pytest.mark.parametrize(("model_id", "family"), [
    ("claude-opus-6-1", "opus"), ("claude-opus-6", "opus"), ("claude-3-7-sonnet-latest", "sonnet"),
    ("claude-haiku-7-20270101", "haiku"), ("claude-zephyr-1", None), ("gpt-5", None), ("claude-opusx-1", None),
])
def test_the_family_is_the_first_word_naming_a_catalog_family(model_id: str, family: str | None) -> None:
    assert family_word(model_id, CATALOG.families) == family
    assert CATALOG.family_of(model_id) == family


def test_an_unlisted_model_is_priced_as_the_newest_priced_model_of_its_family() -> None:
    source = CATALOG.price_source("claude-opus-6-1", NOW)
    assert source is not None and source.id == "claude-opus-5-5"  # listed first among the opus models
    cost = price(CATALOG, "claude-opus-6-1", Usage(input_tokens=1_000_000, output_tokens=1_000_000), at=NOW)
    assert (cost.total, cost.model, cost.priced_as) == (Decimal(24), "claude-opus-6-1", "claude-opus-5-5")
    assert CATALOG.price_source("claude-sonnet-6", NOW).id == "claude-sonnet-5-5"  # type: ignore[union-attr]
    assert group_of(CATALOG, "claude-opus-6-1") == "rlg_opus" and group_of(CATALOG, "claude-zephyr-1") is None


def test_a_retired_family_member_is_skipped_and_a_listed_model_keeps_its_own_price() -> None:
    document = _document()
    opus55 = next(m for m in document["models"] if m["id"] == "claude-opus-5-5")
    opus55.update(status="deprecated", retires_at="2026-12-01")
    catalog = Catalog.from_document(document)
    assert catalog.price_source("claude-opus-6", NOW).id == "claude-opus-5"  # type: ignore[union-attr]
    before = datetime(2026, 11, 1, tzinfo=UTC)  # the family price is the one in force at the time of the request
    assert catalog.price_source("claude-opus-6", before).id == "claude-opus-5-5"  # type: ignore[union-attr]
    assert catalog.price_source("claude-opus-4-7", NOW).id == "claude-opus-4-7"  # type: ignore[union-attr]


def test_a_model_without_prices_uses_its_declared_family() -> None:
    document = _document()
    document["models"].insert(0, {**document["models"][0], "id": "claude-nova-1", "family": "haiku", "prices": [],
                                  "display_name": "Claude Nova 1"})
    catalog = Catalog.from_document(document)
    assert catalog.price_source("claude-nova-1", NOW).id == "claude-haiku-5-5"  # type: ignore[union-attr]


def test_no_family_means_unpriced_never_zero_and_the_worst_case_uses_the_highest_rates() -> None:
    assert CATALOG.price_source("claude-zephyr-1", NOW) is None
    with pytest.raises(UnknownModelError):
        price(CATALOG, "claude-zephyr-1", Usage(input_tokens=10, output_tokens=10), at=NOW)
    ceiling = CATALOG.ceiling
    assert ceiling is not None
    assert (ceiling.input, ceiling.output, ceiling.cache_write_1h) == (Decimal(10), Decimal(50), Decimal(20))
    reserved = worst_case_picousd(CATALOG, "claude-zephyr-1", {"max_tokens": 1000}, 1000, NOW, caching=False)
    assert reserved == (1000 * 10 + 1000 * 50) * 10**6  # pico-dollars: (10 + 50) USD per million tokens
    highest_listed = max(worst_case_picousd(CATALOG, m.id, {"max_tokens": 1000}, 1000, NOW, caching=False)
                         for m in CATALOG.models())
    assert reserved >= highest_listed


def test_lifecycle_follows_the_dates() -> None:
    sonnet45 = CATALOG.resolve("claude-sonnet-4-5")
    assert sonnet45 is not None and sonnet45.status == "deprecated"  # as declared in the file
    assert lifecycle(sonnet45, date(2026, 11, 29)) == "deprecated"
    assert lifecycle(sonnet45, date(2026, 11, 30)) == "retired"
    today = CATALOG.as_of(date(2026, 12, 6))
    retired = today.resolve("claude-sonnet-4-5")
    assert retired is not None and retired.status == "retired" and retired.replacement == "claude-sonnet-5-5"
    document = _document()
    document["models"][0]["deprecated_at"] = "2026-12-10"  # an active model with a future deprecation date
    catalog = Catalog.from_document(document)
    assert catalog.as_of(date(2026, 12, 9)).models()[0].status == "active"
    assert catalog.as_of(date(2026, 12, 10)).models()[0].status == "deprecated"
