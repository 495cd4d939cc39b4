"""Token-bucket semantics, run against both limiter backends: in-process and Redis (real, at
STEWARD_TEST_REDIS_URL, default 127.0.0.1:6379/0). Each Redis test uses its own key prefix and deletes it.
"""

from __future__ import annotations

import asyncio
import math
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from steward.governance.buckets import Admission, Bucket, InProcessLimiter, Limiter, Reservation
from steward.storage.redis_limiter import RedisLimiter

REDIS_URL = os.environ.get("STEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = 1_800_000_000.0  # a realistic wall-clock `now`, so float precision is tested where it matters


@pytest.fixture
def prefix() -> str:
    return f"stw-test-{uuid.uuid4().hex}:"


@pytest.fixture(params=["in-process", "redis"])
async def limiter(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Limiter]:
    if request.param == "in-process":
        yield InProcessLimiter()
        return
    # The default pool raises past 100 connections; a blocking pool waits, as production should.
    client = Redis.from_pool(BlockingConnectionPool.from_url(REDIS_URL, max_connections=32, timeout=5))
    redis_limiter = RedisLimiter(client)
    yield redis_limiter
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await redis_limiter.close()


def make(prefix: str, name: str, capacity: int, period: float = 60.0, kind: str = "requests") -> Bucket:
    return Bucket(f"{prefix}{{org_1}}:ws:wrkspc_1:{name}", capacity, period, "workspace", kind)


async def take(limiter: Limiter, now: float, *pairs: tuple[Bucket, int]) -> Admission:
    return await limiter.admit([Reservation(bucket, amount) for bucket, amount in pairs], now)


async def test_a_new_bucket_is_full(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "rpm", 50)
    seen = await take(limiter, T0, (bucket, 0))
    assert seen.admitted
    assert (seen.states[0].remaining, seen.states[0].reset_seconds) == (50, 0.0)


async def test_admission_deducts_and_reports_remaining(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "itpm", 30_000, kind="input_tokens")
    first = await take(limiter, T0, (bucket, 10_000))
    assert first == Admission(True, (first.states[0],), None, 0.0)
    assert first.states[0].bucket == bucket
    assert first.states[0].remaining == 20_000
    second = await take(limiter, T0, (bucket, 20_000))
    assert second.admitted and second.states[0].remaining == 0


async def test_refill_is_continuous_at_the_exact_rate(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "rpm", 50)  # 50 per 60 s: 5/6 of a token per second
    assert (await take(limiter, T0, (bucket, 50))).states[0].remaining == 0
    assert not (await take(limiter, T0 + 1.1, (bucket, 1))).admitted  # 0.9167 tokens
    assert (await take(limiter, T0 + 5.9, (bucket, 0))).states[0].remaining == 4  # 4.9167 tokens
    assert (await take(limiter, T0 + 6.0, (bucket, 0))).states[0].remaining == 5
    five = await take(limiter, T0 + 6.0, (bucket, 5))
    assert five.admitted and five.states[0].remaining == 0
    assert (await take(limiter, T0 + 18.0, (bucket, 0))).states[0].remaining == 10
    assert (await take(limiter, T0 + 10_000.0, (bucket, 0))).states[0].remaining == 50  # capped at capacity


async def test_admission_is_all_or_nothing(limiter: Limiter, prefix: str) -> None:
    org = Bucket(f"{prefix}{{org_1}}:org:all:requests", 100, 60.0, "organization", "requests")
    itpm = make(prefix, "itpm", 1_000, kind="input_tokens")
    otpm = make(prefix, "otpm", 500, kind="output_tokens")
    refusal = await take(limiter, T0, (org, 1), (itpm, 800), (otpm, 600))
    assert not refusal.admitted and refusal.refused_by == otpm
    assert [s.remaining for s in refusal.states] == [100, 1_000, 500]
    assert [s.bucket for s in refusal.states] == [org, itpm, otpm]
    fits = await take(limiter, T0, (org, 1), (itpm, 800), (otpm, 500))
    assert fits.admitted and [s.remaining for s in fits.states] == [99, 200, 0]


async def test_the_first_short_bucket_is_named(limiter: Limiter, prefix: str) -> None:
    a, b = make(prefix, "a", 10), make(prefix, "b", 10)
    await take(limiter, T0, (a, 8), (b, 9))
    refusal = await take(limiter, T0, (a, 5), (b, 5))
    assert refusal.refused_by == a
    assert refusal.retry_after == pytest.approx(3 * 60.0 / 10)


async def test_retry_after_is_exact(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "rpm", 50)
    await take(limiter, T0, (bucket, 50))
    refusal = await take(limiter, T0 + 3.0, (bucket, 10))  # 2.5 tokens: 7.5 more take 9 s
    assert (refusal.admitted, refusal.refused_by) == (False, bucket)
    assert refusal.retry_after == pytest.approx(9.0, abs=1e-9)
    assert refusal.states[0].remaining == 2
    assert not (await take(limiter, T0 + 11.99, (bucket, 10))).admitted
    assert (await take(limiter, T0 + 3.0 + refusal.retry_after, (bucket, 10))).admitted


async def test_more_than_capacity_is_never_admitted(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "otpm", 8_000, kind="output_tokens")
    refusal = await take(limiter, T0, (bucket, 8_001))
    assert (refusal.admitted, refusal.refused_by, refusal.retry_after) == (False, bucket, math.inf)
    assert refusal.states[0].remaining == 8_000


async def test_settle_returns_tokens_capped_at_capacity(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "otpm", 8_000, kind="output_tokens")
    await take(limiter, T0, (bucket, 6_000))
    await limiter.settle([Reservation(bucket, 4_000)], T0)
    assert (await take(limiter, T0, (bucket, 0))).states[0].remaining == 6_000
    await limiter.settle([Reservation(bucket, 4_000)], T0)
    full = await take(limiter, T0, (bucket, 0))
    assert (full.states[0].remaining, full.states[0].reset_seconds) == (8_000, 0.0)


async def test_settle_ignores_unknown_buckets(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "never-admitted", 10)
    await limiter.settle([Reservation(bucket, 5)], T0)
    assert (await take(limiter, T0, (bucket, 0))).states[0].remaining == 10


async def test_reset_seconds_is_time_to_full(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "itpm", 1_000, kind="input_tokens")
    assert (await take(limiter, T0, (bucket, 250))).states[0].reset_seconds == pytest.approx(15.0)
    assert (await take(limiter, T0 + 5.0, (bucket, 0))).states[0].reset_seconds == pytest.approx(10.0)
    day = make(prefix, "tpd", 1_000_000, period=86_400.0, kind="tokens")
    assert (await take(limiter, T0, (day, 500_000))).states[0].reset_seconds == pytest.approx(43_200.0)


async def test_one_bucket_twice_counts_both_amounts(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "tpm", 50, kind="tokens")
    refusal = await take(limiter, T0, (bucket, 30), (bucket, 30))
    assert refusal.refused_by == bucket and [s.remaining for s in refusal.states] == [50, 50]
    assert refusal.retry_after == pytest.approx(10 * 60.0 / 50)
    both = await take(limiter, T0, (bucket, 30), (bucket, 20))
    assert both.admitted and [s.remaining for s in both.states] == [20, 0]


async def test_time_running_backwards_refills_nothing(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "rpm", 60)  # one token per second
    await take(limiter, T0 + 10.0, (bucket, 60))
    assert not (await take(limiter, T0 + 5.0, (bucket, 1))).admitted
    assert (await take(limiter, T0 + 11.0, (bucket, 0))).states[0].remaining == 1


async def test_a_lowered_capacity_applies_at_once(limiter: Limiter, prefix: str) -> None:
    key = f"{prefix}{{org_1}}:key:apikey_1:requests"
    await take(limiter, T0, (Bucket(key, 100, 60.0, "key", "requests"), 10))
    lowered = await take(limiter, T0, (Bucket(key, 40, 60.0, "key", "requests"), 0))
    assert lowered.states[0].remaining == 40


async def test_concurrent_admissions_are_exact(limiter: Limiter, prefix: str) -> None:
    bucket = make(prefix, "rpm", 50)
    results = await asyncio.gather(*(take(limiter, T0, (bucket, 1)) for _ in range(300)))
    assert sum(a.admitted for a in results) == 50
    refusals = [a for a in results if not a.admitted]
    assert all(a.retry_after == pytest.approx(1.2) and a.states[0].remaining == 0 for a in refusals)


def test_bad_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Bucket("k", 0, 60.0, "key", "requests")
    with pytest.raises(ValueError, match="capacity"):
        Bucket("k", 10, 0.0, "key", "requests")
    with pytest.raises(ValueError, match="negative"):
        Reservation(Bucket("k", 10, 60.0, "key", "requests"), -1)


async def test_in_process_limiter_forgets_full_buckets() -> None:
    limiter = InProcessLimiter()
    buckets = [Bucket(f"k{i}", 10, 60.0, "key", "requests") for i in range(100)]
    for bucket in buckets:
        await take(limiter, T0, (bucket, 1))
    assert len(limiter) == 100
    await take(limiter, T0 + 59.0, (buckets[0], 0))  # not yet full: nothing is forgotten
    assert len(limiter) == 100
    await take(limiter, T0 + 120.0, (buckets[0], 1))  # all refilled; only the bucket just written remains
    assert len(limiter) == 1
    assert (await take(limiter, T0 + 120.0, (buckets[1], 0))).states[0].remaining == 10
