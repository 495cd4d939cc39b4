"""Which rate limits apply to a request and how much each one is charged: pure rules, no I/O.

Limits are grouped like Anthropic's: one *model group* per model family (all Opus models share one bucket),
plus the Message Batches group (its own limits; batches never count against real-time limits). Limiter
types follow Anthropic's names. Input tokens are estimated at admission and settled with the real usage.
"""

from __future__ import annotations

from dataclasses import dataclass

from steward.governance.catalog import Catalog
from steward.governance.usage import Usage

PER_MINUTE = 60.0
PER_DAY = 86400.0

# limiter type -> (bucket kind for the response headers, refill period)
LIMIT_TYPES: dict[str, tuple[str, float]] = {
    "requests_per_minute": ("requests", PER_MINUTE),
    "input_tokens_per_minute": ("input_tokens", PER_MINUTE),
    "input_tokens_per_minute_cache_aware": ("input_tokens", PER_MINUTE),
    "output_tokens_per_minute": ("output_tokens", PER_MINUTE),
    "tokens_per_minute": ("tokens", PER_MINUTE),
    "tokens_per_day": ("tokens", PER_DAY),
}
BATCH_GROUP = "rlg_batch"
QUEUED_REQUESTS = "queued_requests"  # batch group only: requests waiting in unfinished batches (not a bucket)
LEVELS = ("organization", "workspace", "key")


@dataclass(slots=True, frozen=True)
class LimitGroup:
    id: str
    type: str            # "model_group" | "batch"
    display_name: str
    models: tuple[str, ...]


def limit_groups(catalog: Catalog) -> list[LimitGroup]:
    """Every group: one per model family in the catalog, then the batch group."""
    families: dict[str, list[str]] = {}
    for model in catalog.models():
        if model.status != "retired" and model.family is not None:
            families.setdefault(model.family, []).extend((model.id, *model.aliases))
    groups = [LimitGroup(f"rlg_{family}", "model_group", f"Claude {family.title()}", tuple(names))
              for family, names in sorted(families.items())]
    groups.append(LimitGroup(BATCH_GROUP, "batch", "Message Batches", ()))
    return groups


def group_of(catalog: Catalog, model: str) -> str | None:
    """The model group of a listed model, or of an unlisted one by its family (the catalog's family rule)."""
    family = catalog.family_of(model)
    return f"rlg_{family}" if family is not None else None


def reserve_amount(limit_type: str, *, estimated_input: int, max_tokens: int) -> int:
    """What admission charges: one request, the estimated input, ``max_tokens`` for output."""
    if limit_type == "requests_per_minute":
        return 1
    if limit_type.startswith("input_tokens"):
        return estimated_input
    if limit_type == "output_tokens_per_minute":
        return max_tokens
    return estimated_input + max_tokens


def actual_amount(limit_type: str, usage: Usage | None) -> int:
    """What the request really cost against a limiter type (requests are never returned)."""
    if limit_type == "requests_per_minute":
        return 1
    if usage is None:
        return 0
    cache_writes = usage.cache_write_5m + usage.cache_write_1h
    cache_aware_input = usage.input_tokens + cache_writes
    if limit_type == "input_tokens_per_minute_cache_aware":
        return cache_aware_input
    if limit_type == "input_tokens_per_minute":
        return cache_aware_input + usage.cache_read
    if limit_type == "output_tokens_per_minute":
        return usage.output_tokens
    return cache_aware_input + usage.output_tokens
