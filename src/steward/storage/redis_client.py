"""What every Redis-backed store shares: the client set-up and the "Redis is unavailable" bookkeeping."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

from steward.metrics import STORE_UNAVAILABLE

WARNING_INTERVAL = 60.0  # seconds between two "Redis unavailable" warnings of one store


def connect(url: str, *, max_connections: int = 64) -> Redis:
    """A client for the hot path: a blocking pool (waits for a free connection instead of failing), short
    timeouts and one retry, so that an unreachable Redis turns into the fail policy quickly."""
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=2.0,
                                           socket_timeout=1.0, socket_connect_timeout=1.0,
                                           retry=Retry(NoBackoff(), 1))
    return Redis.from_pool(pool)


class RedisBacked:
    """Owns a client and a fail policy; counts failures and warns at most once a minute."""

    subject = "store"   # e.g. "rate-limit", "budget"
    gate = "admission"  # what the fail policy decides
    consequences: dict[str, str] = {}  # what a failure of another operation means, for the warning

    def __init__(self, redis: Redis, *, fail_open: bool = False, logger: logging.Logger | None = None) -> None:
        self._redis = redis
        self._pipeline = auto_pipeline(redis)
        self.fail_open = fail_open
        self.unavailable_count = 0
        self._warned_at = -math.inf
        self._log = logger or logging.getLogger("steward.redis")

    def _unavailable(self, operation: str, exc: Exception) -> None:
        self.unavailable_count += 1
        STORE_UNAVAILABLE.labels(self.subject, operation).inc()
        clock = time.monotonic()
        if clock - self._warned_at >= WARNING_INTERVAL:
            self._warned_at = clock
            policy = "admits" if self.fail_open else "refuses"
            consequence = f"{self.gate} {policy} while it lasts" if operation == self.gate else \
                self.consequences.get(operation, "it is retried where it can be")
            self._log.warning("Redis unavailable during %s %s; %s (%d failures so far): %r",
                              self.subject, operation, consequence, self.unavailable_count, exc)

    async def close(self) -> None:
        """Close the Redis client and its connections."""
        await self._pipeline.close()
        await self._redis.aclose()


# Operations that change counters apply once even when redis-py sends them again: the client retries a command
# whose connection failed (``connect``: one retry), and a script that ran before the connection broke would
# otherwise apply twice (a reservation or a charge counted double). Each call carries an operation id as its last
# key; the script's reply is stored under it for OPERATION_TTL_MS, and a second run with the same id returns that
# reply without touching anything. The id key shares the counters' {hash tag}, so a Redis Cluster keeps one slot.
# The retry follows at once (no backoff, within the 1 s socket timeout), so 30 s is ample; it bounds the memory:
# at 2,000 requests/s with limits and caps (four operations each), about 240,000 small keys.
OPERATION_TTL_MS = 30_000

_ONCE_HEAD = """
local OPERATION, OPERATION_TTL = KEYS[#KEYS], ARGV[#ARGV]
local done = redis.call('GET', OPERATION)
if done then return cjson.decode(done) end
local KEYS = {unpack(KEYS, 1, #KEYS - 1)}
local ARGV = {unpack(ARGV, 1, #ARGV - 1)}
local function operation()
"""
_ONCE_TAIL = """
end
local reply = operation()
redis.call('SET', OPERATION, cjson.encode(reply), 'PX', OPERATION_TTL)
return reply
"""


def once(script: str) -> str:
    """The Lua ``script`` (which reads KEYS and ARGV and returns a number or an array) made idempotent by an
    operation id (``run_once``)."""
    return _ONCE_HEAD + script + _ONCE_TAIL


def operation_key(first: str) -> str:
    """A fresh operation id key in the same hash slot as ``first`` (its ``{tag}``, when it has one)."""
    close = first.find("}") if first.find("{") >= 0 else -1
    base = first[:close + 1] if close >= 0 else first
    return f"{base}:op:{uuid.uuid4().hex}"


async def run_once(script: AsyncScript, keys: Sequence[str], args: Sequence[str],
                   pipeline: AutoPipeline | None = None, operation: str | None = None) -> Any:
    """Run a ``once`` script under an operation id (a new one, or ``operation`` when the caller sends it again
    itself): however often it is sent within ``OPERATION_TTL_MS``, it applies once. Through ``pipeline`` when
    given (with the other calls of this round trip)."""
    keys, args = [*keys, operation or operation_key(keys[0])], [*args, str(OPERATION_TTL_MS)]
    if pipeline is None:
        return await script(keys=keys, args=args)
    return await pipeline.evalsha(script, keys, args)


_Call = tuple[AsyncScript, Sequence[str], Sequence[str], "asyncio.Future[Any]"]
MAX_PIPELINE = 512  # calls per round trip at most; the rest go in the next


class AutoPipeline:
    """Script calls made while Redis is busy with the previous ones go to it together, as one pipeline on one
    connection the pipeline keeps (ioredis calls this auto-pipelining): one write and one read pass per round trip,
    at most one round trip in flight, so under load each call's share of redis-py's per-call cost (the pool, the
    retry wrapper, the socket) shrinks with the batch. Measured in ``bench/limiter_bench.py``.

    Each caller gets its own reply, or its own error (a script error stays that call's); a connection failure
    fails every call of its round trip. A round trip that failed on the connection is sent again once on a fresh
    one (the client's ``Retry``); counter scripts run through ``once``, so a second send applies nothing twice.
    A script Redis does not hold (restarted, flushed) is loaded and its calls sent again."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queue: list[_Call] = []
        self._busy = False       # a round trip is in flight, or scheduled
        self._connection: Connection | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.round_trips = 0

    def evalsha(self, script: AsyncScript, keys: Sequence[str], args: Sequence[str]) -> asyncio.Future[Any]:
        """The script's reply, once its round trip has been answered."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((script, keys, args, future))
        if not self._busy:
            self._busy = True
            loop.call_soon(self._flush)  # calls made in this event-loop turn join it
        return future

    def _flush(self) -> None:
        calls, self._queue = self._queue[:MAX_PIPELINE], self._queue[MAX_PIPELINE:]
        task = asyncio.get_running_loop().create_task(self._send(calls))
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if self._queue:  # what came in meanwhile: the next round trip
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._busy = False

    async def _send(self, calls: list[_Call]) -> None:
        try:
            replies = await self._execute(calls)
            stale = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if stale:
                for script in {id(calls[n][0]): calls[n][0] for n in stale}.values():
                    script.sha = await self._redis.script_load(script.script)
                for n, reply in zip(stale, await self._execute([calls[n] for n in stale]), strict=True):
                    replies[n] = reply
        except BaseException as exc:
            for *_, future in calls:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, future), reply in zip(calls, replies, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, calls: list[_Call]) -> list[Any]:
        self.round_trips += 1
        if self._connection is None:
            pool: Any = self._redis.connection_pool  # get_connection is untyped in redis-py
            self._connection = cast(Connection, await pool.get_connection())
        connection = self._connection
        packed = connection.pack_commands(
            [("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args, _ in calls])

        async def once() -> list[Any]:
            try:
                await connection.send_packed_command(packed, check_health=False)
                replies: list[Any] = []
                for _ in calls:
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as exc:  # a script's error is its reply
                        replies.append(exc)
                return replies
            except BaseException:
                await connection.disconnect()  # never leave unread replies for the next round trip
                raise

        async def failed(_: Exception) -> None:
            await connection.disconnect()

        return await connection.retry.call_with_retry(once, failed)

    async def close(self) -> None:
        """Give the connection back (the client's ``aclose`` closes the pool)."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self._redis.connection_pool.release(connection)


_PIPELINES: weakref.WeakKeyDictionary[Redis, AutoPipeline] = weakref.WeakKeyDictionary()


def auto_pipeline(redis: Redis) -> AutoPipeline:
    """The one auto-pipeline of ``redis`` (stores sharing a client share its round trips)."""
    found = _PIPELINES.get(redis)
    if found is None:
        found = _PIPELINES[redis] = AutoPipeline(redis)
    return found
