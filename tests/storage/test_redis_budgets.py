"""Redis spend counters on a real Redis (STEWARD_TEST_REDIS_URL, default 127.0.0.1:6379/0): layout and
expiry, NOSCRIPT recovery, identical answers to the in-process backend (amounts far past 2**53 included),
exactness of reservations and of threshold reports across four processes, and the fail-closed / fail-open
policy when Redis is unreachable. The shared semantics suite is in tests/governance/test_budgets.py. Each
test uses its own key prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from steward.governance.budgets import (
    HELD,
    MAX_PICOUSD,
    BudgetAdmission,
    Counter,
    Crossing,
    InProcessBudgets,
    Lease,
    Origin,
)
from steward.storage.redis_budgets import RedisBudgets
from steward.storage.redis_client import connect
from tests.storage.redis_support import REDIS_URL, dropping, unreachable

USD = 10**12
DAY = 86_400.0


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    client = connect(REDIS_URL, max_connections=32)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def ws_counter(prefix: str, cap_usd: int = 50, ttl: float = 2 * DAY) -> Counter:
    return Counter(f"{prefix}{{org_1}}:spend:wrkspc_1:2026-11-29", cap_usd * USD, ttl)


async def test_a_counter_is_a_hash_of_integer_strings_that_expires(redis: Redis, prefix: str) -> None:
    budgets = RedisBudgets(redis)
    counter = ws_counter(prefix, cap_usd=20_000)
    await budgets.initialize(counter, 12_345_678_901_234_567, born_ms=1_765_000_000_000, by="host-a:/journal")
    assert 2 * DAY * 1000 - 1000 < await redis.pttl(counter.key) <= 2 * DAY * 1000  # past 2**53: still exact
    await redis.pexpire(counter.key, 5_000)
    admitted = await budgets.reserve([counter], 7 * USD, field="l:1765000600000", now_ms=1_765_000_000_000)
    assert await redis.hgetall(counter.key) == {b"spent": b"12345678901234567", b"reserved": b"7000000000000",
                                                b"born": b"1765000000000", b"by": b"host-a:/journal",
                                                b"l:1765000600000": b"7000000000000"}
    assert await redis.pttl(counter.key) > 5_000  # every write keeps the counter for another ttl
    assert await budgets.settle([counter], 7 * USD, 5 * USD, thresholds=(50, 80),
                                lease=admitted.lease) == [Crossing(counter, 50)]
    assert await redis.hgetall(counter.key) == {b"spent": b"12350678901234567", b"reserved": b"0",
                                                b"fired:50": b"1", b"born": b"1765000000000",
                                                b"by": b"host-a:/journal"}


async def test_refusals_and_zero_amounts_write_nothing(redis: Redis, prefix: str) -> None:
    budgets = RedisBudgets(redis)
    counter = ws_counter(prefix)
    assert not (await budgets.reserve([counter], 51 * USD)).admitted
    assert (await budgets.reserve([counter], 0)).admitted
    assert await budgets.settle([counter], USD, 0) == []
    assert [(s.spent, s.reserved) for s in await budgets.state([counter])] == [(0, 0)]
    assert await redis.exists(counter.key) == 0


async def test_scripts_are_reloaded_after_a_script_flush(redis: Redis, prefix: str) -> None:
    budgets = RedisBudgets(redis)
    counter = ws_counter(prefix)
    await redis.script_flush()  # what a Redis restart or failover does to cached scripts
    assert await budgets.initialize(counter, USD)
    await redis.script_flush()
    assert (await budgets.reserve([counter], USD)).states[0].reserved == USD
    await redis.script_flush()
    await budgets.settle([counter], USD, 24 * USD)
    await redis.script_flush()
    assert [(s.spent, s.reserved) for s in await budgets.state([counter])] == [(25 * USD, 0)]
    assert budgets.unavailable_count == 0


async def test_redis_and_in_process_give_the_same_answers(redis: Redis, prefix: str) -> None:
    # Random initializations (births, origins, held amounts), reservations (one counter sometimes twice; held or
    # leased, leases expiring as the clock moves), settlements with their lease, a stale birth or none, from
    # the counter's own journal or not, and caps from a cent to the largest accepted, so the Lua limb arithmetic
    # meets every carry and borrow.
    rng = random.Random(11)
    caps = [10**10, 50 * USD, 9_007 * USD, 10**18 + 7, MAX_PICOUSD]
    counters = [Counter(f"{prefix}{{org_1}}:c{i}", cap, DAY) for i, cap in enumerate(caps)]
    remote, local = RedisBudgets(redis), InProcessBudgets()
    outcomes: set[bool] = set()
    crossings = 0
    now_ms = 1_765_000_000_000
    leases: list[tuple[list[Counter], int, Lease]] = []
    for _ in range(800):
        now_ms += rng.choice([0, 1_000, 30_000, 200_000])
        chosen = [rng.choice(counters) for _ in range(rng.randint(1, 3))]
        smallest = min(c.cap for c in chosen)
        amount = rng.choice([0, 1, rng.randint(0, smallest // 3), rng.randint(0, smallest)])
        roll = rng.random()
        if roll < 0.05:
            spent, held = rng.randint(0, chosen[0].cap), rng.choice([0, rng.randint(0, chosen[0].cap)])
            born, by = now_ms - rng.choice([0, 5_000]), rng.choice(["", "host-a", "host-b"])
            assert await remote.initialize(chosen[0], spent, held, born_ms=born, by=by) == \
                await local.initialize(chosen[0], spent, held, born_ms=born, by=by)
        elif roll < 0.45:
            actual = rng.choice([0, amount, rng.randint(0, smallest // 4)])
            thresholds = rng.sample([10, 25, 50, 80, 95, 100, 150, 1000], rng.randint(0, 4))
            lease: Lease | None = None
            if leases and rng.random() < 0.7:
                chosen, amount, lease = leases.pop(rng.randrange(len(leases)))
                if rng.random() < 0.2:  # as if reserved on an earlier life of the counters
                    lease = Lease(lease.field, tuple(b - 1 for b in lease.born))
            origin = Origin(rng.choice(["", "host-a", "host-b"]), now_ms - rng.choice([0, 10_000]))
            found = await remote.settle(chosen, amount, actual, thresholds, lease=lease, origin=origin)
            assert found == await local.settle(chosen, amount, actual, thresholds, lease=lease, origin=origin)
            crossings += len(found)
        else:
            field = rng.choice([HELD, Lease.expiring(now_ms, rng.choice([60_000, 600_000]), 60_000)])
            answer = await remote.reserve(chosen, amount, field=field, now_ms=now_ms)
            assert answer == await local.reserve(chosen, amount, field=field, now_ms=now_ms)
            outcomes.add(answer.admitted)
            if answer.lease is not None:
                leases.append((chosen, amount, answer.lease))
    assert await remote.state(counters) == await local.state(counters)
    assert outcomes == {True, False} and crossings > 10


CHILD = """
import asyncio, sys
from steward.governance.budgets import Counter
from steward.storage.redis_budgets import RedisBudgets
from steward.storage.redis_client import connect
from tests.storage.redis_support import REDIS_URL, dropping, unreachable

USD = 10**12

async def main(url, prefix, mode, count):
    budgets = RedisBudgets(connect(url, max_connections=32))
    org = Counter(prefix + "{org_1}:spend:org:2026-11", (1_000 if mode == "reserve" else 200) * USD, 86400.0)
    ws = Counter(prefix + "{org_1}:spend:wrkspc_1:2026-11", 50 * USD, 86400.0)
    await budgets.state([org, ws])  # connected and scripts loaded before the race
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if mode == "reserve":
        answers = await asyncio.gather(*(budgets.reserve([org, ws], USD) for _ in range(count)))
        print(sum(a.admitted for a in answers), flush=True)
    else:
        found = await asyncio.gather(*(budgets.settle([org, ws], USD, USD, (25, 50, 80, 95)) for _ in range(count)))
        print(" ".join(f"{c.counter.key.split(':')[-2]}/{c.threshold}" for f in found for c in f), flush=True)
    print(budgets.unavailable_count, flush=True)
    await budgets.close()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


async def _race(prefix: str, mode: str, count: int) -> list[str]:
    """Run ``count`` operations in each of four processes, started together; their first output lines."""
    children = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, REDIS_URL, prefix, mode, str(count),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE) for _ in range(4)]
    for child in children:  # start the race only when all four are connected
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 15) == b"ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    outputs = [await asyncio.wait_for(child.communicate(), 15) for child in children]
    assert all(child.returncode == 0 for child in children)
    lines = [out.decode().split("\n") for out, _ in outputs]
    assert all(line[1] == "0" for line in lines)  # no process saw Redis unavailable
    return [line[0] for line in lines]


async def test_four_processes_admit_exactly_the_cap(redis: Redis, prefix: str) -> None:
    admitted = await _race(prefix, "reserve", 50)  # 200 reservations of $1 against a $50 cap
    assert sum(map(int, admitted)) == 50
    org = await redis.hgetall(f"{prefix}{{org_1}}:spend:org:2026-11")
    assert org[b"reserved"] == str(50 * USD).encode()  # refused requests reserved nothing anywhere


async def test_four_processes_report_each_threshold_once(redis: Redis, prefix: str) -> None:
    budgets = RedisBudgets(redis)
    org = Counter(f"{prefix}{{org_1}}:spend:org:2026-11", 200 * USD, DAY)
    ws = Counter(f"{prefix}{{org_1}}:spend:wrkspc_1:2026-11", 50 * USD, DAY)
    assert sum([(await budgets.reserve([org, ws], USD)).admitted for _ in range(50)]) == 50
    reports = " ".join(await _race(prefix, "settle", 13)).split()  # 52 settlements of $1: 2 release nothing
    assert sorted(reports) == ["org/25", "wrkspc_1/25", "wrkspc_1/50", "wrkspc_1/80", "wrkspc_1/95"]
    assert [(s.spent, s.reserved) for s in await budgets.state([org, ws])] == [(52 * USD, 0)] * 2


@pytest.mark.parametrize("fail_open", [False, True])
async def test_unreachable_redis_follows_the_policy(fail_open: bool, caplog: pytest.LogCaptureFixture) -> None:
    budgets = RedisBudgets(unreachable(), fail_open=fail_open, settle_retry_seconds=0.25)
    counter = Counter("stw-test-down:{org_1}:spend:wrkspc_1:2026-11", 50 * USD, DAY)
    with caplog.at_level(logging.WARNING, logger="steward.budgets"):
        first = await budgets.reserve([counter], USD)
        second = await budgets.reserve([counter], USD)
        assert await budgets.initialize(counter, USD) is False  # swallowed
        assert await budgets.settle([counter], USD, USD) == []  # tried twice within 0.25 s, then given up
        with pytest.raises((RedisError, OSError)):
            await budgets.state([counter])  # a view has no policy to fall back on
    assert first == second == BudgetAdmission(fail_open, (), None)
    assert budgets.unavailable_count == 6
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "steward.budgets"]
    assert [level for level, _ in logged] == ["WARNING", "ERROR"]  # the warning at most once a minute
    assert "spend settlement lost after 2 attempts" in logged[1][1]
    await budgets.close()


async def test_a_script_sent_again_after_a_broken_connection_applies_once(redis: Redis, prefix: str) -> None:
    """Issue 13: redis-py retries a command whose connection broke (``connect``: one retry), so a reservation or a
    settlement that Redis had already applied applied twice. Each call now carries an operation id."""
    async with dropping() as (proxy, client):
        budgets = RedisBudgets(client)
        counter = ws_counter(prefix)
        try:
            assert await budgets.initialize(counter, 0)
            assert (await budgets.reserve([counter], 3 * USD)).admitted  # loads the script
            proxy.armed = True
            assert (await budgets.reserve([counter], 5 * USD)).admitted  # ran, reply lost, sent again
            assert proxy.dropped == 1
            proxy.armed = True
            await budgets.settle([counter], 5 * USD, 4 * USD)  # the same for a settlement
            assert proxy.dropped == 2
            [state] = await budgets.state([counter])
        finally:
            await budgets.close()
    assert (state.spent, state.reserved) == (4 * USD, 3 * USD)  # not 8 spent, nor 8 + 5 - 5 reserved


async def test_a_settlement_redis_did_not_answer_is_sent_again_and_applies_once(prefix: str) -> None:
    """A Redis stall during settlements (the adversary, session 8: CLIENT PAUSE 3 s under load) dropped them: the
    reservation stayed held until its lease ended and the cost was never added. A settlement is now sent again
    for up to 25 s under the same operation id, so one that ran and only lost its reply still applies once."""
    async with dropping() as (proxy, client):
        budgets = RedisBudgets(client)
        counter = ws_counter(prefix)
        try:
            assert await budgets.initialize(counter, 0)
            assert (await budgets.reserve([counter], 5 * USD)).admitted
            proxy.armed = 3  # redis-py's own retry is cut as well: Steward's settlement sends it a third time
            await budgets.settle([counter], 5 * USD, 4 * USD)
            assert proxy.dropped == 3 and budgets.unavailable_count == 1
            [state] = await budgets.state([counter])
        finally:
            await budgets.close()
    assert (state.spent, state.reserved) == (4 * USD, 0)  # applied once: not 12 spent, nothing left held
