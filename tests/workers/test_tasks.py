"""A background loop's fail-safe handler never swallows the loop's own cancellation (steward.tasks)."""

from __future__ import annotations

import asyncio

import pytest

from steward.tasks import stop_if_cancelled


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
