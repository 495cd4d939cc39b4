"""``RateLimitedClient`` and ``AsyncRateLimitedClient``: the official ``anthropic`` client, paced and retried.

Owns client-side admission (local requests and tokens per minute, plus the server's ``anthropic-ratelimit-*``
state), ``retry-after`` and backoff. It must not talk to anything but the wrapped client. Unlike the Admin API
client it imports ``steward.governance`` (pure: no I/O, no settings) for the gateway's own token estimate.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import anthropic
from anthropic.types import Message, MessageTokensCount

from steward.governance.tokens import estimate_input_tokens
from steward.governance.usage import Usage, usage_from_dict
from steward.sdk.tracker import UsageTracker

__all__ = ["AsyncRateLimitedClient", "RateLimitedClient"]

C = TypeVar("C", anthropic.Anthropic, anthropic.AsyncAnthropic)
_MAX_RETRY_AFTER = 60.0  # like the official SDK, a longer retry-after is not waited for: the error is raised


class _Bucket:
    """A continuously refilled bucket that may go into debt: a taker waits until its debt is paid (FIFO)."""

    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, capacity: float, rate: float, level: float, now: float) -> None:
        self.capacity, self.rate, self.level, self.stamp = capacity, rate, level, now

    def take(self, amount: float, now: float) -> float:
        """Deduct ``amount`` (at most the capacity) and return the seconds until the level is back to zero."""
        self.give(-min(amount, self.capacity), now)
        return 0.0 if self.level >= 0 else -self.level / self.rate

    def give(self, amount: float, now: float) -> None:
        """Refill up to ``now``, then add ``amount`` (negative to charge more), never above capacity."""
        refilled = min(self.capacity, self.level + max(0.0, now - self.stamp) * self.rate)
        self.level, self.stamp = min(self.capacity, refilled + amount), max(self.stamp, now)


class _Governor:
    """What both clients share: admission, settlement, the server's limits, retry rules and the tracker.

    One lock guards the buckets and is never held across a wait, so threads and tasks may share one client."""

    def __init__(self, *, requests_per_minute: int | None, tokens_per_minute: int | None, request_burst: int,
                 max_retries: int, initial_backoff: float, max_backoff: float, tracker: UsageTracker | None,
                 tags: Mapping[str, str] | None) -> None:
        if min(requests_per_minute or 1, tokens_per_minute or 1, request_burst) < 1 or max_retries < 0 \
                or not 0 <= initial_backoff <= max_backoff:
            raise ValueError("need limits >= 1, max_retries >= 0 and 0 <= initial_backoff <= max_backoff")
        now = time.monotonic()
        # Requests are spaced evenly (Anthropic may enforce 60 RPM as one per second); tokens may use the whole
        # minute's budget at once, since one request can legitimately need a large part of it.
        self._local: dict[str, _Bucket] = {}
        if requests_per_minute:
            self._local["requests"] = _Bucket(request_burst, requests_per_minute / 60, request_burst, now)
        if tokens_per_minute:
            self._local["tokens"] = _Bucket(tokens_per_minute, tokens_per_minute / 60, tokens_per_minute, now)
        self._server: dict[str, _Bucket] = {}
        self._not_before = 0.0
        self._lock = threading.Lock()
        self.max_retries, self.initial_backoff, self.max_backoff = max_retries, initial_backoff, max_backoff
        self.tracker, self.tags = tracker, dict(tags or {})

    def admit(self, body: Mapping[str, Any]) -> tuple[int, float]:
        """Take one request and the estimated tokens; return the tokens taken and the seconds to wait first."""
        if body.get("stream"):
            raise TypeError("stream=True is not supported; stream with .raw and record the final message")
        estimate, max_tokens = estimate_input_tokens(body), body.get("max_tokens")
        output = max_tokens if isinstance(max_tokens, int) else 0
        needs = {"requests": 1, "input-tokens": estimate, "output-tokens": output, "tokens": estimate + output}
        with self._lock:
            now = time.monotonic()
            wait = max(0.0, self._not_before - now)
            for buckets in (self._local, self._server):
                for kind, bucket in buckets.items():
                    wait = max(wait, bucket.take(needs[kind], now))
        tokens = self._local.get("tokens")
        return (min(needs["tokens"], int(tokens.capacity)) if tokens else 0), wait

    def settle(self, taken: int, usage: Usage | None, *, sent: bool = True) -> None:
        """Return what the attempt did not use (all its tokens when it failed, its request if never sent)."""
        used = 0 if usage is None else usage.prompt_tokens - usage.cache_read + usage.output_tokens
        with self._lock:
            now = time.monotonic()
            if "tokens" in self._local:
                self._local["tokens"].give(taken - used, now)
            if "requests" in self._local and not sent:
                self._local["requests"].give(1, now)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Mirror the server's buckets from a response's ``anthropic-ratelimit-*-{limit,remaining,reset}``."""
        now, wall = time.monotonic(), time.time()
        mirrored: dict[str, _Bucket] = {}
        for kind in ("requests", "input-tokens", "output-tokens", "tokens"):
            limit, remaining = (_number(headers.get(f"anthropic-ratelimit-{kind}-{f}")) for f in ("limit", "remaining"))
            reset = _instant(headers.get(f"anthropic-ratelimit-{kind}-reset"))
            if limit is not None and remaining is not None and reset is not None and remaining < limit and reset > wall:
                # The reset is when the bucket is full again, so it refills (limit - remaining) by then.
                mirrored[kind] = _Bucket(limit, (limit - remaining) / (reset - wall), remaining, now)
        with self._lock:
            self._server = mirrored

    def delay(self, exc: BaseException, attempt: int) -> float | None:
        """Seconds before retrying after ``exc``, or None to raise it: 429, 5xx (529 included) and lost
        connections are retried ``max_retries`` times; other 4xx never; ``x-should-retry: false`` is obeyed."""
        if attempt >= self.max_retries or not isinstance(exc, anthropic.APIError):
            return None
        if isinstance(exc, anthropic.APIStatusError):
            status, headers = exc.status_code, exc.response.headers
            if (status != 429 and status < 500) or headers.get("x-should-retry") == "false":
                return None
            asked = _retry_after(headers)
            if asked is not None:
                if asked > _MAX_RETRY_AFTER:
                    return None
                if status == 429:  # the limit is shared, so every caller of this client holds back
                    with self._lock:
                        self._not_before = max(self._not_before, time.monotonic() + asked)
                return asked
        elif not isinstance(exc, anthropic.APIConnectionError):
            return None
        ceiling = min(self.max_backoff, self.initial_backoff * 2.0**attempt)
        return ceiling * (1 - 0.25 * random.random())

    def finish(self, taken: int, headers: Mapping[str, str], message: object) -> Message:
        """Settle with the real usage, learn the server's limits, record the response, return the message."""
        if not isinstance(message, Message):
            raise TypeError(f"expected a Message, got {type(message).__name__}")
        self.settle(taken, usage_from_dict(message.usage.model_dump()))
        self.observe(headers)
        if self.tracker is not None:
            self.tracker.record(message, **self.tags)
        return message


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _instant(value: str | None) -> float | None:
    """An RFC 3339 time as epoch seconds. Whole seconds are truncated, so the true instant may be 1 s later."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() + (1.0 if parsed.microsecond == 0 else 0.0) if parsed.tzinfo else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP date)."""
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return max(0.0, ms / 1000)
    raw = headers.get("retry-after")
    seconds = _number(raw)
    if seconds is None and raw:
        try:
            seconds = email.utils.parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return None if seconds is None else max(0.0, seconds)


class _Messages:
    def __init__(self, governor: _Governor, client: anthropic.Anthropic) -> None:
        self._governor, self._client = governor, client

    def create(self, **kwargs: Any) -> Message:
        """``messages.create`` after admission, retried as ``_Governor.delay`` says, then tracked."""
        governor, attempt = self._governor, 0
        while True:
            taken, wait = governor.admit(kwargs)
            try:
                time.sleep(wait)
                raw = self._client.messages.with_raw_response.create(**kwargs)
            except BaseException as exc:  # an API error, or interrupted or refused by the SDK before sending
                governor.settle(taken, None, sent=isinstance(exc, anthropic.APIError))
                if (delay := governor.delay(exc, attempt)) is None:
                    raise
            else:
                return governor.finish(taken, raw.headers, raw.parse())
            attempt += 1
            time.sleep(delay)

    def count_tokens(self, **kwargs: Any) -> MessageTokensCount:
        """Passed straight through: not limited locally, not retried."""
        return self._client.messages.count_tokens(**kwargs)


class _AsyncMessages:
    def __init__(self, governor: _Governor, client: anthropic.AsyncAnthropic) -> None:
        self._governor, self._client = governor, client

    async def create(self, **kwargs: Any) -> Message:
        """``messages.create`` after admission, retried as ``_Governor.delay`` says, then tracked."""
        governor, attempt = self._governor, 0
        while True:
            taken, wait = governor.admit(kwargs)
            try:
                await asyncio.sleep(wait)
                raw = await self._client.messages.with_raw_response.create(**kwargs)
            except BaseException as exc:  # an API error, or cancelled or refused by the SDK before sending
                governor.settle(taken, None, sent=isinstance(exc, anthropic.APIError))
                if (delay := governor.delay(exc, attempt)) is None:
                    raise
            else:
                return governor.finish(taken, raw.headers, await raw.parse())
            attempt += 1
            await asyncio.sleep(delay)

    async def count_tokens(self, **kwargs: Any) -> MessageTokensCount:
        """Passed straight through: not limited locally, not retried."""
        return await self._client.messages.count_tokens(**kwargs)


class _Wrapper(Generic[C]):
    """The constructor both clients share. Pass a client (it is copied with ``max_retries=0``, so retries are
    never doubled, and stays yours to close) or the arguments to build one; ``raw`` is the wrapped client."""

    def __init__(self, client: C | None = None, *, requests_per_minute: int | None = None,
                 tokens_per_minute: int | None = None, request_burst: int = 1, max_retries: int = 4,
                 initial_backoff: float = 0.5, max_backoff: float = 30.0, tracker: UsageTracker | None = None,
                 tags: Mapping[str, str] | None = None, **client_kwargs: Any) -> None:
        if client is not None and client_kwargs:
            raise TypeError("pass either a client or the arguments to build one, not both")
        self._owned = client is None
        self.raw: C = self._build(max_retries=0, **client_kwargs) if client is None \
            else client.with_options(max_retries=0)
        self._governor = _Governor(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                                   request_burst=request_burst, max_retries=max_retries,
                                   initial_backoff=initial_backoff, max_backoff=max_backoff, tracker=tracker,
                                   tags=tags)

    def _build(self, **kwargs: Any) -> C:
        raise NotImplementedError


class RateLimitedClient(_Wrapper[anthropic.Anthropic]):
    """``anthropic.Anthropic`` behind local RPM/TPM limits, the server's rate-limit headers and retries.

    Thread-safe: every thread using one instance shares its limits."""

    def _build(self, **kwargs: Any) -> anthropic.Anthropic:
        return anthropic.Anthropic(**kwargs)

    @property
    def messages(self) -> _Messages:
        """``create`` (limited, retried, tracked) and ``count_tokens`` (passed through)."""
        return _Messages(self._governor, self.raw)

    def close(self) -> None:
        """Close the wrapped client if this object built it."""
        if self._owned:
            self.raw.close()

    def __enter__(self) -> RateLimitedClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRateLimitedClient(_Wrapper[anthropic.AsyncAnthropic]):
    """``anthropic.AsyncAnthropic`` with the same limits, headers and retries; task-safe (and thread-safe)."""

    def _build(self, **kwargs: Any) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(**kwargs)

    @property
    def messages(self) -> _AsyncMessages:
        """``create`` (limited, retried, tracked) and ``count_tokens`` (passed through)."""
        return _AsyncMessages(self._governor, self.raw)

    async def close(self) -> None:
        """Close the wrapped client if this object built it."""
        if self._owned:
            await self.raw.close()

    async def __aenter__(self) -> AsyncRateLimitedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
