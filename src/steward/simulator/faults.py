"""Injected failures and latency (``x-sim-*`` headers or ``SimulatorConfig.fault``), and rate-limit headers.

Faults: ``429`` (rate_limit_error with ``retry-after``, 0 remaining), ``529`` (overloaded_error),
``500`` (api_error), ``slow`` (extra delay, ``x-sim-delay-ms``), ``cut`` (the response stops midway
and the connection closes). ``x-sim-ttft-ms`` overrides the time to first byte per request.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from steward.errors import InvalidRequestError, OverloadedError, RateLimitError, StewardError
from steward.simulator.config import FAULTS, SimulatorConfig
from steward.simulator.responses import Headers

RATE_LIMIT_MESSAGE = (
    "This request would exceed the rate limit for your organization of {limit} requests per minute. "
    "For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers "
    "for current usage. Please reduce the rate at which you send requests, or contact sales to discuss "
    "your options for a rate limit increase.")


def _milliseconds(headers: dict[str, str], name: str, default: float) -> float:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise InvalidRequestError(f"{name}: expected a number of milliseconds, got {raw!r}") from None


def choose_fault(headers: dict[str, str], config: SimulatorConfig) -> str | None:
    """The fault for this request: the ``x-sim-fault`` header, else the configured one."""
    fault = headers.get("x-sim-fault") or config.fault
    if fault is not None and fault not in FAULTS:
        raise InvalidRequestError(f"x-sim-fault: expected one of {sorted(FAULTS)}, got {fault!r}")
    return fault


def ttft_seconds(headers: dict[str, str], config: SimulatorConfig) -> float:
    """Delay before the first byte: ``x-sim-ttft-ms`` or ``config.ttft_ms``."""
    return _milliseconds(headers, "x-sim-ttft-ms", config.ttft_ms) / 1000


def slow_seconds(headers: dict[str, str], config: SimulatorConfig) -> float:
    """Extra delay of the ``slow`` fault: ``x-sim-delay-ms`` or ``config.slow_delay_ms``."""
    return _milliseconds(headers, "x-sim-delay-ms", config.slow_delay_ms) / 1000


class RateLimits:
    """The ``anthropic-ratelimit-*`` headers; ``reset`` is the next second, formatted once per second."""

    __slots__ = ("_config", "_reset", "_reset_second")

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._reset_second = -1
        self._reset = b""

    def _reset_at(self) -> bytes:
        second = int(time.time()) + 1
        if second != self._reset_second:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._reset_second, self._reset = second, stamp.encode()
        return self._reset

    def headers(self, input_tokens: int, max_tokens: int, *, exhausted: bool = False) -> Headers:
        """Limits, what remains after this request (input rounded to thousands), and the reset time."""
        config = self._config
        token_limit = config.ratelimit_input_tokens + config.ratelimit_output_tokens
        if exhausted:
            remaining = (0, 0, 0, 0)
        else:
            input_left = max(0, round((config.ratelimit_input_tokens - input_tokens) / 1000) * 1000)
            output_left = max(0, config.ratelimit_output_tokens - max_tokens)
            remaining = (config.ratelimit_requests - 1, input_left, output_left, input_left + output_left)
        limits = (config.ratelimit_requests, config.ratelimit_input_tokens, config.ratelimit_output_tokens,
                  token_limit)
        reset = self._reset_at()
        out: Headers = []
        for name, limit, left in zip(("requests", "input-tokens", "output-tokens", "tokens"), limits, remaining,
                                     strict=True):
            prefix = f"anthropic-ratelimit-{name}-".encode()
            out.append((prefix + b"limit", str(limit).encode()))
            out.append((prefix + b"remaining", str(left).encode()))
            out.append((prefix + b"reset", reset))
        return out


def fault_error(fault: str | None, config: SimulatorConfig, limits: RateLimits) -> StewardError | None:
    """The error a status fault answers with, or None for ``slow``, ``cut`` and no fault."""
    if fault == "429":
        headers = {"retry-after": str(config.retry_after_seconds)}
        headers.update((k.decode(), v.decode()) for k, v in limits.headers(0, 0, exhausted=True))
        return RateLimitError(RATE_LIMIT_MESSAGE.format(limit=config.ratelimit_requests), headers=headers)
    if fault == "529":
        return OverloadedError("Overloaded")
    if fault == "500":
        return StewardError("Internal server error")
    return None
