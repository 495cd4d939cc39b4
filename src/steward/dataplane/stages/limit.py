"""Limit: reserve rate-limit capacity at admission, settle with the real usage when the response ends.

Reads the snapshot's limits for the caller's organization, workspace and key in the model's rate-limit group;
charges one request, the estimated input and ``max_tokens`` for output; refuses with a 429
``rate_limit_error`` naming the level that ran out, with ``retry-after``; writes the ``anthropic-ratelimit-*``
headers of the most restrictive bucket of each kind. With ``x-steward-max-wait: N`` (or the
``STEWARD_RATE_LIMIT_MAX_WAIT`` default) a request waits up to N seconds for capacity, in arrival order, before
a 429. Cost when no limit is configured: three dict lookups.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from steward.dataplane.context import LimitHold, RequestContext
from steward.dataplane.snapshot import KeyEntry, LimitValues, Snapshot, SnapshotStore
from steward.errors import InvalidRequestError, LimitsUnavailableError, RateLimitError
from steward.governance.buckets import Admission, Bucket, BucketState, InProcessLimiter, Limiter, Reservation
from steward.governance.catalog import Catalog
from steward.governance.limit_rules import BATCH_GROUP, LIMIT_TYPES, actual_amount, group_of, reserve_amount

MAX_WAIT_SECONDS = 60.0
CACHED_KEYS = 100_000
_KIND_WORDS = {"requests": "requests", "input_tokens": "input tokens", "output_tokens": "output tokens",
               "tokens": "tokens"}


@functools.lru_cache(maxsize=4096)
def _rfc3339(second: int) -> bytes:
    return datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds").replace("+00:00", "Z").encode()


def ratelimit_headers(states: Sequence[BucketState], now: float) -> list[tuple[bytes, bytes]]:
    """Per kind, the bucket with the least room left: its limit, remaining and time of full refill."""
    tightest: dict[str, BucketState] = {}
    for state in states:
        kind = state.bucket.kind
        if kind not in tightest or state.remaining < tightest[kind].remaining:
            tightest[kind] = state
    out = []
    for kind, state in tightest.items():
        limit, remaining, reset = _header_names(kind)
        out.append((limit, str(state.bucket.capacity).encode()))
        out.append((remaining, str(state.remaining).encode()))
        out.append((reset, _rfc3339(math.ceil(now + state.reset_seconds))))
    return out


@functools.lru_cache(maxsize=64)
def _header_names(kind: str) -> tuple[bytes, bytes, bytes]:
    name = "anthropic-ratelimit-" + kind.replace("_", "-")
    return f"{name}-limit".encode(), f"{name}-remaining".encode(), f"{name}-reset".encode()


class Limit:
    def __init__(self, snapshots: SnapshotStore, catalog: Catalog, limiter: Limiter, prefix: str = "stw:",
                 default_wait: float = 0.0, *, batches: bool = False) -> None:
        self._snapshots = snapshots
        self._batches = batches  # the Message Batches group: its own request rate, never real-time limits
        self._default_wait = min(max(default_wait, 0.0), MAX_WAIT_SECONDS)
        self._queues: dict[str, asyncio.Lock] = {}
        self._catalog = catalog
        self._limiter = limiter
        self._prefix = prefix
        self._pending: set[asyncio.Task[None]] = set()
        self._cached_for: Snapshot | None = None
        self._cached: dict[tuple[str, str], list[tuple[Bucket, str]]] = {}

    def _group(self, ctx: RequestContext) -> str | None:
        if self._batches:
            return BATCH_GROUP
        return group_of(self._snapshots.current.catalog, ctx.model or "")  # the catalog in force

    def _buckets(self, ctx: RequestContext) -> list[tuple[Bucket, str]]:
        key = ctx.key
        group = self._group(ctx) if key is not None else None
        if key is None or group is None:
            return []
        # The buckets of a key and model group change only with the snapshot: built once per snapshot, not per
        # request (bounded: cleared with each new snapshot or past CACHED_KEYS entries).
        snapshot = self._snapshots.current
        if snapshot is not self._cached_for or len(self._cached) > CACHED_KEYS:
            self._cached_for, self._cached = snapshot, {}
        found = self._cached.get((key.id, group))
        if found is None:
            found = self._cached[(key.id, group)] = self._build(key, group, snapshot.limits)
        return found

    def _build(self, key: KeyEntry, group: str, limits: dict[tuple[str, str, str], LimitValues],
               ) -> list[tuple[Bucket, str]]:
        found = []
        for level, scope_id in (("organization", key.org_id), ("workspace", key.workspace_id), ("key", key.id)):
            for limit_type, value in limits.get((level, scope_id, group), ()):
                if limit_type not in LIMIT_TYPES or (self._batches and limit_type != "requests_per_minute"):
                    continue  # queued-requests limits are checked by the batch handler, not as buckets
                kind, period = LIMIT_TYPES[limit_type]
                bucket_key = f"{self._prefix}{{{key.org_id}}}:{level}:{scope_id}:{group}:{limit_type}"
                found.append((Bucket(bucket_key, value, period, level, kind), limit_type))
        return found

    async def on_request(self, ctx: RequestContext) -> None:
        buckets = self._buckets(ctx)
        if not buckets:
            return
        payload: dict[str, Any] = ctx.payload or {}
        estimate = ctx.input_estimate()
        max_tokens = int(payload.get("max_tokens") or 0)
        reservations = [Reservation(b, max(1, reserve_amount(t, estimated_input=estimate, max_tokens=max_tokens)))
                        for b, t in buckets]
        now = time.time()
        admission = await self._limiter.admit(reservations, now)
        if not admission.admitted:
            admission = await self._wait(ctx, reservations, admission)
            now = time.time()
        if not admission.admitted:
            raise self._refusal(ctx, admission, now)
        ctx.limit_hold = LimitHold(tuple(reservations), tuple(t for _, t in buckets))
        ctx.ratelimit_headers = ratelimit_headers(admission.states, now)

    def _max_wait(self, ctx: RequestContext) -> float:
        raw = ctx.headers.get("x-steward-max-wait")
        if raw is None:
            return self._default_wait
        try:
            return min(max(float(raw), 0.0), MAX_WAIT_SECONDS)
        except ValueError:
            raise InvalidRequestError("x-steward-max-wait: a number of seconds (0 to 60)") from None

    async def _wait(self, ctx: RequestContext, reservations: list[Reservation], admission: Admission) -> Admission:
        """Wait for capacity instead of refusing, up to the allowed time. Waiters for the same bucket queue on
        one FIFO lock, so they are admitted in arrival order (within this process)."""
        deadline = time.monotonic() + self._max_wait(ctx)
        while not admission.admitted and admission.refused_by is not None \
                and time.monotonic() + admission.retry_after <= deadline:
            # One lock per bucket key, kept for the life of the process: bounded by the limits configured.
            lock = self._queues.setdefault(admission.refused_by.key, asyncio.Lock())
            async with lock:
                await asyncio.sleep(admission.retry_after)
                admission = await self._limiter.admit(reservations, time.time())
        return admission

    def _refusal(self, ctx: RequestContext, admission: Admission, now: float) -> RateLimitError:
        bucket = admission.refused_by
        if bucket is None:  # the limiter's store is unavailable and the policy is to fail closed
            return LimitsUnavailableError("Rate limits cannot be checked right now; try again shortly.",
                                  headers={"retry-after": "1"})
        workspace = f"workspace {ctx.workspace.name}" if ctx.workspace else "workspace"
        scope = {"organization": "organization", "workspace": workspace, "key": "API key"}[bucket.level]
        per = "per-day" if bucket.period > 3600 else "per-minute"
        words = _KIND_WORDS.get(bucket.kind, bucket.kind)
        headers = dict((k.decode(), v.decode()) for k, v in ratelimit_headers(admission.states, now))
        if math.isinf(admission.retry_after):
            headers["x-should-retry"] = "false"
            return RateLimitError(f"This request needs more {words} than the {scope}'s {per} rate limit allows "
                                  f"({bucket.capacity}); lower max_tokens or the prompt size.", headers=headers)
        headers["retry-after"] = str(max(1, math.ceil(admission.retry_after)))
        return RateLimitError(f"Number of {words} has exceeded the {scope}'s {per} rate limit "
                              f"({bucket.capacity} {words}). Retry after {headers['retry-after']} s.", headers=headers)

    def on_complete(self, ctx: RequestContext) -> None:
        held = ctx.limit_hold
        if held is None:
            return
        reservations, limit_types = held.reservations, held.limit_types
        usage = ctx.metered.usage if ctx.metered is not None else None
        returns = []
        for reservation, limit_type in zip(reservations, limit_types, strict=True):
            unused = reservation.amount - actual_amount(limit_type, usage)
            if unused > 0:
                returns.append(Reservation(reservation.bucket, unused))
        if not returns:
            return
        if isinstance(self._limiter, InProcessLimiter):  # no I/O: settle in place, no task per request
            self._limiter.settle_now(returns, time.time())
            return
        task = asyncio.get_running_loop().create_task(self._limiter.settle(returns, time.time()))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for every settlement still running (shutdown calls this before closing the limiter's store)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
