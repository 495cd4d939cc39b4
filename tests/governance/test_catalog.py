"""The packaged catalog: coverage of the SDK's model list, lookups, effective dates, and strict validation."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, get_args

import orjson
import pytest
from anthropic._data import DEPRECATED_MODELS
from anthropic.types.model_param import ModelParam

from steward.governance.catalog import Catalog, CatalogError

# Models the SDK lists that the catalog deliberately leaves out, and why.
NOT_PRICED = {
    "claude-mythos-preview": "no published per-token price; the SDK lists its end of life as 2026-06-30",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load_default()


def _sdk_model_ids() -> list[str]:
    literal, _str = get_args(ModelParam)
    return list(get_args(literal))


def test_load_default_is_cached_and_versioned(catalog: Catalog) -> None:
    assert Catalog.load_default() is catalog
    assert catalog.version == "2026-11-29.1"
    assert len(catalog.models()) >= 18


@pytest.mark.parametrize("model_id", _sdk_model_ids())
def test_every_priced_sdk_model_resolves(catalog: Catalog, model_id: str) -> None:
    info = catalog.resolve(model_id)
    if model_id in NOT_PRICED:
        assert info is None, f"{model_id} is priced now; drop it from NOT_PRICED"
    else:
        assert info is not None, f"{model_id} from anthropic.types.ModelParam has no price"


def test_sdk_end_of_life_dates_match(catalog: Catalog) -> None:
    for model_id, text in DEPRECATED_MODELS.items():
        info = catalog.resolve(model_id)
        if info is None:
            assert model_id in NOT_PRICED
            continue
        month, day, year = text.replace(",", "").split()
        expected = datetime.strptime(f"{month} {day[:-2]} {year}", "%B %d %Y").date()
        assert (info.status, info.retires_at) == ("deprecated", expected), model_id


def test_sonnet_4_5_lifecycle(catalog: Catalog) -> None:
    info = catalog.resolve("claude-sonnet-4-5")
    assert info is not None
    assert info.id == "claude-sonnet-4-5-20250929"
    assert info.retires_at == date(2026, 11, 30)
    assert info.family == "sonnet"


def test_resolve_ids_aliases_and_dated_snapshots(catalog: Catalog) -> None:
    haiku = catalog.resolve("claude-haiku-4-5-20251001")
    assert haiku is not None
    assert catalog.resolve("claude-haiku-4-5") is haiku
    assert catalog.resolve("claude-opus-4-8-20260528") is catalog.resolve("claude-opus-4-8")
    assert catalog.resolve("claude-opus-4-8-2026052") is None
    assert catalog.resolve("gpt-4") is None
    assert catalog.resolve("") is None


def test_price_row_in_force(catalog: Catalog) -> None:
    sonnet = catalog.resolve("claude-sonnet-5-5")
    assert sonnet is not None
    early = catalog.price_row(sonnet, datetime(2026, 10, 1, tzinfo=UTC))
    late = catalog.price_row(sonnet, datetime(2026, 10, 7, tzinfo=UTC))
    assert (early.rates.cache_read, late.rates.cache_read) == (Decimal("0.20"), Decimal("0.10"))
    # Long before any row, the first row applies.
    assert catalog.price_row(sonnet, datetime(2000, 1, 1, tzinfo=UTC)) is early


def test_cache_prices_derived_from_multipliers(catalog: Catalog) -> None:
    opus = catalog.resolve("claude-opus-4-6")
    assert opus is not None
    rates = catalog.price_row(opus, datetime(2026, 11, 29, tzinfo=UTC)).rates
    assert (rates.cache_write_5m, rates.cache_write_1h, rates.cache_read) == (
        Decimal("6.25"), Decimal("10"), Decimal("0.5"))
    assert rates.per_token[0] == Decimal("0.000005")


def test_every_model_is_well_formed(catalog: Catalog) -> None:
    for info in catalog.models():
        assert info.prices, info.id
        assert info.context_window >= 200_000
        assert 0 < info.max_output_tokens <= info.context_window


# A minimal valid catalog; each malformed case below breaks one thing.
MINIMAL: dict[str, Any] = {
    "version": "test.1",
    "currency": "USD",
    "rules": {
        "cache_multipliers": {"cache_write_5m": "1.25", "cache_write_1h": "2", "cache_read": "0.1"},
        "batch_multiplier": "0.5",
        "inference_geo_multipliers": {"us": "1.1"},
        "web_search_usd_per_1000_requests": "10",
    },
    "models": [{
        "id": "claude-test-1", "aliases": ["claude-test"], "display_name": "Test", "family": "opus",
        "created_at": "2026-01-01", "context_window": 200000, "max_output_tokens": 8000, "status": "active",
        "deprecated_at": None, "retires_at": None,
        "prices": [
            {"effective_from": None, "input": "1", "output": "5"},
            {"effective_from": "2026-06-01", "input": "2", "output": "6",
             "bands": [{"above_prompt_tokens": 1000, "input": "3", "output": "7"}]},
        ],
    }],
}


def _broken(change: Any) -> bytes:
    data = copy.deepcopy(MINIMAL)
    change(data)
    return orjson.dumps(data)


def test_minimal_catalog_is_valid() -> None:
    catalog = Catalog.from_json(orjson.dumps(MINIMAL))
    info = catalog.resolve("claude-test")
    assert info is not None
    row = catalog.price_row(info, datetime(2026, 7, 1, tzinfo=UTC))
    assert row.rates_for(1_000).input == Decimal("2")
    assert row.rates_for(1_001).input == Decimal("3")


def _model(data: dict[str, Any]) -> dict[str, Any]:
    model: dict[str, Any] = data["models"][0]
    return model


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _model(data)["prices"]
    return rows


MALFORMED = {
    "not json": lambda d: None,
    "unknown top-level field": lambda d: d.update(extra=1),
    "unknown model field": lambda d: _model(d).update(colour="blue"),
    "unknown row field": lambda d: _rows(d)[0].update(discount="0.1"),
    "missing output": lambda d: _rows(d)[0].pop("output"),
    "negative price": lambda d: _rows(d)[0].update(input="-1"),
    "float price": lambda d: _rows(d)[0].update(input=1.5),
    "nan price": lambda d: _rows(d)[0].update(input="NaN"),
    "garbage price": lambda d: _rows(d)[0].update(input="three"),
    "unsorted rows": lambda d: _rows(d).reverse(),
    "overlapping rows": lambda d: _rows(d).append(dict(_rows(d)[1])),
    "second row without date": lambda d: _rows(d)[1].update(effective_from=None),
    "prices not a list": lambda d: _model(d).update(prices="5"),
    "bad date": lambda d: _rows(d)[1].update(effective_from="2026-13-01"),
    "unsorted bands": lambda d: _rows(d)[1]["bands"].insert(0, {"above_prompt_tokens": 2000,
                                                               "input": "1", "output": "1"}),
    "bad family": lambda d: _model(d).update(family="Claude Opus"),
    "bad status": lambda d: _model(d).update(status="sunset"),
    "deprecated after retirement": lambda d: _model(d).update(deprecated_at="2027-02-01", retires_at="2027-01-01"),
    "retired without date": lambda d: _model(d).update(status="retired"),
    "duplicate alias": lambda d: _model(d).update(aliases=["claude-test-1"]),
    "bool context window": lambda d: _model(d).update(context_window=True),
    "bad currency": lambda d: d.update(currency="EUR"),
    "missing rules": lambda d: d.pop("rules"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_catalog_is_refused(case: str) -> None:
    raw = b"{not json" if case == "not json" else _broken(MALFORMED[case])
    with pytest.raises(CatalogError):
        Catalog.from_json(raw)


async def test_a_failing_catalog_store_is_logged_once_a_minute_not_every_round(
        caplog: pytest.LogCaptureFixture) -> None:
    """The shipper refreshes the catalog every round; with the database down each round logged a traceback."""
    from steward.governance.catalog_source import CatalogSource
    from steward.serving import free_port
    from steward.storage.engine import Database
    from steward.storage.repositories.catalog import CatalogRepository

    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing_listens")
    source = CatalogSource(CatalogRepository(database.sessions))
    try:
        with caplog.at_level(logging.ERROR, logger="steward.catalog"):
            catalogs = [await source.refresh() for _ in range(5)]
    finally:
        await database.close()
    assert all(c.version == Catalog.load_default().version for c in catalogs)  # the last good one is kept
    assert len([r for r in caplog.records if r.name == "steward.catalog"]) == 1
