"""Background loops and cancellation: a fail-safe ``except Exception`` must never swallow its loop's own stop.

A library that converts a ``CancelledError`` raised inside its call into an exception of its own (seen with
SQLAlchemy's asyncio adaptation under load) would otherwise turn ``task.cancel()`` into "log and go round again",
and a shutdown awaiting that task would hang. ``stop_if_cancelled()`` in each such handler ends the loop instead.
"""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if the running task has been asked to stop (its cancel may have been converted)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
