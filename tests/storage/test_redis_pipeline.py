"""Auto-pipelining on a real Redis: script calls of one event-loop turn share one round trip, and each caller still
gets exactly its own reply or error; counters stay exact under concurrency, after a script flush, and when a
pipeline's connection breaks after Redis ran it (redis-py sends it again; ``once`` applies each call once)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from steward.governance.buckets import Bucket, Reservation
from steward.storage.redis_client import auto_pipeline
from steward.storage.redis_limiter import RedisLimiter
from tests.storage.redis_support import delete_prefix, dropping, unreachable
from tests.storage.test_redis_limiter import T0

ECHO = "if ARGV[1] == 'bad' then return redis.error_reply('refused: ' .. KEYS[1]) end return ARGV[1]"


def _bucket(prefix: str, capacity: int) -> Bucket:
    return Bucket(f"{prefix}{{org_1}}:ws:wrkspc_1:all:requests", capacity, 60.0, "workspace", "requests")


async def test_concurrent_admissions_share_one_round_trip_and_stay_exact(redis: Redis, prefix: str) -> None:
    limiter = RedisLimiter(redis)
    bucket = _bucket(prefix, 10)
    await limiter.admit([Reservation(bucket, 0)], T0)  # the script is loaded
    pipeline = auto_pipeline(redis)
    before = pipeline.round_trips
    results = await asyncio.gather(*(limiter.admit([Reservation(bucket, 1)], T0) for _ in range(50)))
    assert pipeline.round_trips - before == 1
    assert sum(r.admitted for r in results) == 10
    assert sorted(r.states[0].remaining for r in results if r.admitted) == list(range(10))  # each its own reply


async def test_a_script_flush_reloads_and_resends_a_whole_pipeline(redis: Redis, prefix: str) -> None:
    limiter = RedisLimiter(redis)
    bucket = _bucket(prefix, 100)
    await limiter.admit([Reservation(bucket, 1)], T0)
    await redis.script_flush()  # what a Redis restart or failover does to cached scripts
    results = await asyncio.gather(*(limiter.admit([Reservation(bucket, 2)], T0) for _ in range(20)))
    assert all(r.admitted for r in results)
    assert min(r.states[0].remaining for r in results) == 100 - 1 - 40  # each applied exactly once


async def test_a_script_error_is_only_its_callers(redis: Redis, prefix: str) -> None:
    script = redis.register_script(ECHO)
    pipeline = auto_pipeline(redis)
    calls = [pipeline.evalsha(script, [f"{prefix}{n}"], ["bad" if n == 3 else f"ok{n}"]) for n in range(6)]
    replies = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(replies[3], ResponseError) and f"refused: {prefix}3" in str(replies[3])
    assert [r for n, r in enumerate(replies) if n != 3] == [f"ok{n}".encode() for n in range(6) if n != 3]


async def test_a_cancelled_caller_leaves_the_others_their_replies(redis: Redis, prefix: str) -> None:
    script = redis.register_script(ECHO)
    pipeline = auto_pipeline(redis)
    calls = [asyncio.ensure_future(pipeline.evalsha(script, [f"{prefix}{n}"], [f"r{n}"])) for n in range(4)]
    calls[1].cancel()
    replies = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(replies[1], asyncio.CancelledError)
    assert [replies[0], replies[2], replies[3]] == [b"r0", b"r2", b"r3"]


async def test_an_unreachable_redis_fails_every_call_of_the_pipeline() -> None:
    client = unreachable()
    script = client.register_script(ECHO)
    pipeline = auto_pipeline(client)
    replies = await asyncio.gather(*(pipeline.evalsha(script, ["k"], ["x"]) for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, RedisConnectionError | OSError) for r in replies), replies
    limiter = RedisLimiter(client)  # and the limiter's policy holds for each caller: fail closed
    bucket = _bucket("stw-test-down:", 5)
    results = await asyncio.gather(*(limiter.admit([Reservation(bucket, 1)], T0) for _ in range(5)))
    assert [(r.admitted, r.retry_after) for r in results] == [(False, 1.0)] * 5
    await client.aclose()


async def test_a_pipeline_sent_again_after_a_broken_connection_applies_each_call_once(prefix: str) -> None:
    async with dropping() as (proxy, client):
        limiter = RedisLimiter(client)
        bucket = _bucket(prefix, 100)
        try:
            await limiter.admit([Reservation(bucket, 1)], T0)  # loads the script
            proxy.armed = True
            results = await asyncio.gather(*(limiter.admit([Reservation(bucket, 3)], T0) for _ in range(10)))
            assert all(r.admitted for r in results) and proxy.dropped == 1
            remaining = (await limiter.admit([Reservation(bucket, 0)], T0)).states[0].remaining
        finally:
            await delete_prefix(client, prefix)
            await limiter.close()
    assert remaining == 100 - 1 - 30  # not 100 - 1 - 60
