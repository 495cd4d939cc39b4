"""The simulated prompt cache: which prompt prefixes were seen, and the cache usage they earn.

Like the real one it is keyed by the exact prefix (tools, system, messages) plus model and API
key, looks for earlier entries up to 20 blocks before each breakpoint, refreshes an entry's ttl on
every read, and forgets least recently used entries beyond a bound. It holds hashes, never prompts.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from steward.simulator.tokens import BASE_TOKENS, PromptTokens, Segment

LOOKBACK_BLOCKS = 20
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


@dataclass(slots=True, frozen=True)
class CacheUsage:
    """Cache fields of ``usage`` for one request."""

    read: int = 0
    created_5m: int = 0
    created_1h: int = 0

    @property
    def created(self) -> int:
        return self.created_5m + self.created_1h


NO_CACHE = CacheUsage()


@dataclass(slots=True)
class _Entry:
    expires_at: float
    ttl: float


class PromptCache:
    """Prefix hashes with expiry, bounded in size (LRU). Not thread-safe: one event loop owns it."""

    __slots__ = ("_clock", "_entries", "_max_entries", "_min_tokens")

    def __init__(self, min_tokens: int, max_entries: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._min_tokens = min_tokens
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, namespace: str, prompt: PromptTokens) -> CacheUsage:
        """Look up and record the prompt's cache breakpoints; the usage split this request earns."""
        if not prompt.marked:
            return NO_CACHE
        segments = prompt.segments
        breakpoints = [i for i, s in enumerate(segments) if s.ttl is not None]
        last = breakpoints[-1]
        digests = _prefix_digests(namespace, segments, last)
        cumulative = _cumulative(segments, last)
        now = self._clock()
        hit = self._longest_hit(digests, breakpoints, now)
        read = cumulative[hit] if hit >= 0 else 0
        if cumulative[last] < self._min_tokens or cumulative[last] <= read:
            return CacheUsage(read=read)
        for index in breakpoints:
            if cumulative[index] >= self._min_tokens and cumulative[index] > read:
                self._store(digests[index], TTL_SECONDS[str(segments[index].ttl)], now)
        one_hour = [i for i in breakpoints if segments[i].ttl == "1h"]
        created_1h = max(0, cumulative[one_hour[-1]] - read) if one_hour else 0
        return CacheUsage(read=read, created_5m=cumulative[last] - read - created_1h, created_1h=created_1h)

    def clear(self) -> None:
        self._entries.clear()

    def _longest_hit(self, digests: list[bytes], breakpoints: list[int], now: float) -> int:
        for point in reversed(breakpoints):
            for index in range(point, max(-1, point - LOOKBACK_BLOCKS), -1):
                entry = self._entries.get(digests[index])
                if entry is None:
                    continue
                if entry.expires_at <= now:
                    del self._entries[digests[index]]
                    continue
                entry.expires_at = now + entry.ttl
                self._entries.move_to_end(digests[index])
                return index
        return -1

    def _store(self, digest: bytes, ttl: float, now: float) -> None:
        entry = self._entries.get(digest)
        if entry is not None:
            entry.ttl = max(entry.ttl, ttl)
            entry.expires_at = max(entry.expires_at, now + ttl)
            self._entries.move_to_end(digest)
            return
        self._entries[digest] = _Entry(now + ttl, ttl)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


def _prefix_digests(namespace: str, segments: tuple[Segment, ...], last: int) -> list[bytes]:
    hasher = hashlib.blake2b(namespace.encode(), digest_size=16)
    digests: list[bytes] = []
    for segment in segments[: last + 1]:
        hasher.update(orjson.dumps(_without_marker(segment.payload), option=orjson.OPT_SORT_KEYS))
        digests.append(hasher.copy().digest())
    return digests


def _without_marker(payload: Any) -> Any:
    # A breakpoint moving between requests must not change the prefix it marks.
    tag, *rest = payload
    if rest and isinstance(rest[0], dict) and "cache_control" in rest[0]:
        return (tag, {k: v for k, v in rest[0].items() if k != "cache_control"})
    return payload


def _cumulative(segments: tuple[Segment, ...], last: int) -> list[int]:
    total = BASE_TOKENS
    sums: list[int] = []
    for segment in segments[: last + 1]:
        total += segment.tokens
        sums.append(total)
    return sums
