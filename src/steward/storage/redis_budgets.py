"""Spend counters in Redis, for several processes or instances: one atomic Lua script per operation.

Owns the Redis layout (one hash per counter: ``spent`` and ``reserved`` as decimal integer strings, and a
``fired:<percent>`` field per threshold already reported; the key expires ``Counter.ttl`` after its last
write) and the Lua mirror of ``steward.governance.budgets``. It must not decide caps, periods or keys.
Scripts touch only the keys passed in KEYS, so one request's counters, sharing a ``{hash tag}``, can live in
one Redis Cluster slot.

Redis Lua numbers are doubles, exact only below 2**53 pico-USD (about $9,007) and printed as ``1e+16``
beyond it, so the scripts never do arithmetic on whole amounts: they split each decimal string into two
base-10**9 limbs and add, subtract, compare and multiply by a percentage limb by limb, which is exact for
every amount ``budgets`` accepts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from steward.governance.budgets import (
    DEFAULT_THRESHOLDS,
    BudgetAdmission,
    Counter,
    CounterState,
    Crossing,
    check_amount,
    check_thresholds,
)
from steward.storage.redis_client import RedisBacked

__all__ = ["RedisBudgets"]

log = logging.getLogger("steward.budgets")


# Exact non-negative integers as {high, low} limbs of base 10**9; every limb stays far below 2**53.
_DECIMAL = """
local B = 1000000000
local function dec(s)
  if not s then return {0, 0} end
  local n = #s
  if n <= 9 then return {0, tonumber(s)} end
  return {tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))}
end
local function str(a)
  if a[1] == 0 then return string.format('%.0f', a[2]) end
  return string.format('%.0f', a[1]) .. string.format('%09.0f', a[2])
end
local function less(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end
local function is_zero(a) return a[1] == 0 and a[2] == 0 end
local function add(a, b)
  local lo = a[2] + b[2]
  if lo >= B then return {a[1] + b[1] + 1, lo - B} end
  return {a[1] + b[1], lo}
end
local function sub0(a, b)
  if less(a, b) then return {0, 0} end
  local lo = a[2] - b[2]
  if lo < 0 then return {a[1] - b[1] - 1, lo + B} end
  return {a[1] - b[1], lo}
end
local function times(a, k)
  local lo = a[2] * k
  local carry = math.floor(lo / B)
  return {a[1] * k + carry, lo - carry * B}
end
local function load(key)
  local stored = redis.call('HMGET', key, 'spent', 'reserved')
  return dec(stored[1]), dec(stored[2])
end
"""

# KEYS[1]; ARGV[1] spent, ARGV[2] ttl in ms, ARGV[3] reserved. Returns 1 when it created the counter, 0 when it
# existed.
INITIALIZE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'spent', ARGV[1], 'reserved', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# ARGV[1] amount; counter i: ARGV[2i] cap, ARGV[2i+1] ttl in ms; ARGV[2n+2] '1' when every counter must exist.
# Returns {1, -1, spent_1, reserved_1, ..} with the states after the reservation, {0, refused index (0-based),
# spent_1, reserved_1, ..} as found, or {2, missing index} when a counter that must exist does not (Redis lost it).
RESERVE_LUA = _DECIMAL + """
local amount, n = dec(ARGV[1]), #KEYS
local strict = ARGV[2 * n + 2] == '1'
local spent, reserved, working = {}, {}, {}
for i = 1, n do
  local key = KEYS[i]
  if strict and redis.call('EXISTS', key) == 0 then return {2, i - 1} end
  if spent[key] == nil then
    spent[key], reserved[key] = load(key)
    working[key] = reserved[key]
  end
end
local function reply(head, index, held)
  local out = {head, index}
  for j = 1, n do out[2 * j + 1], out[2 * j + 2] = str(spent[KEYS[j]]), str(held[KEYS[j]]) end
  return out
end
for i = 1, n do
  local key = KEYS[i]
  if less(dec(ARGV[2 * i]), add(add(spent[key], working[key]), amount)) then return reply(0, i - 1, reserved) end
  working[key] = add(working[key], amount)
end
if not is_zero(amount) then
  for i = 1, n do
    local key = KEYS[i]
    redis.call('HSET', key, 'spent', str(spent[key]), 'reserved', str(working[key]))
    redis.call('PEXPIRE', key, ARGV[2 * i + 1])
  end
end
return reply(1, -1, working)
"""

# ARGV[1] reserved, ARGV[2] actual, ARGV[3] m, ARGV[4 .. 3+m] thresholds (sorted); counter i: ARGV[3+m+2i-1]
# cap, ARGV[3+m+2i] ttl in ms; ARGV[3+m+2n+1] '1' to leave a missing counter missing (it is re-initialized from
# the recorded spend, which includes this request once shipped). Returns {index_1, threshold_1, ..} for newly
# reached thresholds.
SETTLE_LUA = _DECIMAL + """
local give, actual, m = dec(ARGV[1]), dec(ARGV[2]), tonumber(ARGV[3])
local strict = ARGV[3 + m + 2 * #KEYS + 1] == '1'
local fields, out = {}, {}
for j = 1, m do fields[j] = 'fired:' .. ARGV[3 + j] end
for i = 1, #KEYS do
  local key = KEYS[i]
  local exists = redis.call('EXISTS', key) == 1
  if exists or (not strict and not is_zero(actual)) then
    local spent, reserved = load(key)
    spent, reserved = add(spent, actual), sub0(reserved, give)
    redis.call('HSET', key, 'spent', str(spent), 'reserved', str(reserved))
    if m > 0 then
      local cap, percent = dec(ARGV[3 + m + 2 * i - 1]), times(spent, 100)
      local fired = redis.call('HMGET', key, unpack(fields))
      for j = 1, m do
        local threshold = tonumber(ARGV[3 + j])
        if not fired[j] and not less(percent, times(cap, threshold)) then
          redis.call('HSET', key, fields[j], '1')
          out[#out + 1], out[#out + 2] = i - 1, threshold
        end
      end
    end
    redis.call('PEXPIRE', key, ARGV[3 + m + 2 * i])
  end
end
return out
"""

# Returns {spent_1, reserved_1, ..}; writes nothing.
STATE_LUA = _DECIMAL + """
local out = {}
for i = 1, #KEYS do
  local spent, reserved = load(KEYS[i])
  out[2 * i - 1], out[2 * i] = str(spent), str(reserved)
end
return out
"""


def _ttl_ms(counter: Counter) -> str:
    return str(max(1, math.ceil(counter.ttl * 1000)))


def _states(counters: Sequence[Counter], values: Sequence[Any]) -> tuple[CounterState, ...]:
    return tuple(CounterState(c, int(values[2 * i]), int(values[2 * i + 1])) for i, c in enumerate(counters))


class RedisBudgets(RedisBacked):
    subject = "budget"
    gate = "reservation"

    """Counters in Redis: exact across processes because each operation is one atomic ``EVALSHA``.

    Reads and writes only the counter hashes it is given, whose keys must share one ``{hash tag}`` on a Redis
    Cluster; costs one round trip per call (redis-py reloads a script after ``NOSCRIPT``). When Redis errors
    or cannot be reached, ``reserve`` fails closed (refused, no states, no ``refused_by``) or, with
    ``fail_open``, admits without states; ``initialize`` and ``settle`` log and swallow; ``state``, which
    serves views rather than the hot path, re-raises. Each failure adds to ``unavailable_count`` and a warning
    is logged at most once a minute. Build the client with ``steward.storage.redis_limiter.connect``.
    ``close`` closes the client, which this object owns from construction.
    """

    def __init__(self, redis: Redis, *, fail_open: bool = False) -> None:
        super().__init__(redis, fail_open=fail_open, logger=log)
        self._initialize = redis.register_script(INITIALIZE_LUA)
        self._reserve = redis.register_script(RESERVE_LUA)
        self._settle = redis.register_script(SETTLE_LUA)
        self._state = redis.register_script(STATE_LUA)

    async def initialize(self, counter: Counter, spent: int, reserved: int = 0) -> bool:
        """Set the starting spend (and reservations) of a counter that does not exist yet; False if it does or
        Redis fails."""
        check_amount("spent", spent)
        check_amount("reserved", reserved)
        try:
            created = await self._initialize(keys=[counter.key], args=[str(spent), _ttl_ms(counter), str(reserved)])
        except (RedisError, OSError) as exc:
            self._unavailable("initialization", exc)
            return False
        return int(created) == 1

    async def reserve(self, counters: Sequence[Counter], amount: int, *,
                      existing: bool = False) -> BudgetAdmission:
        """Add ``amount`` to every counter's reservations if each stays within its cap, or change nothing;
        with ``existing``, a counter that does not exist (Redis restarted empty) refuses as ``missing``."""
        check_amount("amount", amount)
        if not counters:
            return BudgetAdmission(True, (), None)
        args = [str(amount)]
        for counter in counters:
            args += (str(counter.cap), _ttl_ms(counter))
        args.append("1" if existing else "0")
        try:
            reply = await self._reserve(keys=[c.key for c in counters], args=args)
        except (RedisError, OSError) as exc:
            self._unavailable("reservation", exc)
            return BudgetAdmission(self.fail_open, (), None)
        if int(reply[0]) == 2:
            return BudgetAdmission(False, (), None, missing=counters[int(reply[1])])
        states = _states(counters, reply[2:])
        if int(reply[0]) == 1:
            return BudgetAdmission(True, states, None)
        return BudgetAdmission(False, states, counters[int(reply[1])])

    async def settle(self, counters: Sequence[Counter], reserved: int, actual: int,
                     thresholds: Sequence[int] = DEFAULT_THRESHOLDS, *, existing: bool = False) -> list[Crossing]:
        """Release ``reserved`` (never below zero), add ``actual`` to spend; report thresholds newly reached.
        With ``existing``, a missing counter stays missing (see SETTLE_LUA).

        A failure is logged and swallowed, and reports no crossings.
        """
        check_amount("reserved", reserved)
        check_amount("actual", actual)
        levels = check_thresholds(thresholds)
        if not counters:
            return []
        args = [str(reserved), str(actual), str(len(levels)), *map(str, levels)]
        for counter in counters:
            args += (str(counter.cap), _ttl_ms(counter))
        args.append("1" if existing else "0")
        try:
            reply = await self._settle(keys=[c.key for c in counters], args=args)
        except (RedisError, OSError) as exc:
            self._unavailable("settlement", exc)
            return []
        return [Crossing(counters[int(reply[i])], int(reply[i + 1])) for i in range(0, len(reply), 2)]

    async def state(self, counters: Sequence[Counter]) -> list[CounterState]:
        """Each counter's spend and reservations, read atomically; a missing counter reads as zero."""
        if not counters:
            return []
        try:
            reply = await self._state(keys=[c.key for c in counters], args=[])
        except (RedisError, OSError) as exc:
            self._unavailable("read", exc)
            raise
        return list(_states(counters, reply))


