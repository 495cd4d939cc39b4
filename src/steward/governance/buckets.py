"""Rate-limit token buckets: the values, the refill arithmetic, and the in-process limiter.

Owns the semantics every ``Limiter`` backend shares (continuous refill, all-or-nothing admission, settlement
capped at capacity); ``steward.storage.redis_limiter`` mirrors this arithmetic in Lua, operation for
operation, so both backends compute the same doubles. Pure: no I/O and no clock (callers pass ``now``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "EPSILON",
    "IDLE_PERIODS",
    "Admission",
    "Bucket",
    "BucketState",
    "InProcessLimiter",
    "Limiter",
    "Reservation",
    "admitted",
    "observe",
    "refused",
]

# Tolerance for float rounding in refill sums: a bucket whose level is within a millionth of a token of the
# amount admits it, and the level never goes below zero. Far below one token, so no limit is overrun.
EPSILON = 1e-6
# How often (in the caller's seconds) the in-process limiter forgets idle buckets.
SWEEP_INTERVAL = 60.0
# A bucket untouched for this many periods is full, so forgetting it changes nothing (Redis: its TTL).
IDLE_PERIODS = 2


@dataclass(slots=True, frozen=True)
class Bucket:
    """One token bucket: ``capacity`` tokens, refilled continuously from empty to full in ``period`` seconds."""

    key: str  # full storage key built by the caller; carries a {hash tag} for Redis Cluster
    capacity: int
    period: float
    level: str  # "organization" | "workspace" | "key" (the limit's level, not the bucket's fill)
    kind: str  # "requests" | "input_tokens" | "output_tokens" | "tokens"

    def __post_init__(self) -> None:
        if self.capacity < 1 or not self.period > 0:
            raise ValueError(f"bucket {self.key!r} needs capacity >= 1 and period > 0")


@dataclass(slots=True, frozen=True)
class Reservation:
    """``amount`` tokens to take from (admission) or give back to (settlement) ``bucket``.

    An amount of zero is allowed: admitting it reports the bucket's state without changing it.
    """

    bucket: Bucket
    amount: int

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError(f"reservation on {self.bucket.key!r} has a negative amount")


@dataclass(slots=True, frozen=True)
class BucketState:
    """A bucket as seen by one admission: whole tokens left and seconds until it is full again."""

    bucket: Bucket
    remaining: int
    reset_seconds: float


@dataclass(slots=True, frozen=True)
class Admission:
    """The answer to one request's reservations; ``states`` follow the reservations' order."""

    admitted: bool
    states: tuple[BucketState, ...]
    refused_by: Bucket | None
    retry_after: float


class Limiter(Protocol):
    """Where buckets live. Admission is atomic and all-or-nothing across one request's reservations."""

    async def admit(self, reservations: Sequence[Reservation], now: float) -> Admission: ...

    async def settle(self, returns: Sequence[Reservation], now: float) -> None: ...

    async def close(self) -> None: ...


def observe(bucket: Bucket, tokens: float, updated_at: float, now: float) -> tuple[float, float]:
    """The level at ``now`` of a bucket stored as ``tokens`` at ``updated_at``, and the clock to store with it.

    Time running backwards (a late instance) refills nothing, and a partly drained bucket's clock never
    moves backwards, or one interval would refill twice. A full bucket carries no clock: it is exactly a
    missing bucket, so forgetting full buckets (sweep, Redis expiry) is invisible.
    """
    elapsed = max(0.0, now - updated_at)
    level = min(float(bucket.capacity), tokens + elapsed * bucket.capacity / bucket.period)
    return level, (now if level >= bucket.capacity else max(updated_at, now))


def state(bucket: Bucket, tokens: float) -> BucketState:
    """What a response reports for a bucket holding ``tokens``."""
    capacity = bucket.capacity
    missing = capacity - tokens
    reset = 0.0 if missing <= EPSILON else missing * bucket.period / capacity
    return BucketState(bucket, max(0, min(capacity, math.floor(tokens + EPSILON))), reset)


def admitted(reservations: Sequence[Reservation], tokens_after: Sequence[float]) -> Admission:
    """The admission of ``reservations`` that left each bucket holding ``tokens_after``."""
    states = tuple(state(r.bucket, t) for r, t in zip(reservations, tokens_after, strict=True))
    return Admission(True, states, None, 0.0)


def refused(reservations: Sequence[Reservation], tokens_now: Sequence[float], index: int,
            available: float) -> Admission:
    """The refusal by reservation ``index``, whose bucket had ``available`` tokens for it."""
    states = tuple(state(r.bucket, t) for r, t in zip(reservations, tokens_now, strict=True))
    short = reservations[index]
    bucket = short.bucket
    if short.amount > bucket.capacity:
        retry = math.inf
    else:
        retry = max(0.0, (short.amount - available) * bucket.period / bucket.capacity)
    return Admission(False, states, bucket, retry)


# A stored bucket: (tokens, updated_at, forget_at). A tuple, replaced on write, is the cheapest record here.
_Stored = tuple[float, float, float]


class InProcessLimiter:
    """Buckets in a dict, for one process. Exact: ``admit`` and ``settle`` never await, so never interleave.

    Reads and writes only its own dict; costs a few microseconds per admission. Once a minute it forgets
    buckets untouched for two periods, as Redis expires them (a missing bucket is a full one), so memory
    follows the keys in use.
    """

    def __init__(self) -> None:
        self._buckets: dict[str, _Stored] = {}
        self._next_sweep = -math.inf

    async def admit(self, reservations: Sequence[Reservation], now: float) -> Admission:
        """Deduct every reservation, or none; see ``Admission``."""
        if now >= self._next_sweep:
            self._sweep(now)
        current = {r.bucket.key: self._observe(r.bucket, now) for r in reservations}
        working = {key: tokens for key, (tokens, _) in current.items()}
        after: list[float] = []
        for index, r in enumerate(reservations):
            available = working[r.bucket.key]
            if available + EPSILON < r.amount:
                return refused(reservations, [current[x.bucket.key][0] for x in reservations], index, available)
            working[r.bucket.key] = after_deduction = max(0.0, available - r.amount)
            after.append(after_deduction)
        for r in reservations:
            if r.amount > 0:  # a zero amount only reads, in both backends
                self._store(r.bucket, working[r.bucket.key], current[r.bucket.key][1])
        return admitted(reservations, after)

    async def settle(self, returns: Sequence[Reservation], now: float) -> None:
        """Give unused tokens back, never above capacity; buckets it does not hold are already full."""
        self.settle_now(returns, now)

    def settle_now(self, returns: Sequence[Reservation], now: float) -> None:
        """``settle`` without a coroutine: the hot path calls this directly (no task per request)."""
        for r in returns:
            stored = self._buckets.get(r.bucket.key)
            if r.amount > 0 and stored is not None:
                tokens, stamp = observe(r.bucket, stored[0], stored[1], now)
                self._store(r.bucket, min(float(r.bucket.capacity), tokens + r.amount), stamp)

    async def close(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return len(self._buckets)

    def _observe(self, bucket: Bucket, now: float) -> tuple[float, float]:
        stored = self._buckets.get(bucket.key)
        if stored is None:
            return float(bucket.capacity), now
        return observe(bucket, stored[0], stored[1], now)

    def _store(self, bucket: Bucket, tokens: float, updated_at: float) -> None:
        self._buckets[bucket.key] = (tokens, updated_at, updated_at + IDLE_PERIODS * bucket.period)

    def _sweep(self, now: float) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if v[2] > now}
        self._next_sweep = now + SWEEP_INTERVAL
