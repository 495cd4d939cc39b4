"""What every Redis-backed store shares: the client set-up and the "Redis is unavailable" bookkeeping."""

from __future__ import annotations

import logging
import math
import time

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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

    def __init__(self, redis: Redis, *, fail_open: bool = False, logger: logging.Logger | None = None) -> None:
        self._redis = redis
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
            self._log.warning("Redis unavailable during %s %s; %s %s while it lasts (%d failures so far): %r",
                              self.subject, operation, self.gate, policy, self.unavailable_count, exc)

    async def close(self) -> None:
        """Close the Redis client and its connections."""
        await self._redis.aclose()
