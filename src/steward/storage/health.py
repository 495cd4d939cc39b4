"""Whether the database answers, and whether a failed write was the data's fault or the database's.

The journal shipper needs the difference: a value the database refuses (too long, a NUL, a broken constraint) is
quarantined, while an outage, a missing table or a permission problem is retried until it is fixed, since
quarantining every line on an outage would empty the ledger into a side file. Messages returned by ``describe``
never carry the statement's parameters (they may hold request metadata).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("steward")

# SQLSTATE classes of errors caused by the values written: 22 data exception, 23 integrity constraint violation.
_DATA_CLASSES = ("22", "23")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its driver exception and their causes (SQLAlchemy wraps the DBAPI's, which wraps asyncpg's)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__, getattr(item, "orig", None)])
    return seen


def _sqlstate(exc: BaseException) -> str | None:
    for item in _chain(exc):
        state = getattr(item, "sqlstate", None)
        if isinstance(state, str) and state:
            return state
    return None


def is_data_error(exc: BaseException) -> bool:
    """True when a write failed because of the values written, False when it failed because of the database."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        state = _sqlstate(exc)
        if state is not None:
            return state[:2] in _DATA_CLASSES
        return any(isinstance(item, sqlite3.IntegrityError | sqlite3.DataError) for item in _chain(exc)) or \
            any(type(item).__name__ == "DataError" and isinstance(item, ValueError) for item in _chain(exc))
    if isinstance(exc, StatementError):  # raised while binding parameters (a naive datetime, a missing value)
        return True
    if isinstance(exc, OSError | ConnectionError | asyncio.TimeoutError):
        return False
    # Our own code refusing a value while preparing rows (rollups of a malformed record, bad types).
    return isinstance(exc, ValueError | TypeError | KeyError | AttributeError | ArithmeticError)


# SQLSTATE classes of an unavailable database: 08 connection exception, 53 insufficient resources (too many
# connections), 57 operator intervention (shutdown, cannot connect now), 3D invalid catalog (database gone).
_UNAVAILABLE_CLASSES = ("08", "53", "57", "3D")


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or used right now (an outage, not a bug): the
    caller answers 503 with ``retry-after`` rather than 500."""
    for item in _chain(exc):
        if isinstance(item, DBAPIError) and item.connection_invalidated:
            return True
        if isinstance(item, OSError | asyncio.TimeoutError | SATimeoutError | sqlite3.OperationalError):
            return True
        if type(item).__name__ in ("ConnectionDoesNotExistError", "InterfaceError") and \
                type(item).__module__.startswith("asyncpg"):
            return True
    state = _sqlstate(exc)
    # 55000 at connect: "database ... is not currently accepting connections" (ALLOW_CONNECTIONS false: maintenance)
    return state is not None and (state[:2] in _UNAVAILABLE_CLASSES or state == "55000")


def unavailable_hint(exc: BaseException) -> str:
    """What an operator can do about a database that is not available at start-up, when the error says (or "")."""
    if _sqlstate(exc) == "3D000":
        return "; create the database (e.g. `createdb`) and Steward goes on by itself"
    return ""


class StartupWait:
    """How a starting process waits for a database that is not available: retries with doubling pauses (0.25 s up
    to 5 s) until ``seconds`` have passed, logging each retry. Shared by ``steward serve``'s schema upgrade and each
    worker's first load (``app.Steward``)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline = time.monotonic() + seconds
        self._delay = 0.25

    def pause_after(self, exc: BaseException) -> float | None:
        """The seconds to wait before trying again after ``exc``; None when it is not an outage or time is up."""
        left = self._deadline - time.monotonic()
        if not database_unavailable(exc) or left <= 0:
            return None
        log.warning("start-up: the database is not available (%s)%s; retrying for up to %.0f s more",
                    describe(exc), unavailable_hint(exc), left)
        pause, self._delay = min(self._delay, left), min(self._delay * 2, 5.0)
        return pause


def describe(exc: BaseException) -> str:
    """A short, parameter-free description: the driver's exception class and first message line."""
    inner: BaseException = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    message = str(inner).splitlines()[0] if str(inner) else ""
    if isinstance(inner, StatementError):  # SQLAlchemy's own text appends the SQL and parameters: drop them
        message = message.split(" [SQL:")[0]
    state = _sqlstate(exc)
    prefix = f"{type(inner).__name__}" + (f" (SQLSTATE {state})" if state else "")
    return f"{prefix}: {message}"[:300]


async def ping(engine: AsyncEngine, seconds: float) -> str | None:
    """``SELECT 1`` within ``seconds``: None when the database answers, else what went wrong."""
    try:
        async with asyncio.timeout(seconds):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except Exception as exc:  # fail-safe by design: any failure of the probe is the answer
        return describe(exc)
    return None
