"""A background loop's fail-safe handler never swallows the loop's own cancellation (steward.tasks)."""

from __future__ import annotations

import asyncio

import pytest

from steward.tasks import pause, spawn, stop_if_cancelled


async def test_a_cancellation_converted_by_a_library_still_stops_the_loop() -> None:
    rounds = 0

    async def library_call() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("converted") from None  # what a library's error adaptation may do

    async def loop() -> None:
        nonlocal rounds
        while True:
            try:
                await library_call()
            except Exception:  # the fail-safe handler of a worker loop
                stop_if_cancelled()
                rounds += 1

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert rounds == 0


async def test_an_ordinary_failure_keeps_the_loop_going() -> None:
    try:
        raise RuntimeError("the database is down")
    except RuntimeError:
        stop_if_cancelled()  # not cancelled: returns, the loop logs and retries


async def test_a_loop_stops_between_its_rounds_not_inside_one() -> None:
    """Shutdown used to cancel background loops wherever they were, a database transaction included (its
    connection left behind, and SQLite's write lock with it). Now a loop ends at its next pause."""
    stop, seen = asyncio.Event(), []

    async def loop() -> None:
        while True:
            seen.append("round begins")
            await asyncio.sleep(0.1)  # the round's own awaits (a transaction) are not interrupted
            seen.append("round ends")
            await pause(60)

    task = spawn(loop(), stop)
    await asyncio.sleep(0.02)  # inside the first round
    stop.set()
    done, _ = await asyncio.wait([task], timeout=5)
    assert task in done and task.cancelled()
    assert seen == ["round begins", "round ends"]
    started = asyncio.get_running_loop().time()
    later = spawn(loop(), stop)  # stop already set: one round, then it ends at once
    await asyncio.wait([later], timeout=5)
    assert later.cancelled() and asyncio.get_running_loop().time() - started < 1


async def test_without_a_stop_signal_pause_is_a_sleep() -> None:
    started = asyncio.get_running_loop().time()
    await pause(0.05)
    assert asyncio.get_running_loop().time() - started >= 0.04
