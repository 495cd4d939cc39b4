"""Spend counters in Redis, for several processes or instances: one atomic Lua script per operation.

Owns the Redis layout (one hash per counter: ``spent`` and ``reserved`` as decimal integer strings, the
reservations by where they sit (``b`` held until settled, ``l:<expiry ms>`` leased: their sum is part of
``reserved``), the counter's ``born`` (ms) and ``by`` (the journal it was started from), and a
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

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from steward.governance.budgets import (
    DEFAULT_THRESHOLDS,
    HELD,
    NO_ORIGIN,
    BudgetAdmission,
    Counter,
    CounterState,
    Crossing,
    Lease,
    Origin,
    check_amount,
    check_thresholds,
)
from steward.storage.redis_client import OPERATION_TTL_MS, RedisBacked, once, operation_key, run_once

__all__ = ["RedisBudgets"]

log = logging.getLogger("steward.budgets")
# A settlement Redis did not answer is sent again after these pauses (about 25 s in all: within the operation
# id's 30 s memory, so one that did run and only lost its reply still applies once). A Redis stall of a few
# seconds used to drop settlements: their reservations stayed held until the lease ended and their cost was
# never added, so the counter fell behind the ledger (the adversary, session 8: 32 of 64 requests).
SETTLE_RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0)
SETTLE_RETRY_SECONDS = 25.0  # no attempt starts later than this after the first (each may take ~2 s)


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

# KEYS[1]; ARGV[1] spent, ARGV[2] ttl in ms, ARGV[3] reserved (held until settled: field 'b'), ARGV[4] birth in
# ms, ARGV[5] origin. Returns 1 when it created the counter, 0 when it existed.
INITIALIZE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'spent', ARGV[1], 'reserved', ARGV[3], 'born', ARGV[4], 'by', ARGV[5])
if ARGV[3] ~= '0' then redis.call('HSET', KEYS[1], 'b', ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# Dropping the reservations whose lease expired: fields 'l:<expiry ms>' (their sum is part of 'reserved').
_PURGE = """
local function purge(key, reserved, now_ms)
  local changed = false
  for _, name in ipairs(redis.call('HKEYS', key)) do
    if string.sub(name, 1, 2) == 'l:' and tonumber(string.sub(name, 3)) <= now_ms then
      reserved = sub0(reserved, dec(redis.call('HGET', key, name)))
      redis.call('HDEL', key, name)
      changed = true
    end
  end
  if changed then redis.call('HSET', key, 'reserved', str(reserved)) end
  return reserved
end
"""

# ARGV[1] amount; counter i: ARGV[2i] cap, ARGV[2i+1] ttl in ms; ARGV[2n+2] '1' when every counter must exist;
# ARGV[2n+3] the field the reservation goes to ('b' or 'l:<expiry ms>'); ARGV[2n+4] now in ms (leases expire).
# Returns {1, -1, spent_1, reserved_1, .., born_1, ..} with the states after the reservation, {0, refused index
# (0-based), spent_1, reserved_1, .., born_1, ..} as found, or {2, missing index} when a counter that must exist
# does not (Redis lost it).
RESERVE_LUA = _DECIMAL + _PURGE + """
local amount, n = dec(ARGV[1]), #KEYS
local strict, field, now_ms = ARGV[2 * n + 2] == '1', ARGV[2 * n + 3], tonumber(ARGV[2 * n + 4])
local spent, reserved, working, born = {}, {}, {}, {}
for i = 1, n do
  local key = KEYS[i]
  if strict and redis.call('EXISTS', key) == 0 then return {2, i - 1} end
  if spent[key] == nil then
    spent[key], reserved[key] = load(key)
    reserved[key] = purge(key, reserved[key], now_ms)
    working[key] = reserved[key]
    born[key] = redis.call('HGET', key, 'born') or '0'
  end
end
local function reply(head, index, held)
  local out = {head, index}
  for j = 1, n do out[2 * j + 1], out[2 * j + 2] = str(spent[KEYS[j]]), str(held[KEYS[j]]) end
  for j = 1, n do out[2 * n + 2 + j] = born[KEYS[j]] end
  return out
end
for i = 1, n do
  local key = KEYS[i]
  if less(dec(ARGV[2 * i]), add(add(spent[key], working[key]), amount)) then return reply(0, i - 1, reserved) end
  working[key] = add(working[key], amount)
end
if not is_zero(amount) then
  local done = {}
  for i = 1, n do
    local key = KEYS[i]
    if not done[key] then
      done[key] = true
      local held = dec(redis.call('HGET', key, field))
      redis.call('HSET', key, 'spent', str(spent[key]), 'reserved', str(working[key]),
                 field, str(add(held, sub0(working[key], reserved[key]))))
    end
    redis.call('PEXPIRE', key, ARGV[2 * i + 1])
  end
end
return reply(1, -1, working)
"""

# ARGV[1] reserved, ARGV[2] actual, ARGV[3] m, ARGV[4 .. 3+m] thresholds (sorted); counter i: ARGV[3+m+2i-1]
# cap, ARGV[3+m+2i] ttl in ms; then (k = 3+m+2n) ARGV[k+1] '1' to leave a missing counter missing (it is started
# again from recorded spend); ARGV[k+2] the reservation's field ('' for one from before leases); ARGV[k+3] the
# settler's origin and ARGV[k+4] when its record was written (ms); ARGV[k+4+i] counter i's birth when reserved.
# Releases from the field (nothing from a counter born since, except 'b'), adds actual unless the counter was
# started from the settler's own journal after the record was written (governance.budgets.counts_again).
# Returns {index_1, threshold_1, ..} for newly reached thresholds.
SETTLE_LUA = _DECIMAL + """
local give, actual, m, n = dec(ARGV[1]), dec(ARGV[2]), tonumber(ARGV[3]), #KEYS
local k = 3 + m + 2 * n
local strict, field, origin, written = ARGV[k + 1] == '1', ARGV[k + 2], ARGV[k + 3], tonumber(ARGV[k + 4])
local fields, out = {}, {}
for j = 1, m do fields[j] = 'fired:' .. ARGV[3 + j] end
for i = 1, n do
  local key = KEYS[i]
  local exists = redis.call('EXISTS', key) == 1
  if exists or (not strict and not is_zero(actual)) then
    local spent, reserved = load(key)
    local born = redis.call('HGET', key, 'born') or '0'
    if not (origin ~= '' and origin == redis.call('HGET', key, 'by') and written < tonumber(born)) then
      spent = add(spent, actual)
    end
    if field == '' then
      reserved = sub0(reserved, give)
    elseif field == 'b' or ARGV[k + 4 + i] == born then
      local held = dec(redis.call('HGET', key, field))
      local taken = give
      if less(held, give) then taken = held end
      reserved = sub0(reserved, taken)
      held = sub0(held, taken)
      if is_zero(held) then redis.call('HDEL', key, field) else redis.call('HSET', key, field, str(held)) end
    end
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
    consequences = {"settlement": "the settlement is tried again for up to 25 s",
                    "initialization": "the counter starts on a later request", "read": "the view fails"}

    """Counters in Redis: exact across processes because each operation is one atomic ``EVALSHA``.

    Reads and writes only the counter hashes it is given, whose keys must share one ``{hash tag}`` on a Redis
    Cluster; costs one round trip per call (redis-py reloads a script after ``NOSCRIPT``). When Redis errors
    or cannot be reached, ``reserve`` fails closed (refused, no states, no ``refused_by``) or, with
    ``fail_open``, admits without states; ``initialize`` and ``settle`` log and swallow; ``state``, which
    serves views rather than the hot path, re-raises. Each failure adds to ``unavailable_count`` and a warning
    is logged at most once a minute. Build the client with ``steward.storage.redis_limiter.connect``.
    ``close`` closes the client, which this object owns from construction.
    """

    def __init__(self, redis: Redis, *, fail_open: bool = False,
                 settle_retry_seconds: float = SETTLE_RETRY_SECONDS) -> None:
        super().__init__(redis, fail_open=fail_open, logger=log)
        assert settle_retry_seconds + 3 < OPERATION_TTL_MS / 1000
        self._settle_retry_seconds = settle_retry_seconds
        self._initialize = redis.register_script(INITIALIZE_LUA)
        self._reserve = redis.register_script(once(RESERVE_LUA))
        self._settle = redis.register_script(once(SETTLE_LUA))
        self._state = redis.register_script(STATE_LUA)

    async def initialize(self, counter: Counter, spent: int, reserved: int = 0, *, born_ms: int = 0,
                         by: str = "") -> bool:
        """Set the starting spend (and reservations held until settled), birth and origin of a counter that does
        not exist yet; False if it does or Redis fails."""
        check_amount("spent", spent)
        check_amount("reserved", reserved)
        try:
            created = await self._initialize(keys=[counter.key], args=[str(spent), _ttl_ms(counter), str(reserved),
                                                                       str(born_ms), by])
        except (RedisError, OSError) as exc:
            self._unavailable("initialization", exc)
            return False
        return int(created) == 1

    async def reserve(self, counters: Sequence[Counter], amount: int, *, existing: bool = False,
                      field: str = HELD, now_ms: int = 0) -> BudgetAdmission:
        """Add ``amount`` to every counter's reservations (in ``field``) if each stays within its cap, or change
        nothing; reservations whose lease expired by ``now_ms`` are dropped first. With ``existing``, a counter
        that does not exist (Redis restarted empty) refuses as ``missing``."""
        check_amount("amount", amount)
        if not counters:
            return BudgetAdmission(True, (), None)
        args = [str(amount)]
        for counter in counters:
            args += (str(counter.cap), _ttl_ms(counter))
        args += ("1" if existing else "0", field, str(now_ms))
        try:
            reply = await run_once(self._reserve, [c.key for c in counters], args, self._pipeline)
        except (RedisError, OSError) as exc:
            self._unavailable("reservation", exc)
            return BudgetAdmission(self.fail_open, (), None)
        if int(reply[0]) == 2:
            return BudgetAdmission(False, (), None, missing=counters[int(reply[1])])
        states = _states(counters, reply[2:])
        if int(reply[0]) == 1:
            born = tuple(int(b) for b in reply[2 + 2 * len(counters):])
            return BudgetAdmission(True, states, None, lease=Lease(field, born) if amount else None)
        return BudgetAdmission(False, states, counters[int(reply[1])])

    async def settle(self, counters: Sequence[Counter], reserved: int, actual: int,
                     thresholds: Sequence[int] = DEFAULT_THRESHOLDS, *, existing: bool = False,
                     lease: Lease | None = None, origin: Origin = NO_ORIGIN) -> list[Crossing]:
        """Release ``reserved`` from where ``lease`` put it, add ``actual`` unless the counter's start counted
        it; report thresholds newly reached (``InProcessBudgets.settle``). With ``existing``, a missing counter
        stays missing (see SETTLE_LUA).

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
        args += ("1" if existing else "0", lease.field if lease else "", origin.by, str(origin.written_ms))
        born = lease.born if lease else ()
        args += (str(born[i]) if i < len(born) else "" for i in range(len(counters)))
        keys = [c.key for c in counters]
        operation = operation_key(keys[0])  # one id for every attempt: a settlement applies once
        deadline = time.monotonic() + self._settle_retry_seconds
        for attempt, delay in enumerate((*SETTLE_RETRY_DELAYS, None), start=1):
            try:
                reply = await run_once(self._settle, keys, args, self._pipeline, operation)
                break
            except (RedisError, OSError) as exc:
                self._unavailable("settlement", exc)
                if delay is None or time.monotonic() + delay > deadline:
                    log.error("spend settlement lost after %d attempts (Redis unavailable): counters %s keep %d "
                              "pico-USD reserved until their lease ends and miss %d pico-USD of spend; "
                              "`steward spend-limits effective` shows the recorded spend", attempt, keys, reserved,
                              actual)
                    return []
                await asyncio.sleep(delay)
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


