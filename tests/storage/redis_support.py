"""Helpers of the Redis store tests: the test Redis, an unreachable one, and a proxy that breaks a connection after
Redis ran a script (so that redis-py sends it again)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from steward.storage.redis_client import connect

REDIS_URL = os.environ.get("STEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_client() -> Redis:
    return Redis.from_pool(BlockingConnectionPool.from_url(REDIS_URL, max_connections=32, timeout=5))


async def delete_prefix(client: Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def unreachable() -> Redis:
    """A client of a port nothing listens on (connections refused at once, no retry)."""
    return Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


class DroppingProxy:
    """A TCP proxy in front of Redis that, when armed, forwards the next EVALSHA and closes the client's connection
    before the reply: the script ran, the client saw a broken connection, and redis-py sends it again. ``armed = n``
    does that to the next n exchanges that carry an EVALSHA."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self.armed: int = 0
        self.dropped = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> DroppingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._target)
        drop = asyncio.Event()

        async def upstream() -> None:
            while chunk := await client_r.read(65536):
                if self.armed and b"EVALSHA" in chunk.upper():
                    self.armed -= 1
                    drop.set()
                server_w.write(chunk)
                await server_w.drain()

        async def downstream() -> None:
            while chunk := await server_r.read(65536):
                if drop.is_set():  # the script's reply: swallowed, and the client's connection cut
                    self.dropped += 1
                    client_w.close()
                    return
                client_w.write(chunk)
                await client_w.drain()

        tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            server_w.close()
            client_w.close()



@asynccontextmanager
async def dropping() -> AsyncIterator[tuple[DroppingProxy, Redis]]:
    """A ``DroppingProxy`` in front of the test Redis and a client of it as the gateway connects (one retry); the
    caller closes the client (the stores own theirs)."""
    host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    async with DroppingProxy((host, int(port))) as proxy:
        yield proxy, connect(f"redis://127.0.0.1:{proxy.port}/0", max_connections=4)
