"""Sampling of unauthenticated refusals per source address, so a client without a key cannot grow the audit trail
at line rate.

Per address, the first ``per_window`` refusals of a 60 s window are audited one by one; the rest are only counted,
and when the window closes (or its entry is evicted) one summary audit event carries the count, so the trail still
shows the attack. The table holds at most ``max_addresses`` windows; the oldest is closed first. Windows start at
an address's first refusal and are kept in that order, so closing the expired ones looks only at the front.
Pure and synchronous: no I/O, a dict operation per refusal.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from steward.dataplane.records import audit_event

WINDOW = 60.0
PER_WINDOW = 20
MAX_ADDRESSES = 10_000


@dataclass(slots=True)
class _Window:
    start: float
    audited: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)


class UnauthenticatedSampler:
    """Decides which unauthenticated refusals are audited individually; builds the per-window summaries."""

    def __init__(self, per_window: int = PER_WINDOW, max_addresses: int = MAX_ADDRESSES,
                 window: float = WINDOW) -> None:
        self._per_window = per_window
        self._max = max_addresses
        self._window = window
        self._table: OrderedDict[str, _Window] = OrderedDict()
        self._closed: list[dict[str, Any]] = []

    def __len__(self) -> int:
        """How many addresses have an open window (at most ``max_addresses``)."""
        return len(self._table)

    def admit(self, address: str, reason: str, now: float) -> bool:
        """True: audit this refusal individually; False: it is counted into its address's summary."""
        found = self._table.get(address)
        if found is not None and now - found.start >= self._window:
            self._close(address, self._table.pop(address))
            found = None
        if found is None:
            while len(self._table) >= self._max:
                self._close(*self._table.popitem(last=False))
            found = self._table[address] = _Window(now)
        if found.audited < self._per_window:
            found.audited += 1
            return True
        found.suppressed[reason] += 1
        return False

    def summaries(self, now: float) -> list[dict[str, Any]]:
        """The summary audit events of every window that closed by ``now`` (and of evicted ones)."""
        while self._table:
            address, first = next(iter(self._table.items()))
            if now - first.start < self._window:
                break
            self._close(address, self._table.pop(address))
        out, self._closed = self._closed, []
        return out

    def _close(self, address: str, window: _Window) -> None:
        count = sum(window.suppressed.values())
        if count:
            self._closed.append(summary_event(address, window.start, window.start + self._window, count,
                                              window.audited, dict(window.suppressed)))


def summary_event(address: str, start: float, end: float, count: int, audited: int,
                  reasons: dict[str, int]) -> dict[str, Any]:
    """One audit event standing for ``count`` unauthenticated refusals from one address in one window."""
    def at(value: float) -> str:
        return datetime.fromtimestamp(value, UTC).isoformat()
    return audit_event(
        "auth.refused_summary", created_at=at(start), status=401, decision="refused",
        reason=f"{count} more unauthenticated requests from {address} (beyond the {audited} audited one by one)",
        data={"client": address, "count": count, "audited": audited, "reasons": reasons,
              "window_start": at(start), "window_end": at(end)})


class FailedAuthLimit:
    """Requests without a valid key, limited per source address: up to ``per_minute`` per address in a 60 s window
    (from its first one) answer 401; beyond that they answer 429 ``rate_limit_error`` with ``retry-after`` (the
    window's end) and ``connection: close``, so a client guessing or flooding without a key must open a new
    connection for each try. A request with a valid key is never counted nor refused here, so clients behind one
    proxy address are not locked out by another's mistakes. The table holds at most ``max_addresses`` windows
    (the oldest goes first). Pure and synchronous, a dict operation per refusal."""

    def __init__(self, per_minute: int, max_addresses: int = MAX_ADDRESSES, window: float = WINDOW) -> None:
        self._limit = per_minute
        self._max = max_addresses
        self._window = window
        self._table: OrderedDict[str, list[float]] = OrderedDict()  # address -> [window start, count]

    def blocked(self, address: str, now: float) -> bool:
        """Whether ``address`` is over the limit now (counts nothing)."""
        found = self._table.get(address)
        return self._limit > 0 and found is not None and now - found[0] < self._window and found[1] >= self._limit

    def over(self, address: str, now: float) -> float | None:
        """Count one refused request; the seconds to wait when it is over the limit, else None."""
        if self._limit <= 0:
            return None
        found = self._table.get(address)
        if found is None or now - found[0] >= self._window:
            if found is not None:
                del self._table[address]
            while len(self._table) >= self._max:
                self._table.popitem(last=False)
            found = self._table[address] = [now, 0.0]
        found[1] += 1
        if found[1] <= self._limit:
            return None
        return max(1.0, found[0] + self._window - now)
