"""Rate-limit admission overhead: the in-process limiter against the Redis limiter, in one run.

Each admission reserves what a Messages request does: organization requests, workspace requests, input
tokens and output tokens (four buckets, one hash tag). Buckets are large enough that every admission
succeeds, so each one takes the full write path. Reports microseconds per admission and admissions per
second, sequentially (latency) and with concurrent callers on one event loop (throughput; concurrent admissions
share round trips: ``storage/redis_client.AutoPipeline``), a bare Redis PING round trip for reference, ratios
against the in-process baseline, and this process's CPU per call.

    .venv/bin/python bench/limiter_bench.py [--redis-url redis://127.0.0.1:6379/0] [--admissions 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from steward.governance.buckets import Bucket, InProcessLimiter, Limiter, Reservation
from steward.storage.redis_client import connect
from steward.storage.redis_limiter import RedisLimiter

BIG = 10**12  # never refuses during the run


def request_reservations(prefix: str) -> list[Reservation]:
    tag = f"{prefix}{{org_bench}}"
    buckets = [
        Bucket(f"{tag}:org:all:requests", BIG, 60.0, "organization", "requests"),
        Bucket(f"{tag}:ws:wrkspc_1:all:requests", BIG, 60.0, "workspace", "requests"),
        Bucket(f"{tag}:ws:wrkspc_1:all:input_tokens", BIG, 60.0, "workspace", "input_tokens"),
        Bucket(f"{tag}:ws:wrkspc_1:all:output_tokens", BIG, 60.0, "workspace", "output_tokens"),
    ]
    return [Reservation(b, amount) for b, amount in zip(buckets, [1, 1, 1_200, 1_024], strict=True)]


Timing = tuple[float, float]  # seconds of wall time and of this process's CPU, per call


async def sequential(call: Callable[[], Awaitable[object]], count: int) -> Timing:
    """Per call, one call at a time."""
    for _ in range(min(200, count)):  # warm up connections and script cache
        await call()
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        await call()
    return (time.perf_counter() - started) / count, (time.process_time() - cpu) / count


async def concurrent(call: Callable[[], Awaitable[object]], count: int, workers: int) -> Timing:
    """Per call with ``workers`` callers at once (wall time: inverse throughput)."""
    per_worker = count // workers

    async def worker() -> None:
        for _ in range(per_worker):
            await call()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(workers)))
    calls = per_worker * workers
    return (time.perf_counter() - started) / calls, (time.process_time() - cpu) / calls


def row(name: str, timing: Timing, baseline: Timing) -> str:
    wall, cpu = timing
    return (f"{name:<38} {wall * 1e6:>10.1f} µs {1 / wall:>12,.0f}/s {wall / baseline[0]:>9.1f}x "
            f"{cpu * 1e6:>10.1f} µs")


async def main(url: str, count: int, workers: int) -> None:
    prefix = f"stw-bench-{uuid.uuid4().hex}:"
    reservations = request_reservations(prefix)
    client = connect(url, max_connections=workers)  # as the gateway connects (storage/redis_client.py)
    local: Limiter = InProcessLimiter()
    remote: Limiter = RedisLimiter(client)
    try:
        base = await sequential(lambda: local.admit(reservations, time.time()), count * 10)
        results = [
            ("in-process admit (baseline)", base),
            (f"in-process admit, {workers} concurrent", await concurrent(
                lambda: local.admit(reservations, time.time()), count * 10, workers)),
            ("redis PING round trip", await sequential(client.ping, count)),
            ("redis admit", await sequential(lambda: remote.admit(reservations, time.time()), count)),
            ("redis settle", await sequential(lambda: remote.settle(reservations, time.time()), count)),
            (f"redis admit, {workers} concurrent", await concurrent(
                lambda: remote.admit(reservations, time.time()), count * 4, workers)),
        ]
    finally:
        await client.delete(*(r.bucket.key for r in reservations))
        await remote.close()
    print(f"{'4 buckets per admission':<38} {'per call':>13} {'rate':>14} {'vs base':>10} {'CPU/call':>13}")
    for name, seconds in results:
        print(row(name, seconds, base))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--admissions", type=int, default=5_000, help="Redis calls per sequential measurement")
    parser.add_argument("--workers", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.redis_url, args.admissions, args.workers))
