"""Query parameters of the report endpoints, parsed and validated once: Anthropic's names, values and limits
(``starting_at``, ``ending_at``, ``bucket_width``, ``limit``, ``page``, ``group_by[]`` and the filters), plus
Steward's extra groupings and filters. Every mistake is an ``InvalidRequestError`` (400), never a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from steward.errors import InvalidRequestError
from steward.reporting.rollups import bucket_start

__all__ = [
    "BUCKET_LIMITS",
    "COST_GROUPS",
    "FILTERS",
    "GROUPS",
    "CostQuery",
    "UsageQuery",
    "Window",
    "decode_page",
    "encode_page",
    "parse_date",
    "parse_time",
]

# bucket_width -> (default limit, max limit), as Anthropic documents them.
BUCKET_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
WIDTHS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
# group_by[] value -> rollup dimension. Anthropic's first, then Steward's additions (never in Anthropic's rows
# unless asked for). account_id, service_account_id and speed are Anthropic dimensions Steward does not record:
# they are always null (grouping by them gives one group; filtering on them matches nothing).
GROUPS = {"account_id": "account_id", "api_key_id": "api_key_id", "context_window": "context_window",
          "inference_geo": "inference_geo", "model": "model", "service_account_id": "service_account_id",
          "service_tier": "service_tier", "speed": "speed", "workspace_id": "workspace_id",
          "user_id": "user_id", "stop_reason": "stop_reason", "team": "team", "tag:team": "team",
          "feature": "feature", "tag:feature": "feature"}
STEWARD_GROUPS = frozenset({"user_id", "stop_reason", "team", "feature"})
UNRECORDED = frozenset({"account_id", "service_account_id", "speed"})
# filter parameter (sent as name[]= or name=) -> (dimension, allowed values or None for free text)
FILTERS: dict[str, tuple[str, frozenset[str] | None]] = {
    "api_key_ids": ("api_key_id", None), "workspace_ids": ("workspace_id", None), "models": ("model", None),
    "account_ids": ("account_id", None), "service_account_ids": ("service_account_id", None),
    "service_tiers": ("service_tier", frozenset({"standard", "batch", "priority", "priority_on_demand", "flex",
                                                 "flex_discount"})),
    "context_window": ("context_window", frozenset({"0-200k", "200k-1M"})),
    "inference_geos": ("inference_geo", frozenset({"global", "us", "not_available"})),
    "speeds": ("speed", frozenset({"fast", "standard"})),
    "user_ids": ("user_id", None), "stop_reasons": ("stop_reason", None), "teams": ("team", None),
    "features": ("feature", None),
}
COST_GROUPS = frozenset({"workspace_id", "description"})


def parse_time(value: str | None, name: str) -> datetime | None:
    """An RFC 3339 time (``Z`` or an offset; a bare date or a naive time is taken as UTC)."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise InvalidRequestError(f"{name}: {value!r} is not an RFC 3339 date-time "
                                  "(for example 2025-08-01T00:00:00Z).") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_date(value: str | None, name: str) -> date | None:
    """A ``YYYY-MM-DD`` date."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequestError(f"{name}: {value!r} is not a date (YYYY-MM-DD).") from None


def encode_page(at: datetime) -> str:
    """The opaque ``next_page`` token: the next bucket's start (Anthropic's tokens look the same)."""
    return "page_" + base64.urlsafe_b64encode(at.strftime("%Y-%m-%dT%H:%M:%SZ").encode()).decode()


def decode_page(token: str) -> datetime:
    try:
        raw = base64.urlsafe_b64decode(token.removeprefix("page_").encode()).decode()
        return datetime.fromisoformat(raw).astimezone(UTC)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError("page: not a next_page token from a previous response.") from None


@dataclass(slots=True, frozen=True)
class Window:
    """The buckets of one page: their starts, and where the next page begins (None on the last page)."""

    width: str
    starts: tuple[datetime, ...]
    next_start: datetime | None

    @property
    def start(self) -> datetime:
        return self.starts[0]

    @property
    def end(self) -> datetime:
        return self.starts[-1] + WIDTHS[self.width]


def _window(starting_at: datetime, ending_at: datetime | None, width: str, limit: int | None,
            page: str | None, now: datetime | None) -> Window:
    default, maximum = BUCKET_LIMITS[width]
    size = default if limit is None else limit
    if not 1 <= size <= maximum:
        raise InvalidRequestError(f"limit: must be between 1 and {maximum} for bucket_width {width} "
                                  f"(default {default}); got {size}.")
    first = bucket_start(starting_at, width)
    end = ending_at if ending_at is not None else (now or datetime.now(UTC))
    if end <= starting_at:
        raise InvalidRequestError("ending_at must be later than starting_at.")
    step = WIDTHS[width]
    cursor = first
    if page is not None:
        cursor = decode_page(page)
        if cursor < first or cursor >= end or bucket_start(cursor, width) != cursor:
            raise InvalidRequestError("page: this token does not belong to this query.")
    starts: list[datetime] = []
    while cursor < end and len(starts) < size:
        starts.append(cursor)
        cursor += step
    return Window(width, tuple(starts), cursor if cursor < end else None)


@dataclass(slots=True, frozen=True)
class UsageQuery:
    """A validated messages usage report query: one page of buckets, the groups and the filters."""

    window: Window
    group: tuple[str, ...]  # dimensions, in the order asked, without duplicates
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, starting_at: datetime | None, ending_at: datetime | None, bucket_width: str | None,
              limit: int | None, page: str | None, group_by: Sequence[str] | None,
              filters: Mapping[str, Sequence[str]], now: datetime | None = None) -> UsageQuery:
        if starting_at is None:
            raise InvalidRequestError("starting_at: Field required")
        width = bucket_width or "1d"
        if width not in BUCKET_LIMITS:
            raise InvalidRequestError(f"bucket_width: must be one of 1d, 1h, 1m; got {width!r}.")
        group: list[str] = []
        for name in group_by or ():
            if name not in GROUPS:
                raise InvalidRequestError(f"group_by: unknown value {name!r}; expected one of "
                                          f"{', '.join(sorted(GROUPS))}.")
            if GROUPS[name] not in group:
                group.append(GROUPS[name])
        parsed: dict[str, tuple[str, ...]] = {}
        for param, values in filters.items():
            if param not in FILTERS:
                raise InvalidRequestError(f"unknown filter {param!r}.")
            dimension, allowed = FILTERS[param]
            bad = [v for v in values if allowed is not None and v not in allowed]
            if bad:
                raise InvalidRequestError(f"{param}: unknown value {bad[0]!r}; expected one of "
                                          f"{', '.join(sorted(allowed or ()))}.")
            if values:
                parsed[dimension] = tuple(values)
        return cls(_window(starting_at, ending_at, width, limit, page, now), tuple(group), parsed)


@dataclass(slots=True, frozen=True)
class CostQuery:
    """A validated cost report query: daily buckets only, grouped by workspace and/or description."""

    window: Window
    by_workspace: bool
    by_description: bool
    workspace_ids: tuple[str, ...] = ()

    @classmethod
    def build(cls, starting_at: datetime | None, ending_at: datetime | None, limit: int | None, page: str | None,
              group_by: Sequence[str] | None, bucket_width: str | None = None, now: datetime | None = None,
              workspace_ids: Sequence[str] = ()) -> CostQuery:
        if starting_at is None:
            raise InvalidRequestError("starting_at: Field required")
        if bucket_width not in (None, "1d"):
            raise InvalidRequestError(f"bucket_width: the cost report supports only 1d; got {bucket_width!r}.")
        for name in group_by or ():
            if name not in COST_GROUPS:
                raise InvalidRequestError(f"group_by: unknown value {name!r}; expected workspace_id or description.")
        groups = set(group_by or ())
        return cls(_window(starting_at, ending_at, "1d", limit, page, now), "workspace_id" in groups,
                   "description" in groups, tuple(workspace_ids))
