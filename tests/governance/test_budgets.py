"""Spend-counter semantics, run against both backends: in-process and Redis (real, at STEWARD_TEST_REDIS_URL,
default 127.0.0.1:6379/0). Each Redis test uses its own key prefix and deletes it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from steward.governance.budgets import (
    HELD,
    MAX_PICOUSD,
    BudgetAdmission,
    Budgets,
    Counter,
    CounterState,
    Crossing,
    InProcessBudgets,
    Lease,
    Origin,
    check_thresholds,
)
from steward.storage.redis_budgets import RedisBudgets
from steward.storage.redis_client import connect

REDIS_URL = os.environ.get("STEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
USD = 10**12  # pico-USD
MONTH = 31 * 86_400.0 + 86_400.0


@pytest.fixture
def prefix() -> str:
    return f"stw-test-{uuid.uuid4().hex}:"


@pytest.fixture(params=["in-process", "redis"])
async def budgets(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Budgets]:
    if request.param == "in-process":
        yield InProcessBudgets()
        return
    client = connect(REDIS_URL, max_connections=32)
    redis_budgets = RedisBudgets(client)
    yield redis_budgets
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    assert redis_budgets.unavailable_count == 0
    await redis_budgets.close()


def make(prefix: str, name: str, cap_usd: float, period: str = "2026-11") -> Counter:
    return Counter(f"{prefix}{{org_1}}:spend:{name}:{period}", int(cap_usd * USD), MONTH)


async def spent_reserved(budgets: Budgets, *counters: Counter) -> list[tuple[int, int]]:
    return [(s.spent, s.reserved) for s in await budgets.state(counters)]


async def test_a_new_counter_reads_as_zero(budgets: Budgets, prefix: str) -> None:
    counter = make(prefix, "ws", 50)
    assert await budgets.state([counter]) == [CounterState(counter, 0, 0)]
    seen = await budgets.reserve([counter], 0)  # a zero amount only reads
    assert seen == BudgetAdmission(True, (CounterState(counter, 0, 0),), None)


async def test_reservation_within_the_caps_is_added_to_every_counter(budgets: Budgets, prefix: str) -> None:
    org, ws = make(prefix, "org", 1_000), make(prefix, "ws", 50)
    first = await budgets.reserve([org, ws], 30 * USD)
    assert first == BudgetAdmission(True, (CounterState(org, 0, 30 * USD), CounterState(ws, 0, 30 * USD)), None,
                                    lease=Lease(HELD, (0, 0)))
    exact = await budgets.reserve([org, ws], 20 * USD)  # spent + reserved + amount == cap is allowed
    assert exact.admitted and [s.reserved for s in exact.states] == [50 * USD, 50 * USD]
    one_more = await budgets.reserve([org, ws], 1)
    assert (one_more.admitted, one_more.refused_by) == (False, ws)


async def test_refusal_reserves_nothing_anywhere(budgets: Budgets, prefix: str) -> None:
    org, ws, key = make(prefix, "org", 1_000), make(prefix, "ws", 100), make(prefix, "key", 10, "2026-11-29")
    await budgets.initialize(ws, 95 * USD)
    refusal = await budgets.reserve([org, ws, key], 6 * USD)
    assert refusal == BudgetAdmission(False, (CounterState(org, 0, 0), CounterState(ws, 95 * USD, 0),
                                              CounterState(key, 0, 0)), ws)
    assert await spent_reserved(budgets, org, ws, key) == [(0, 0), (95 * USD, 0), (0, 0)]
    first_short = await budgets.reserve([org, key, ws], 11 * USD)  # both short: the first one is named
    assert first_short.refused_by == key


async def test_settle_moves_the_reservation_to_real_spend(budgets: Budgets, prefix: str) -> None:
    ws = make(prefix, "ws", 50)
    await budgets.reserve([ws], 10 * USD)
    await budgets.reserve([ws], 10 * USD)
    assert await budgets.settle([ws], 10 * USD, 3 * USD) == []
    assert await spent_reserved(budgets, ws) == [(3 * USD, 10 * USD)]
    await budgets.settle([ws], 10 * USD, 12 * USD)  # cost more than reserved: spend records it all
    assert await spent_reserved(budgets, ws) == [(15 * USD, 0)]
    await budgets.settle([ws], 10 * USD, 1)  # releasing more than is held stops at zero
    assert await spent_reserved(budgets, ws) == [(15 * USD + 1, 0)]
    assert (await budgets.reserve([ws], 35 * USD - 1)).admitted
    assert not (await budgets.reserve([ws], 1)).admitted


async def test_settling_an_unknown_counter_records_its_spend(budgets: Budgets, prefix: str) -> None:
    ws, other = make(prefix, "ws", 50), make(prefix, "other", 50)
    await budgets.settle([ws], 5 * USD, 2 * USD)
    await budgets.settle([other], 5 * USD, 0)
    assert await spent_reserved(budgets, ws, other) == [(2 * USD, 0), (0, 0)]
    assert await budgets.initialize(other, 7 * USD)  # a zero settlement created nothing


async def test_initialize_is_first_wins(budgets: Budgets, prefix: str) -> None:
    ws, fresh = make(prefix, "ws", 50), make(prefix, "fresh", 50)
    assert await budgets.initialize(ws, 20 * USD)
    assert not await budgets.initialize(ws, 40 * USD)
    assert await spent_reserved(budgets, ws) == [(20 * USD, 0)]
    assert not (await budgets.reserve([ws], 31 * USD)).admitted  # a cap added mid-period counts earlier spend
    await budgets.reserve([fresh], USD)
    assert not await budgets.initialize(fresh, 40 * USD)  # an existing counter is never overwritten
    results = await asyncio.gather(*(budgets.initialize(make(prefix, "race", 50), n * USD) for n in range(20)))
    assert sum(results) == 1
    assert (await budgets.state([make(prefix, "race", 50)]))[0].spent == results.index(True) * USD


async def test_thresholds_are_reported_once_per_counter(budgets: Budgets, prefix: str) -> None:
    org, ws = make(prefix, "org", 1_000), make(prefix, "ws", 100)
    assert await budgets.settle([org, ws], 0, 49 * USD) == []
    both = await budgets.settle([org, ws], 0, 31 * USD)  # 49 % -> 80 %: crosses 50 and 80 at once
    assert both == [Crossing(ws, 50), Crossing(ws, 80)]
    assert await budgets.settle([org, ws], 0, 1 * USD) == []
    assert await budgets.settle([org, ws], 0, 14 * USD - 1) == []  # 94.99...%
    assert await budgets.settle([org, ws], 0, 1) == [Crossing(ws, 95)]  # exactly 95 %
    assert await budgets.settle([org, ws], 0, 500 * USD) == [Crossing(org, 50)]  # the workspace's are spent
    assert await budgets.settle([org, ws], 0, 500 * USD) == [Crossing(org, 80), Crossing(org, 95)]
    assert await budgets.settle([org, ws], 0, 0) == []


async def test_thresholds_follow_the_settlement_arguments(budgets: Budgets, prefix: str) -> None:
    ws = make(prefix, "ws", 100)
    assert await budgets.settle([ws], 0, 60 * USD, thresholds=()) == []
    assert await budgets.settle([ws], 0, 0, thresholds=(95, 50, 50, 80)) == [Crossing(ws, 50)]
    assert await budgets.settle([ws], 0, 60 * USD, thresholds=(100, 120, 200)) == [Crossing(ws, 100),
                                                                                   Crossing(ws, 120)]
    assert await budgets.settle([ws], 0, 0) == [Crossing(ws, 80), Crossing(ws, 95)]


async def test_spend_already_past_a_threshold_is_reported_by_the_next_settlement(budgets: Budgets,
                                                                                prefix: str) -> None:
    ws = make(prefix, "ws", 100)
    await budgets.initialize(ws, 85 * USD)  # a cap added mid-period, after 85 % was spent
    assert await budgets.settle([ws], 0, 0) == [Crossing(ws, 50), Crossing(ws, 80)]
    assert await budgets.settle([ws], 0, 20 * USD) == [Crossing(ws, 95)]


async def test_a_fresh_key_starts_over(budgets: Budgets, prefix: str) -> None:
    november, december = make(prefix, "ws", 10, "2026-11"), make(prefix, "ws", 10, "2026-12")
    await budgets.reserve([november], 10 * USD)
    assert await budgets.settle([november], 10 * USD, 10 * USD) == [Crossing(november, t) for t in (50, 80, 95)]
    assert not (await budgets.reserve([november], 1)).admitted
    assert (await budgets.reserve([december], 10 * USD)).admitted
    assert await budgets.settle([december], 10 * USD, 9 * USD) == [Crossing(december, 50), Crossing(december, 80)]
    assert await spent_reserved(budgets, november, december) == [(10 * USD, 0), (9 * USD, 0)]


async def test_a_lowered_cap_applies_at_once(budgets: Budgets, prefix: str) -> None:
    key = f"{prefix}{{org_1}}:spend:ws:2026-11"
    await budgets.reserve([Counter(key, 100 * USD, MONTH)], 30 * USD)
    refusal = await budgets.reserve([Counter(key, 40 * USD, MONTH)], 11 * USD)
    assert not refusal.admitted and refusal.states[0].reserved == 30 * USD


async def test_one_counter_twice_counts_both_amounts(budgets: Budgets, prefix: str) -> None:
    ws = make(prefix, "ws", 50)
    refusal = await budgets.reserve([ws, ws], 30 * USD)
    assert refusal.refused_by == ws and refusal.states == (CounterState(ws, 0, 0),) * 2
    both = await budgets.reserve([ws, ws], 25 * USD)
    assert both.admitted and both.states == (CounterState(ws, 0, 50 * USD),) * 2


async def test_amounts_beyond_double_precision_are_exact(budgets: Budgets, prefix: str) -> None:
    # 2**53 pico-USD is about $9,007; a $1 million cap must still be enforced to the pico-dollar.
    big = make(prefix, "org", 1_000_000)
    assert await budgets.initialize(big, 2**53 + 1)
    assert (await budgets.reserve([big], big.cap - 2**53 - 2)).admitted
    assert (await budgets.reserve([big], 1)).admitted
    assert not (await budgets.reserve([big], 1)).admitted
    assert await spent_reserved(budgets, big) == [(2**53 + 1, big.cap - 2**53 - 1)]
    assert await budgets.settle([big], big.cap, 500_000 * USD - 2**53 - 2) == []  # one pico short of 50 %
    assert await budgets.settle([big], 0, 1) == [Crossing(big, 50)]
    huge = Counter(f"{prefix}{{org_1}}:spend:huge", MAX_PICOUSD, MONTH)
    await budgets.settle([huge], 0, MAX_PICOUSD)
    await budgets.settle([huge], 0, MAX_PICOUSD - 1)
    assert await spent_reserved(budgets, huge) == [(2 * MAX_PICOUSD - 1, 0)]


async def test_concurrent_reservations_are_exact(budgets: Budgets, prefix: str) -> None:
    org, ws = make(prefix, "org", 1_000), make(prefix, "ws", 50)
    results = await asyncio.gather(*(budgets.reserve([org, ws], USD) for _ in range(200)))
    assert sum(a.admitted for a in results) == 50
    assert all(a.refused_by == ws for a in results if not a.admitted)
    assert await spent_reserved(budgets, org, ws) == [(0, 50 * USD), (0, 50 * USD)]


async def test_concurrent_settlements_report_each_threshold_once(budgets: Budgets, prefix: str) -> None:
    ws = make(prefix, "ws", 50)
    await asyncio.gather(*(budgets.reserve([ws], USD) for _ in range(50)))
    settled = await asyncio.gather(*(budgets.settle([ws], USD, USD) for _ in range(50)))
    assert sorted(c.threshold for found in settled for c in found) == [50, 80, 95]
    assert await spent_reserved(budgets, ws) == [(50 * USD, 0)]


async def test_empty_requests_touch_nothing(budgets: Budgets) -> None:
    assert await budgets.reserve([], USD) == BudgetAdmission(True, (), None)
    assert await budgets.settle([], USD, USD) == []
    assert await budgets.state([]) == []


def test_bad_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="cap"):
        Counter("k", 0, 60.0)
    with pytest.raises(ValueError, match="cap"):
        Counter("k", MAX_PICOUSD + 1, 60.0)
    with pytest.raises(ValueError, match="ttl"):
        Counter("k", 1, 0.0)
    with pytest.raises(ValueError, match="key"):
        Counter("", 1, 60.0)
    with pytest.raises(ValueError, match="threshold"):
        check_thresholds([0])
    with pytest.raises(ValueError, match="threshold"):
        check_thresholds([1_001])
    assert check_thresholds([95, 50, 80, 50]) == (50, 80, 95)


async def test_bad_amounts_are_rejected_before_any_write(budgets: Budgets, prefix: str) -> None:
    ws = make(prefix, "ws", 50)
    with pytest.raises(ValueError, match="amount"):
        await budgets.reserve([ws], -1)
    with pytest.raises(ValueError, match="actual"):
        await budgets.settle([ws], 0, -5)
    with pytest.raises(ValueError, match="threshold"):
        await budgets.settle([ws], 0, USD, thresholds=(0,))
    with pytest.raises(ValueError, match="spent"):
        await budgets.initialize(ws, MAX_PICOUSD + 1)
    assert await spent_reserved(budgets, ws) == [(0, 0)]


async def test_in_process_counters_expire_after_their_ttl() -> None:
    now = [1_000.0]
    budgets = InProcessBudgets(clock=lambda: now[0])
    short = Counter("day", 10 * USD, 100.0)
    others = [Counter(f"k{i}", 10 * USD, 100.0) for i in range(50)]
    for counter in others:
        await budgets.reserve([counter], USD)
    await budgets.settle([short], 0, 5 * USD)
    assert len(budgets) == 51
    now[0] += 90.0
    await budgets.settle([short], 0, USD)  # a write keeps a counter alive for another ttl
    now[0] += 15.0  # the others have expired; the sweep has not run yet, but reads already miss them
    assert await budgets.state([others[1]]) == [CounterState(others[1], 0, 0)]
    now[0] += 50.0  # past the others' ttl, and past the once-a-minute sweep
    assert await budgets.state([short]) == [CounterState(short, 6 * USD, 0)]
    assert len(budgets) == 1  # the sweep forgot the expired ones
    assert await budgets.state([others[0]]) == [CounterState(others[0], 0, 0)]
    assert await budgets.initialize(others[0], 3 * USD)


T0 = 1_765_000_000_000  # wall-clock ms


async def test_a_leased_reservation_expires_and_a_held_one_does_not(budgets: Budgets, prefix: str) -> None:
    """A holder killed mid-request never settles: its reservation is gone once its lease expires (before, it held
    the cap until the period ended: a team blocked for the month after one crash). A batch's hold stays."""
    ws = make(prefix, "ws", 10)
    await budgets.initialize(ws, 0, born_ms=T0, by="host-a")
    leased = Lease.expiring(T0, 60_000, 60_000)
    assert (await budgets.reserve([ws], 6 * USD, field=leased, now_ms=T0)).admitted
    assert (await budgets.reserve([ws], 3 * USD, field=HELD, now_ms=T0)).admitted
    assert not (await budgets.reserve([ws], 2 * USD, field=leased, now_ms=T0 + 60_000)).admitted  # still held
    later = T0 + 121_000
    assert (await budgets.reserve([ws], 7 * USD, field=Lease.expiring(later, 60_000, 60_000), now_ms=later)).admitted
    assert await spent_reserved(budgets, ws) == [(0, 10 * USD)]  # 3 held + 7 new; the crashed 6 expired


async def test_a_counter_started_again_is_not_released_by_older_reservations(budgets: Budgets, prefix: str) -> None:
    """Requests in flight when the store lost the counter settle against the new one: they release nothing from
    it (before, they erased reservations taken since: 2.26 cents spent against a 1-cent cap) and add their cost
    unless the start, from the same journal after they were written, already counted it."""
    ws = make(prefix, "ws", 10)
    await budgets.initialize(ws, 0, born_ms=T0, by="host-a")
    field = Lease.expiring(T0, 600_000, 60_000)
    old = await budgets.reserve([ws], 4 * USD, field=field, now_ms=T0)
    await budgets.settle([ws], 0, 0)  # keep the key, then lose it as Redis does
    restart = T0 + 5_000
    fresh = make(prefix, "ws", 10)
    if isinstance(budgets, InProcessBudgets):
        budgets._records.clear()
    else:
        await budgets._redis.delete(ws.key)  # type: ignore[attr-defined]
    await budgets.initialize(fresh, 1 * USD, born_ms=restart, by="host-a")  # counted the first one's line
    new = await budgets.reserve([fresh], 5 * USD, field=Lease.expiring(restart, 600_000, 60_000), now_ms=restart)
    assert old.lease is not None and new.lease is not None and old.lease.born != new.lease.born
    # The in-flight request, written before the start from the same journal: counted already, releases nothing.
    await budgets.settle([fresh], 4 * USD, 1 * USD, lease=old.lease, origin=Origin("host-a", T0 + 1_000))
    assert await spent_reserved(budgets, fresh) == [(1 * USD, 5 * USD)]
    # Another host's, or one written after the start: its cost is added (never missed), still nothing released.
    await budgets.settle([fresh], 4 * USD, 2 * USD, lease=old.lease, origin=Origin("host-b", T0 + 1_000))
    await budgets.settle([fresh], 4 * USD, 1 * USD, lease=old.lease, origin=Origin("host-a", restart + 1))
    assert await spent_reserved(budgets, fresh) == [(4 * USD, 5 * USD)]
    await budgets.settle([fresh], 5 * USD, 5 * USD, lease=new.lease, origin=Origin("host-a", restart + 2))
    assert await spent_reserved(budgets, fresh) == [(9 * USD, 0)]
