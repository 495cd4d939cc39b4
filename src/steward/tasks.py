"""Background loops and cancellation: a fail-safe ``except Exception`` must never swallow its loop's own stop,
and a loop stops between its rounds, not inside one (``pause``).

A library that converts a ``CancelledError`` raised inside its call into an exception of its own (seen with
SQLAlchemy's asyncio adaptation under load) would otherwise turn ``task.cancel()`` into "log and go round again",
and a shutdown awaiting that task would hang. ``stop_if_cancelled()`` in each such handler ends the loop instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from contextvars import ContextVar
from typing import Any

# The stop signal of the process's background loops (``stopping``); None: loops are only ever cancelled.
_STOP: ContextVar[asyncio.Event | None] = ContextVar("steward_stop", default=None)


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if the running task has been asked to stop (its cancel may have been converted)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def pause(seconds: float) -> None:
    """Wait between two rounds of a background loop. Raises ``CancelledError`` once the loop's process is stopping
    (``stopping``), so the loop ends here, between rounds: a round cancelled inside a database transaction could
    leave its connection unreturned, and on SQLite its write lock held (a test saw the file locked for minutes
    after an in-process gateway stopped). Without a stop signal (``steward ship``), a plain sleep."""
    stop = _STOP.get()
    if stop is None:
        await asyncio.sleep(seconds)
        return
    if not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    if stop.is_set():
        raise asyncio.CancelledError


@contextlib.contextmanager
def stopping(stop: asyncio.Event) -> Iterator[None]:
    """Tasks created inside this block pause (``pause``) on ``stop``: set it, and they end at their next pause."""
    token = _STOP.set(stop)
    try:
        yield
    finally:
        _STOP.reset(token)


def spawn(coro: Coroutine[Any, Any, None], stop: asyncio.Event) -> asyncio.Task[None]:
    """A background task whose ``pause`` calls end it once ``stop`` is set."""
    with stopping(stop):
        return asyncio.create_task(coro)
