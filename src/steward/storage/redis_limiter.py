"""Rate-limit buckets in Redis, for several processes or instances: one atomic Lua script per admission.

Owns the Redis layout (one hash per bucket: ``level`` and ``updated_at`` as decimal strings, expiring after
twice the bucket's period) and the Lua mirror of ``steward.governance.buckets``' arithmetic. It must not
decide policy: limits, keys and ``now`` come from the caller. Scripts touch only the keys passed in KEYS,
so one request's buckets, sharing a ``{hash tag}``, can live in one Redis Cluster slot.

Time is the caller's ``now``, never Redis ``TIME``: every instance sharing a Redis must read a synchronized
clock (NTP wall time). A bucket's clock never moves backwards, so a slightly late instance cannot make
an interval refill twice; it only refills a little late.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from steward.governance.buckets import EPSILON, IDLE_PERIODS, Admission, Reservation, admitted, refused
from steward.storage.redis_client import RedisBacked, once, run_once

__all__ = ["RedisLimiter"]

log = logging.getLogger("steward.limits")


# Shared by both scripts: `current` is buckets.observe (nil when Redis holds no such bucket: never used, or
# expired, which it only is once full). Floats travel as strings; %.17g round-trips a double exactly.
_PRELUDE = f"""
local EPSILON = {EPSILON!r}
local now = tonumber(ARGV[1])
local function fmt(x) return string.format('%.17g', x) end
local function current(key, capacity, period)
  local stored = redis.call('HMGET', key, 'level', 'updated_at')
  if not (stored[1] and stored[2]) then return nil, nil end
  local stamp = tonumber(stored[2])
  local elapsed = math.max(0, now - stamp)
  local level = math.min(capacity, tonumber(stored[1]) + elapsed * capacity / period)
  if level >= capacity then return level, now end
  return level, math.max(stamp, now)
end
local function store(key, tokens, stamp, period)
  redis.call('HSET', key, 'level', fmt(tokens), 'updated_at', fmt(stamp))
  redis.call('PEXPIRE', key, math.ceil(period * {IDLE_PERIODS * 1000}))
end
"""

# ARGV[1] = now; bucket i: ARGV[3i-1] capacity, ARGV[3i] period, ARGV[3i+1] amount.
# Returns {1, after_1 .. after_n} when admitted, or {0, refused_index (0-based), available, now_1 .. now_n}.
ADMIT_LUA = _PRELUDE + """
local n = #KEYS
local levels, stamps = {}, {}
for i = 1, n do
  local key = KEYS[i]
  if levels[key] == nil then
    local capacity = tonumber(ARGV[3 * i - 1])
    levels[key], stamps[key] = current(key, capacity, tonumber(ARGV[3 * i]))
    if levels[key] == nil then levels[key], stamps[key] = capacity, now end
  end
end
local working, reply = {}, {1}
for key, tokens in pairs(levels) do working[key] = tokens end
for i = 1, n do
  local key, amount = KEYS[i], tonumber(ARGV[3 * i + 1])
  local available = working[key]
  if available + EPSILON < amount then
    local refusal = {0, i - 1, fmt(available)}
    for j = 1, n do refusal[j + 3] = fmt(levels[KEYS[j]]) end
    return refusal
  end
  working[key] = math.max(0, available - amount)
  reply[i + 1] = fmt(working[key])
end
for i = 1, n do
  local key = KEYS[i]
  if tonumber(ARGV[3 * i + 1]) > 0 then store(key, working[key], stamps[key], tonumber(ARGV[3 * i])) end
end
return reply
"""

# Same ARGV layout; adds each amount back, capped at capacity; buckets Redis does not hold are full already.
SETTLE_LUA = _PRELUDE + """
for i = 1, #KEYS do
  local key, capacity = KEYS[i], tonumber(ARGV[3 * i - 1])
  local period = tonumber(ARGV[3 * i])
  local amount = tonumber(ARGV[3 * i + 1])
  local tokens, stamp = current(key, capacity, period)
  if tokens ~= nil and amount > 0 then
    store(key, math.min(capacity, tokens + amount), stamp, period)
  end
end
return #KEYS
"""


def _arguments(reservations: Sequence[Reservation], now: float) -> tuple[list[str], list[str]]:
    keys = [r.bucket.key for r in reservations]
    args = [repr(float(now))]
    for r in reservations:
        args += (str(r.bucket.capacity), repr(float(r.bucket.period)), str(r.amount))
    return keys, args


def _parse(reservations: Sequence[Reservation], reply: Any) -> Admission:
    if int(reply[0]) == 1:
        return admitted(reservations, [float(x) for x in reply[1:]])
    return refused(reservations, [float(x) for x in reply[3:]], int(reply[1]), float(reply[2]))


class RedisLimiter(RedisBacked):
    subject = "rate-limit"
    gate = "admission"

    """Buckets in Redis: exact across processes because each admission is one atomic ``EVALSHA``.

    Reads and writes only the bucket hashes named by the reservations, whose keys must share one
    ``{hash tag}`` on a Redis Cluster; costs one round trip per admission and one per settlement (redis-py
    reloads a script after ``NOSCRIPT``). When Redis errors or cannot be
    reached, admission fails closed (refused, ``retry_after`` 1 s, no states) or, with ``fail_open``,
    admits without states; each failure adds to ``unavailable_count`` and a warning is logged at most once
    a minute. Give the client a ``BlockingConnectionPool`` (the default pool raises, and so refuses,
    past its connection limit), short socket timeouts and few retries: admission waits for them.
    ``close`` closes the client, which the limiter owns from construction.
    """

    def __init__(self, redis: Redis, *, fail_open: bool = False) -> None:
        super().__init__(redis, fail_open=fail_open, logger=log)
        self._admit = redis.register_script(once(ADMIT_LUA))
        self._settle = redis.register_script(once(SETTLE_LUA))

    async def admit(self, reservations: Sequence[Reservation], now: float) -> Admission:
        """Deduct every reservation, or none, in one atomic script; see ``Admission``."""
        if not reservations:
            return admitted((), ())
        keys, args = _arguments(reservations, now)
        try:
            reply = await run_once(self._admit, keys, args, self._pipeline)
        except (RedisError, OSError) as exc:
            self._unavailable("admission", exc)
            if self.fail_open:
                return Admission(True, (), None, 0.0)
            return Admission(False, (), None, 1.0)
        return _parse(reservations, reply)

    async def settle(self, returns: Sequence[Reservation], now: float) -> None:
        """Give unused tokens back, never above capacity; a failure is logged and swallowed."""
        if not returns:
            return
        keys, args = _arguments(returns, now)
        try:
            await run_once(self._settle, keys, args, self._pipeline)
        except (RedisError, OSError) as exc:
            self._unavailable("settlement", exc)


