"""The one versioned pricing catalog: models, aliases, lifecycle dates and effective-dated prices.

Owns loading and validating ``pricing_catalog.json`` (a malformed file fails loudly at load), resolving model
ids and aliases, and answering "which price row was in force at that time". It must not compute costs
(``pricing.py`` does) and does no I/O beyond reading the packaged file once.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from importlib import resources
from types import MappingProxyType
from typing import Any

import orjson

__all__ = ["Band", "Catalog", "CatalogError", "ModelInfo", "PriceRow", "Rates", "Rules"]

FAMILIES = frozenset({"opus", "sonnet", "haiku", "fable", "mythos"})
STATUSES = frozenset({"active", "deprecated", "retired"})
_CACHE_FIELDS = ("cache_write_5m", "cache_write_1h", "cache_read")


class CatalogError(ValueError):
    """The pricing catalog is malformed. Raised at load time, never on the request path."""


@dataclass(slots=True, frozen=True)
class Rates:
    """USD per million tokens; ``per_token`` holds the same five values divided once, exactly, at load."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    per_token: tuple[Decimal, Decimal, Decimal, Decimal, Decimal] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        values = (self.input, self.output, self.cache_write_5m, self.cache_write_1h, self.cache_read)
        object.__setattr__(self, "per_token", tuple(v.scaleb(-6) for v in values))


@dataclass(slots=True, frozen=True)
class Band:
    """Rates for every token of a request whose prompt (input + cache writes + reads) exceeds a threshold."""

    above_prompt_tokens: int
    rates: Rates
    note: str | None = None


@dataclass(slots=True, frozen=True)
class PriceRow:
    """The prices of one model from ``effective_from`` (UTC) until the next row."""

    effective_from: datetime
    rates: Rates
    bands: tuple[Band, ...] = ()
    note: str | None = None

    def rates_for(self, prompt_tokens: int) -> Rates:
        """Rates of the highest band whose threshold the prompt exceeds (strictly), else the base rates."""
        for band in reversed(self.bands):
            if prompt_tokens > band.above_prompt_tokens:
                return band.rates
        return self.rates


@dataclass(slots=True, frozen=True)
class ModelInfo:
    """One model as the catalog knows it."""

    id: str
    aliases: tuple[str, ...]
    display_name: str
    family: str
    created_at: date | None
    context_window: int
    max_output_tokens: int
    status: str
    deprecated_at: date | None
    retires_at: date | None
    prices: tuple[PriceRow, ...]
    note: str | None = None
    replacement: str | None = None  # for a deprecated model: what to use instead (policies name it in refusals)


@dataclass(slots=True, frozen=True)
class Rules:
    """Catalog-wide multipliers and per-request prices."""

    cache_multipliers: Mapping[str, Decimal]  # by cache field name, applied to the input price
    batch_multiplier: Decimal
    geo_multipliers: Mapping[str, Decimal]
    web_search_per_request: Decimal


@dataclass(slots=True, frozen=True, init=False)
class Catalog:
    """An immutable, validated catalog with O(1) lookup by id, alias or dated id."""

    version: str
    rules: Rules
    _models: tuple[ModelInfo, ...]
    _index: Mapping[str, ModelInfo]

    def __init__(self, version: str, rules: Rules, models: tuple[ModelInfo, ...]) -> None:
        index: dict[str, ModelInfo] = {}
        for model in models:
            for name in (model.id, *model.aliases):
                if name in index:
                    raise CatalogError(f"model name {name!r} is listed twice")
                index[name] = model
        for name, value in (("version", version), ("rules", rules), ("_models", models), ("_index", index)):
            object.__setattr__(self, name, value)

    @classmethod
    def load_default(cls) -> Catalog:
        """The packaged catalog, parsed and validated once per process."""
        return _default_catalog()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Catalog:
        """Parse and validate catalog JSON; raises ``CatalogError`` on any defect."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CatalogError(f"catalog is not valid JSON: {exc}") from exc
        return _parse_catalog(data)

    def models(self) -> list[ModelInfo]:
        """All models, newest first as listed in the file."""
        return list(self._models)

    def resolve(self, model_id_or_alias: str) -> ModelInfo | None:
        """The model named by an id, an alias, or an unlisted dated snapshot (``<id>-YYYYMMDD``) of either."""
        found = self._index.get(model_id_or_alias)
        if found is None:
            base, _, suffix = model_id_or_alias.rpartition("-")
            if len(suffix) == 8 and suffix.isdigit():
                found = self._index.get(base)
        return found

    def price_row(self, model: ModelInfo, at: datetime) -> PriceRow:
        """The row in force at ``at`` (timezone-aware); a time before the first row gets the first row."""
        if at.tzinfo is None:
            raise ValueError("price_row needs a timezone-aware datetime")
        for row in reversed(model.prices):
            if row.effective_from <= at:
                return row
        return model.prices[0]


@functools.cache
def _default_catalog() -> Catalog:
    raw = resources.files("steward.governance").joinpath("pricing_catalog.json").read_bytes()
    return Catalog.from_json(raw)


def _parse_catalog(data: Any) -> Catalog:
    obj = _object(data, "catalog", {"version", "currency", "rules", "models"})
    _text(obj["currency"], "catalog.currency", frozenset({"USD"}))
    rules = _parse_rules(obj["rules"])
    models = _list(obj["models"], "catalog.models")
    parsed = tuple(_parse_model(m, rules, f"catalog.models[{i}]") for i, m in enumerate(models))
    return Catalog(_text(obj["version"], "catalog.version"), rules, _with_replacements(parsed))


def _with_replacements(models: tuple[ModelInfo, ...]) -> tuple[ModelInfo, ...]:
    """A deprecated model without an explicit ``replacement`` gets the newest active model of its family."""
    ids = {m.id for m in models}
    out = []
    for model in models:
        if model.replacement is not None and model.replacement not in ids:
            raise CatalogError(f"model {model.id}: replacement {model.replacement!r} is not in the catalog")
        if model.status != "active" and model.replacement is None:
            newest = next((m.id for m in models if m.family == model.family and m.status == "active"), None)
            out.append(dataclasses.replace(model, replacement=newest))
        else:
            out.append(model)
    return tuple(out)


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
        family=_text(obj["family"], f"{where}.family", FAMILIES),
        created_at=_date(obj["created_at"], f"{where}.created_at"),
        context_window=_count(obj["context_window"], f"{where}.context_window"),
        max_output_tokens=_count(obj["max_output_tokens"], f"{where}.max_output_tokens"),
        status=_text(obj["status"], f"{where}.status", STATUSES),
        deprecated_at=_date(obj["deprecated_at"], f"{where}.deprecated_at"),
        retires_at=_date(obj["retires_at"], f"{where}.retires_at"),
        prices=_parse_rows(obj["prices"], rules, f"{where}.prices"),
        note=_note(obj, where),
        replacement=None if obj.get("replacement") is None else _text(obj["replacement"], f"{where}.replacement"),
    )
    if (info.status == "active" and (info.deprecated_at or info.retires_at)) or (
            info.status == "retired" and info.retires_at is None):
        raise CatalogError(f"{where}: an active model has no lifecycle dates; a retired one has retires_at")
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
