"""Spend counters for hard caps: the values, the admission and threshold rules, and the in-process backend.

Owns the semantics every ``Budgets`` backend shares (all-or-nothing reservation that never admits past a
cap, settlement that moves a reservation to real spend, each alert threshold reported once per counter key);
``steward.storage.redis_budgets`` mirrors them in Lua with exact integer arithmetic. Amounts are integer
pico-dollars. It must not build keys, choose periods or price requests: callers pass whole ``Counter`` values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DEFAULT_THRESHOLDS",
    "HELD",
    "MAX_PICOUSD",
    "MAX_THRESHOLD",
    "NO_ORIGIN",
    "BudgetAdmission",
    "Budgets",
    "Counter",
    "CounterState",
    "Crossing",
    "InProcessBudgets",
    "Lease",
    "Origin",
    "check_amount",
    "check_thresholds",
    "reached",
]

DEFAULT_THRESHOLDS = (50, 80, 95)
# Bounds that keep the Redis backend's two-limb decimal arithmetic exact (see redis_budgets): one billion
# dollars per cap or per amount, and thresholds up to ten times the cap. Far beyond any real budget.
MAX_PICOUSD = 10**21
MAX_THRESHOLD = 1_000
# How often (in seconds of the injected clock) the in-process backend forgets expired counters.
SWEEP_INTERVAL = 60.0


def check_amount(name: str, value: int) -> int:
    """``value`` if it is an integer amount in [0, MAX_PICOUSD]; a ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PICOUSD:
        raise ValueError(f"{name} must be an integer number of pico-USD in [0, {MAX_PICOUSD}], not {value!r}")
    return value


def check_thresholds(thresholds: Sequence[int]) -> tuple[int, ...]:
    """The thresholds sorted and without duplicates; each must be a percentage in [1, MAX_THRESHOLD]."""
    for t in thresholds:
        if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= MAX_THRESHOLD:
            raise ValueError(f"threshold {t!r} must be an integer percentage in [1, {MAX_THRESHOLD}]")
    return tuple(sorted(set(thresholds)))


def reached(spent: int, cap: int, threshold: int) -> bool:
    """Whether ``spent`` is at or past ``threshold`` percent of ``cap`` (exact integer comparison)."""
    return spent * 100 >= threshold * cap


@dataclass(slots=True, frozen=True)
class Counter:
    """One spend counter: a period's spend against a hard cap, in pico-USD."""

    key: str  # full storage key built by the caller; one request's keys share a {hash tag} for Redis Cluster
    cap: int
    ttl: float  # seconds the counter lives after its last write (period length plus a margin)

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a counter needs a key")
        if isinstance(self.cap, bool) or not isinstance(self.cap, int) or not 1 <= self.cap <= MAX_PICOUSD:
            raise ValueError(f"counter {self.key!r} needs an integer cap in [1, {MAX_PICOUSD}]")
        if not (self.ttl > 0 and math.isfinite(self.ttl)):
            raise ValueError(f"counter {self.key!r} needs a finite ttl > 0")


@dataclass(slots=True, frozen=True)
class CounterState:
    """A counter's settled spend and outstanding reservations."""

    counter: Counter
    spent: int
    reserved: int


HELD = "b"  # the field of reservations held until settled (batches: their hold is also stored with their row)


@dataclass(slots=True, frozen=True)
class Lease:
    """Where one reservation sits in its counters, so that settlement releases exactly it.

    ``field`` is ``"l:<ms>"``: a real-time request's reservation, which expires at that wall-clock millisecond
    (a holder killed mid-request cannot hold it longer), or ``HELD``: kept until settled. ``born`` is each
    counter's birth (ms; 0 for a counter from before births) when the reservation was made: a counter started
    again since (the store lost it) does not hold it, and settlement releases nothing from it."""

    field: str
    born: tuple[int, ...] = ()

    @staticmethod
    def expiring(now_ms: int, lease_ms: int, bucket_ms: int) -> str:
        """The field of a reservation made at ``now_ms``: expiries rounded up to ``bucket_ms``, so a counter
        holds a handful of fields whatever the traffic."""
        return f"l:{(now_ms + lease_ms) // bucket_ms * bucket_ms + bucket_ms}"


@dataclass(slots=True, frozen=True)
class Origin:
    """Who settles, and when its record was written: a counter started after that moment from the same
    journal (``by``) already counts it (``dataplane/spend_recovery.py``), so settlement does not add it again."""

    by: str = ""
    written_ms: int = 0


NO_ORIGIN = Origin()


@dataclass(slots=True, frozen=True)
class BudgetAdmission:
    """The answer to one reservation; ``states`` follow the counters' order.

    Admitted: the states after the reservation. Refused: the states as found, nothing written, and
    ``refused_by`` the first counter without room. A store that cannot answer gives no states and no
    ``refused_by`` (admitted or not by its policy).
    """

    admitted: bool
    states: tuple[CounterState, ...]
    refused_by: Counter | None
    missing: Counter | None = None  # asked for existing counters only, and this one is gone (store lost it)
    lease: Lease | None = None  # admitted with states: where the reservation sits


@dataclass(slots=True, frozen=True)
class Crossing:
    """``threshold`` percent of ``counter``'s cap reached, reported once in the life of the counter's key."""

    counter: Counter
    threshold: int


class Budgets(Protocol):
    """Where spend counters live. Reservation is atomic and all-or-nothing across one request's counters."""

    async def initialize(self, counter: Counter, spent: int, reserved: int = 0, *, born_ms: int = 0,
                         by: str = "") -> bool: ...

    async def reserve(self, counters: Sequence[Counter], amount: int, *, existing: bool = False,
                      field: str = HELD, now_ms: int = 0) -> BudgetAdmission: ...

    async def settle(self, counters: Sequence[Counter], reserved: int, actual: int,
                     thresholds: Sequence[int] = DEFAULT_THRESHOLDS, *, existing: bool = False,
                     lease: Lease | None = None, origin: Origin = NO_ORIGIN) -> list[Crossing]: ...

    async def state(self, counters: Sequence[Counter]) -> list[CounterState]: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Record:
    spent: int
    reserved: int  # the sum of ``fields``, plus what reservations without a lease (before leases) hold
    expires_at: float
    fired: set[int] = field(default_factory=set)
    born: int = 0
    by: str = ""
    fields: dict[str, int] = field(default_factory=dict)

    def purge(self, now_ms: int) -> None:
        """Drop the reservations whose lease has expired."""
        for name in [n for n in self.fields if n.startswith("l:") and int(n[2:]) <= now_ms]:
            self.reserved = max(0, self.reserved - self.fields.pop(name))

    def release(self, name: str | None, amount: int) -> None:
        """Give back ``amount`` from field ``name`` (None: a reservation from before leases)."""
        if name is None:
            self.reserved = max(0, self.reserved - amount)
            return
        taken = min(amount, self.fields.get(name, 0))
        if taken:
            self.fields[name] -= taken
            if not self.fields[name]:
                del self.fields[name]
            self.reserved = max(0, self.reserved - taken)


def counts_again(record_born: int, record_by: str, origin: Origin) -> bool:
    """Whether a settlement adds its spend: not when the counter was started, from the settler's own journal,
    after the record was written (the start counted it)."""
    return not (origin.by and origin.by == record_by and origin.written_ms < record_born)


class InProcessBudgets:
    """Counters in a dict, for one process. Exact: no method awaits, so operations never interleave.

    Reads and writes only its own dict; costs a few microseconds per call. A counter lives ``ttl`` seconds
    of ``clock`` after its last write, as a Redis key does; expired counters read as missing and are
    forgotten once a minute.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._next_sweep = -math.inf

    async def initialize(self, counter: Counter, spent: int, reserved: int = 0, *, born_ms: int = 0,
                         by: str = "") -> bool:
        """Set the starting spend (and reservations held until settled: batches' holds), birth and origin of a
        counter that does not exist yet; False (and no change) if it does."""
        check_amount("spent", spent)
        check_amount("reserved", reserved)
        now = self._now()
        if self._get(counter.key, now) is not None:
            return False
        self._records[counter.key] = _Record(spent, reserved, now + counter.ttl, born=born_ms, by=by,
                                             fields={HELD: reserved} if reserved else {})
        return True

    async def reserve(self, counters: Sequence[Counter], amount: int, *, existing: bool = False,
                      field: str = HELD, now_ms: int = 0) -> BudgetAdmission:
        """Add ``amount`` to every counter's reservations (in ``field``) if each stays within its cap, or change
        nothing; reservations whose lease expired by ``now_ms`` are dropped first. With ``existing``, a counter
        that does not exist refuses as ``missing``."""
        check_amount("amount", amount)
        if not counters:
            return BudgetAdmission(True, (), None)
        now = self._now()
        found = {c.key: self._get(c.key, now) for c in counters}
        if existing and (gone := next((c for c in counters if found[c.key] is None), None)) is not None:
            return BudgetAdmission(False, (), None, missing=gone)
        for record in found.values():
            if record is not None:
                record.purge(now_ms)
        current = {key: (r.spent, r.reserved) if r else (0, 0) for key, r in found.items()}
        working = {key: reserved for key, (_, reserved) in current.items()}
        for counter in counters:
            spent = current[counter.key][0]
            if spent + working[counter.key] + amount > counter.cap:
                states = tuple(CounterState(c, *current[c.key]) for c in counters)
                return BudgetAdmission(False, states, counter)
            working[counter.key] += amount
        states = tuple(CounterState(c, current[c.key][0], working[c.key]) for c in counters)
        if amount == 0:  # a zero amount only reads, in both backends
            return BudgetAdmission(True, states, None)
        born: list[int] = []
        for counter in counters:
            record = found[counter.key] or _Record(0, 0, 0.0)
            if record.reserved != working[counter.key]:  # once per counter, even if listed twice
                record.fields[field] = record.fields.get(field, 0) + working[counter.key] - record.reserved
            record.reserved = working[counter.key]
            record.expires_at = now + counter.ttl
            self._records[counter.key] = found[counter.key] = record
            born.append(record.born)
        return BudgetAdmission(True, states, None, lease=Lease(field, tuple(born)))

    async def settle(self, counters: Sequence[Counter], reserved: int, actual: int,
                     thresholds: Sequence[int] = DEFAULT_THRESHOLDS, *, existing: bool = False,
                     lease: Lease | None = None, origin: Origin = NO_ORIGIN) -> list[Crossing]:
        """Release ``reserved`` from where ``lease`` put it (never below zero; nothing from a counter born since,
        which does not hold it), add ``actual`` to spend unless the counter's start already counted it
        (``counts_again``); report thresholds newly reached. With ``existing``, a missing counter stays missing
        (it is started again from recorded spend)."""
        check_amount("reserved", reserved)
        check_amount("actual", actual)
        levels = check_thresholds(thresholds)
        now = self._now()
        crossings: list[Crossing] = []
        for i, counter in enumerate(counters):
            record = self._get(counter.key, now)
            if record is None:
                if actual == 0 or existing:
                    continue  # nothing to record, and nothing can be reached at zero spend
                record = self._records[counter.key] = _Record(0, 0, 0.0)
            if counts_again(record.born, record.by, origin):
                record.spent += actual
            if lease is None:
                record.release(None, reserved)
            elif lease.field == HELD or (i < len(lease.born) and lease.born[i] == record.born):
                record.release(lease.field, reserved)
            record.expires_at = now + counter.ttl
            for level in levels:
                if level not in record.fired and reached(record.spent, counter.cap, level):
                    record.fired.add(level)
                    crossings.append(Crossing(counter, level))
        return crossings

    async def state(self, counters: Sequence[Counter]) -> list[CounterState]:
        """Each counter's spend and reservations; a missing counter reads as zero. Writes nothing."""
        now = self._now()
        states = []
        for counter in counters:
            record = self._get(counter.key, now)
            states.append(CounterState(counter, record.spent, record.reserved) if record
                          else CounterState(counter, 0, 0))
        return states

    async def close(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return len(self._records)

    def _now(self) -> float:
        now = self._clock()
        if now >= self._next_sweep:
            self._records = {k: r for k, r in self._records.items() if r.expires_at > now}
            self._next_sweep = now + SWEEP_INTERVAL
        return now

    def _get(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and record.expires_at <= now:
            del self._records[key]
            return None
        return record
