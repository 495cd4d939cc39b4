"""The Redis limiter on a real Redis (STEWARD_TEST_REDIS_URL, default 127.0.0.1:6379/0): layout and expiry,
NOSCRIPT recovery, identical arithmetic to the in-process limiter, exactness across four processes, and the
fail-closed / fail-open policy when Redis is unreachable. The shared semantics suite is in
tests/governance/test_buckets.py. Each test uses its own key prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys

import pytest
from redis.asyncio import Redis

from steward.governance.buckets import Bucket, InProcessLimiter, Reservation
from steward.storage.redis_limiter import RedisLimiter
from tests.storage.redis_support import REDIS_URL, delete_prefix, dropping, unreachable

T0 = 1_800_000_000.0


def ws_bucket(prefix: str, capacity: int = 50, name: str = "requests") -> Bucket:
    return Bucket(f"{prefix}{{org_1}}:ws:wrkspc_1:all:{name}", capacity, 60.0, "workspace", "requests")


async def test_a_bucket_is_a_hash_that_expires_after_twice_its_period(redis: Redis, prefix: str) -> None:
    limiter = RedisLimiter(redis)
    bucket = ws_bucket(prefix)
    await limiter.admit([Reservation(bucket, 3)], T0)
    stored = await redis.hgetall(bucket.key)
    assert {k: float(v) for k, v in stored.items()} == {b"level": 47.0, b"updated_at": T0}
    assert 119_000 < await redis.pttl(bucket.key) <= 120_000


async def test_refusal_and_unknown_settlement_write_nothing(redis: Redis, prefix: str) -> None:
    limiter = RedisLimiter(redis)
    bucket = ws_bucket(prefix)
    assert not (await limiter.admit([Reservation(bucket, 51)], T0)).admitted
    await limiter.settle([Reservation(bucket, 5)], T0)
    assert await redis.exists(bucket.key) == 0


async def test_scripts_are_reloaded_after_a_script_flush(redis: Redis, prefix: str) -> None:
    limiter = RedisLimiter(redis)
    bucket = ws_bucket(prefix)
    await limiter.admit([Reservation(bucket, 1)], T0)
    await redis.script_flush()  # what a Redis restart or failover does to cached scripts
    assert (await limiter.admit([Reservation(bucket, 1)], T0)).states[0].remaining == 48
    await redis.script_flush()
    await limiter.settle([Reservation(bucket, 2)], T0)
    assert (await limiter.admit([Reservation(bucket, 0)], T0)).states[0].remaining == 50
    assert limiter.unavailable_count == 0


async def test_redis_and_in_process_compute_the_same_doubles(redis: Redis, prefix: str) -> None:
    # The Lua mirrors the Python operation for operation, so every answer, floats included, is equal:
    # random admissions and settlements, one bucket sometimes twice in a request, time sometimes running back.
    rng = random.Random(4)
    shapes = [(50, 60.0), (30_000, 60.0), (7, 15.0), (1_000_000, 86_400.0)]
    buckets = [Bucket(f"{prefix}{{org_1}}:b{i}", cap, period, "workspace", "tokens")
               for i, (cap, period) in enumerate(shapes)]
    remote, local = RedisLimiter(redis), InProcessLimiter()
    latest, outcomes = T0, set()
    for _ in range(1_000):
        latest += rng.choice([0.0, rng.random(), rng.random() * 30, rng.random() * 200])
        now = latest - rng.random() * 5 if rng.random() < 0.2 else latest
        chosen = [rng.choice(buckets) for _ in range(rng.randint(1, 4))]
        reservations = [Reservation(b, rng.randint(0, b.capacity // 2 + 1)) for b in chosen]
        if rng.random() < 0.3:
            await remote.settle(reservations, now)
            await local.settle(reservations, now)
        else:
            answer = await remote.admit(reservations, now)
            assert answer == await local.admit(reservations, now)
            outcomes.add(answer.admitted)
    assert outcomes == {True, False}


CHILD = """
import asyncio, sys
from redis.asyncio import BlockingConnectionPool, Redis
from steward.governance.buckets import Bucket, Reservation
from steward.storage.redis_limiter import RedisLimiter
from tests.storage.redis_support import REDIS_URL, delete_prefix, dropping, unreachable

async def main(url, prefix, count, now):
    client = Redis.from_pool(BlockingConnectionPool.from_url(url, max_connections=32, timeout=5))
    await client.ping()
    limiter = RedisLimiter(client)
    org = Bucket(prefix + "{org_1}:org:all:requests", 1000, 60.0, "organization", "requests")
    ws = Bucket(prefix + "{org_1}:ws:wrkspc_1:all:requests", 50, 60.0, "workspace", "requests")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    answers = await asyncio.gather(
        *(limiter.admit([Reservation(org, 1), Reservation(ws, 1)], now) for _ in range(count)))
    print(sum(a.admitted for a in answers), limiter.unavailable_count, flush=True)
    await limiter.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
"""


async def test_four_processes_admit_exactly_the_capacity(redis: Redis, prefix: str) -> None:
    children = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, REDIS_URL, prefix, "75", repr(T0),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE) for _ in range(4)]
    for child in children:  # start the race only when all four are connected
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 15) == b"ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    outputs = [await asyncio.wait_for(child.communicate(), 15) for child in children]
    counts = [tuple(map(int, out.split())) for out, _ in outputs]
    assert all(child.returncode == 0 for child in children)
    assert sum(admitted for admitted, _ in counts) == 50
    assert all(failures == 0 for _, failures in counts)
    org = float(await redis.hget(f"{prefix}{{org_1}}:org:all:requests", "level") or 0)
    assert org == 950.0  # the 250 refused requests took nothing from the organization's bucket


@pytest.mark.parametrize("fail_open", [False, True])
async def test_unreachable_redis_follows_the_policy(fail_open: bool, caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisLimiter(unreachable(), fail_open=fail_open)
    reservation = [Reservation(Bucket("stw-test-down:{org_1}:rpm", 50, 60.0, "workspace", "requests"), 1)]
    with caplog.at_level(logging.WARNING, logger="steward.limits"):
        first = await limiter.admit(reservation, T0)
        second = await limiter.admit(reservation, T0)
        await limiter.settle(reservation, T0)  # swallowed
    if fail_open:
        assert (first.admitted, first.states, first.refused_by, first.retry_after) == (True, (), None, 0.0)
    else:
        assert (first.admitted, first.states, first.refused_by, first.retry_after) == (False, (), None, 1.0)
    assert second == first
    assert limiter.unavailable_count == 3
    assert len([r for r in caplog.records if r.name == "steward.limits"]) == 1  # at most once a minute
    await limiter.close()


async def test_an_admission_sent_again_after_a_broken_connection_takes_tokens_once(prefix: str) -> None:
    """Issue 13: redis-py's retry after a broken connection took a request's tokens twice."""
    async with dropping() as (proxy, client):
        limiter = RedisLimiter(client)
        bucket = ws_bucket(prefix)
        try:
            await limiter.admit([Reservation(bucket, 1)], T0)  # loads the script
            proxy.armed = True
            admitted = await limiter.admit([Reservation(bucket, 10)], T0)
            assert admitted.admitted and proxy.dropped == 1
            remaining = (await limiter.admit([Reservation(bucket, 0)], T0)).states[0].remaining
        finally:
            await delete_prefix(client, prefix)
            await limiter.close()
    assert remaining == 39  # 50 - 1 - 10, not 50 - 1 - 20
