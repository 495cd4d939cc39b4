"""Fixtures of the Redis store tests: a key prefix of their own per test, and a client that deletes the test's keys
afterwards (STEWARD_TEST_REDIS_URL, default 127.0.0.1:6379/0)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.storage.redis_support import delete_prefix, redis_client


@pytest.fixture
def prefix() -> str:
    return f"stw-test-{uuid.uuid4().hex}:"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    client = redis_client()
    yield client
    await delete_prefix(client, prefix)
    await client.aclose()
