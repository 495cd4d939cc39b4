"""Parsing and validating catalog JSON (the format of ``pricing_catalog.json``), with the path of any defect.

Pure: takes decoded JSON, returns value types (``catalog_types.py``) or raises ``CatalogError`` naming the field,
e.g. ``catalog.models[3].prices[0].input: 'x' is not a decimal``. ``catalog.py`` builds the ``Catalog``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from steward.governance.catalog_types import Band, CatalogError, ModelInfo, PriceRow, Rates, Rules

__all__ = ["parse_catalog"]

STATUSES = frozenset({"active", "deprecated", "retired"})
_CACHE_FIELDS = ("cache_write_5m", "cache_write_1h", "cache_read")
_FAMILY = re.compile(r"^[a-z][a-z0-9]*$")


def parse_catalog(data: Any) -> tuple[str, Rules, tuple[ModelInfo, ...]]:
    """(version, rules, models in file order) of a decoded catalog document."""
    obj = _object(data, "catalog", {"version", "currency", "rules", "models"})
    _text(obj["currency"], "catalog.currency", frozenset({"USD"}))
    rules = _parse_rules(obj["rules"])
    models = _list(obj["models"], "catalog.models")
    parsed = tuple(_parse_model(m, rules, f"catalog.models[{i}]") for i, m in enumerate(models))
    return _text(obj["version"], "catalog.version"), rules, parsed


def _family(value: Any, where: str) -> str:
    text = _text(value, where)
    if not _FAMILY.match(text):
        raise CatalogError(f"{where}: {value!r} must be one lowercase word (opus, sonnet, haiku...)")
    return text


def _parse_rules(data: Any) -> Rules:
    keys = {"cache_multipliers", "batch_multiplier", "inference_geo_multipliers", "web_search_usd_per_1000_requests"}
    obj = _object(data, "rules", keys)
    cache = _object(obj["cache_multipliers"], "rules.cache_multipliers", set(_CACHE_FIELDS))
    geo = _object(obj["inference_geo_multipliers"], "rules.inference_geo_multipliers")
    return Rules(
        cache_multipliers=MappingProxyType({k: _money(v, f"rules.cache.{k}") for k, v in cache.items()}),
        batch_multiplier=_money(obj["batch_multiplier"], "rules.batch_multiplier"),
        geo_multipliers=MappingProxyType({k: _money(v, f"rules.geo.{k}") for k, v in geo.items()}),
        web_search_per_request=_money(obj["web_search_usd_per_1000_requests"], "rules.web_search").scaleb(-3),
    )


def _parse_model(data: Any, rules: Rules, where: str) -> ModelInfo:
    required = {"id", "aliases", "display_name", "family", "created_at", "context_window",
                "max_output_tokens", "status", "deprecated_at", "retires_at", "prices"}
    obj = _object(data, where, required, {"note", "replacement"})
    aliases = obj["aliases"] if obj["aliases"] == [] else _list(obj["aliases"], f"{where}.aliases")
    info = ModelInfo(
        id=_text(obj["id"], f"{where}.id"),
        aliases=tuple(_text(a, f"{where}.aliases") for a in aliases),
        display_name=_text(obj["display_name"], f"{where}.display_name"),
        family=None if obj["family"] is None else _family(obj["family"], f"{where}.family"),
        created_at=_date(obj["created_at"], f"{where}.created_at"),
        context_window=_count(obj["context_window"], f"{where}.context_window"),
        max_output_tokens=_count(obj["max_output_tokens"], f"{where}.max_output_tokens"),
        status=_text(obj["status"], f"{where}.status", STATUSES),
        deprecated_at=_date(obj["deprecated_at"], f"{where}.deprecated_at"),
        retires_at=_date(obj["retires_at"], f"{where}.retires_at"),
        prices=() if obj["prices"] == [] else _parse_rows(obj["prices"], rules, f"{where}.prices"),
        note=_note(obj, where),
        replacement=None if obj.get("replacement") is None else _text(obj["replacement"], f"{where}.replacement"),
    )
    if info.status == "retired" and info.retires_at is None:
        raise CatalogError(f"{where}.retires_at: a retired model needs its retirement date")
    if info.deprecated_at and info.retires_at and info.deprecated_at > info.retires_at:
        raise CatalogError(f"{where}.deprecated_at: later than retires_at")
    return info


def _parse_rows(data: Any, rules: Rules, where: str) -> tuple[PriceRow, ...]:
    rows: list[PriceRow] = []
    for i, item in enumerate(_list(data, where)):
        at = f"{where}[{i}]"
        obj = _object(item, at, {"effective_from", "input", "output"}, {*_CACHE_FIELDS, "bands", "note"})
        day = _date(obj["effective_from"], f"{at}.effective_from")
        if day is None and i > 0:
            raise CatalogError(f"{at}: only the first row may omit effective_from")
        # A first row without a date applies since the model existed.
        start = datetime.combine(day or date.min, time(), UTC)
        if rows and start <= rows[-1].effective_from:
            raise CatalogError(f"{at}: rows must be sorted by effective_from with no two on one date")
        rows.append(PriceRow(start, _parse_rates(obj, rules, at), _parse_bands(obj.get("bands"), rules, at),
                             _note(obj, at)))
    return tuple(rows)


def _parse_bands(data: Any, rules: Rules, where: str) -> tuple[Band, ...]:
    bands: list[Band] = []
    for i, item in enumerate(() if data is None else _list(data, f"{where}.bands")):
        at = f"{where}.bands[{i}]"
        obj = _object(item, at, {"above_prompt_tokens", "input", "output"}, {*_CACHE_FIELDS, "note"})
        threshold = _count(obj["above_prompt_tokens"], f"{at}.above_prompt_tokens")
        if bands and threshold <= bands[-1].above_prompt_tokens:
            raise CatalogError(f"{at}: bands must be sorted by a strictly increasing threshold")
        bands.append(Band(threshold, _parse_rates(obj, rules, at), _note(obj, at)))
    return tuple(bands)


def _parse_rates(obj: Mapping[str, Any], rules: Rules, where: str) -> Rates:
    """Explicit prices win; a missing cache price is the input price times the catalog multiplier."""
    base = _money(obj["input"], f"{where}.input")
    multipliers = rules.cache_multipliers
    cache = {k: _money(obj[k], f"{where}.{k}") if k in obj else base * multipliers[k] for k in _CACHE_FIELDS}
    return Rates(input=base, output=_money(obj["output"], f"{where}.output"), **cache)


def _object(data: Any, where: str, required: set[str] | None = None,
            optional: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CatalogError(f"{where} must be an object")
    if required is not None and (missing := required - data.keys()):
        raise CatalogError(f"{where}: missing {sorted(missing)}")
    if required is not None and (unknown := data.keys() - required - optional):
        raise CatalogError(f"{where}: unknown fields {sorted(unknown)}")
    return data


def _list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list) or not data:
        raise CatalogError(f"{where} must be a non-empty list")
    return data


def _money(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise CatalogError(f"{where} must be a decimal string, not {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise CatalogError(f"{where}: {value!r} is not a decimal") from exc
    if not amount.is_finite() or amount < 0:
        raise CatalogError(f"{where}: {value!r} must be a finite, non-negative amount")
    return amount


def _text(value: Any, where: str, allowed: frozenset[str] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{where} must be a non-empty string")
    if allowed is not None and value not in allowed:
        raise CatalogError(f"{where}: {value!r} is not one of {sorted(allowed)}")
    return value


def _note(obj: Mapping[str, Any], where: str) -> str | None:
    return None if obj.get("note") is None else _text(obj["note"], f"{where}.note")


def _count(value: Any, where: str) -> int:
    if type(value) is not int or value <= 0:
        raise CatalogError(f"{where} must be a positive integer")
    return value


def _date(value: Any, where: str) -> date | None:
    text = None if value is None else _text(value, where)
    try:
        return None if text is None else date.fromisoformat(text)
    except ValueError as exc:
        raise CatalogError(f"{where}: {value!r} is not an ISO date") from exc
