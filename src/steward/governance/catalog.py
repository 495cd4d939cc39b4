"""The one versioned pricing catalog: models, aliases, lifecycle dates, effective-dated prices, the family rule.

Owns resolving model ids and aliases, "which price row was in force at that time", a model's lifecycle on a
given day (``as_of``) and the **family rule** that prices a model without prices of its own (docs/catalog.md).
It must not compute costs (``pricing.py`` does) and does no I/O beyond reading the packaged file once; stored
catalog versions reach it as JSON through ``from_json`` / ``from_document``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from datetime import date, datetime
from importlib import resources
from typing import Any

import orjson

from steward.governance.catalog_json import parse_catalog
from steward.governance.catalog_types import Band, CatalogError, ModelInfo, PriceRow, Rates, Rules

__all__ = ["Band", "Catalog", "CatalogError", "ModelInfo", "PriceRow", "Rates", "Rules", "family_word", "lifecycle"]

_MEMO_SIZE = 1024  # bounds the per-catalog memo of family prices (model names come from clients)


def lifecycle(model: ModelInfo, day: date) -> str:
    """The model's status on ``day``: retired from ``retires_at`` on, deprecated from ``deprecated_at`` on,
    never less than the declared status (a model declared retired stays retired)."""
    if model.status == "retired" or (model.retires_at is not None and model.retires_at <= day):
        return "retired"
    if model.status == "deprecated" or (model.deprecated_at is not None and model.deprecated_at <= day):
        return "deprecated"
    return "active"


def family_word(model_id: str, families: frozenset[str] | set[str]) -> str | None:
    """The family rule's first half: the first dash-separated word of the id that names a known family
    (``claude-opus-6-1`` -> ``opus``, ``claude-3-7-sonnet-latest`` -> ``sonnet``), else None."""
    return next((word for word in model_id.lower().split("-") if word in families), None)


def _ceiling(models: tuple[ModelInfo, ...]) -> Rates | None:
    """Per token kind, the highest rate of any row or band in the catalog: what an unpriced model reserves."""
    rates = [r for m in models for row in m.prices for r in (row.rates, *(b.rates for b in row.bands))]
    if not rates:
        return None
    return Rates(*(max(getattr(r, name) for r in rates)
                   for name in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")))


@dataclasses.dataclass(slots=True, frozen=True, init=False)
class Catalog:
    """An immutable, validated catalog with O(1) lookup by id, alias or dated id."""

    version: str
    rules: Rules
    ceiling: Rates | None      # the most expensive rates in the catalog (worst-case reservations)
    day: date | None           # the day ``as_of`` computed statuses for; None: statuses as declared
    families: frozenset[str]
    _declared: tuple[ModelInfo, ...]
    _models: tuple[ModelInfo, ...]
    _index: Mapping[str, ModelInfo]
    _memo: dict[tuple[str, date], ModelInfo | None]

    def __init__(self, version: str, rules: Rules, models: tuple[ModelInfo, ...], *, day: date | None = None) -> None:
        dated = tuple(dataclasses.replace(m, status=lifecycle(m, day)) for m in models) if day else models
        filled = _with_replacements(dated)
        index: dict[str, ModelInfo] = {}
        for model in filled:
            for name in (model.id, *model.aliases):
                if name in index:
                    raise CatalogError(f"model name {name!r} is listed twice")
                index[name] = model
        values = {"version": version, "rules": rules, "ceiling": _ceiling(models), "day": day,
                  "families": frozenset(m.family for m in models if m.family), "_declared": models,
                  "_models": filled, "_index": index, "_memo": {}}
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def load_default(cls) -> Catalog:
        """The packaged catalog, parsed and validated once per process (statuses as declared)."""
        return _default_catalog()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Catalog:
        """Parse and validate catalog JSON; raises ``CatalogError`` naming the path of any defect."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CatalogError(f"catalog is not valid JSON: {exc}") from exc
        return cls.from_document(data)

    @classmethod
    def from_document(cls, data: Any) -> Catalog:
        """Validate an already decoded catalog document (a stored version)."""
        version, rules, models = parse_catalog(data)
        return cls(version, rules, models)

    def as_of(self, day: date) -> Catalog:
        """The same catalog with each model's status as of ``day`` (see ``lifecycle``)."""
        return Catalog(self.version, self.rules, self._declared, day=day)

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

    def family_of(self, model: str) -> str | None:
        """A listed model's family, else the family its id names (``family_word``), else None."""
        info = self.resolve(model)
        if info is not None:
            return info.family
        return family_word(model, self.families)

    def price_source(self, model: str, at: datetime) -> ModelInfo | None:
        """The model whose prices bill ``model`` at ``at``: itself when it has prices; else, by the family rule,
        the first (newest) model of its family with prices that is not retired at ``at`` (failing that, the
        newest with prices at all); None when no price applies (an **unpriced** model)."""
        info = self.resolve(model)
        if info is not None and info.prices:
            return info
        key = (model, at.date())
        if key in self._memo:
            return self._memo[key]
        family = self.family_of(model)
        priced = [m for m in self._declared if family is not None and m.family == family and m.prices]
        found = next((m for m in priced if lifecycle(m, at.date()) != "retired"), priced[0] if priced else None)
        source = self._index.get(found.id) if found is not None else None
        if len(self._memo) < _MEMO_SIZE:
            self._memo[key] = source
        return source

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
    return Catalog.from_json(packaged_bytes())


def packaged_bytes() -> bytes:
    """The packaged ``pricing_catalog.json``: the base when no catalog version is stored."""
    return resources.files("steward.governance").joinpath("pricing_catalog.json").read_bytes()


def _with_replacements(models: tuple[ModelInfo, ...]) -> tuple[ModelInfo, ...]:
    """A deprecated or retired model without an explicit ``replacement`` gets the newest active model of its
    family (the first listed)."""
    ids = {m.id for m in models}
    out = []
    for model in models:
        if model.replacement is not None and model.replacement not in ids:
            raise CatalogError(f"model {model.id}: replacement {model.replacement!r} is not in the catalog")
        if model.status != "active" and model.replacement is None and model.family is not None:
            newest = next((m.id for m in models if m.family == model.family and m.status == "active"), None)
            out.append(dataclasses.replace(model, replacement=newest))
        else:
            out.append(model)
    return tuple(out)
