"""A pooled keep-alive connection the upstream closes just as Steward sends on it fails before any answer; Steward
sends the request again once on a new connection, so the client gets its answer and the ledger a normal call,
where it used to get a 502 ``api_error`` (and the reports a gateway error)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade
from tests.conftest import UPSTREAM_KEY
from tests.support import start_gateway

BODY = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


@contextmanager
def closing_idle_connections(target: str) -> Iterator[str]:
    """A TCP proxy to ``target`` that answers one request per connection and then, when the client sends on that
    connection again, closes it unanswered: the upstream's idle timeout winning the race with our reuse."""
    host, port = target.removeprefix("http://").split(":")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    address: list[str] = []

    async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(port))
        answered = asyncio.Event()

        async def upstream() -> None:
            while chunk := await client_r.read(65536):
                if answered.is_set():  # a second request on this connection: closed, never forwarded
                    break
                server_w.write(chunk)
                await server_w.drain()
            client_w.close()
            server_w.close()

        async def downstream() -> None:
            while chunk := await server_r.read(65536):
                answered.set()
                client_w.write(chunk)
                await client_w.drain()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)

    tasks: list[asyncio.Task[None]] = []

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        address.append(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        ready.set()
        async with server:
            with contextlib.suppress(asyncio.CancelledError):
                await server.serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield address[0]
    finally:
        loop.call_soon_threadsafe(tasks[0].cancel)
        thread.join(10)
        loop.close()


def _resent(url: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in httpx.get(f"{url}/metrics").text.splitlines()
               if line.startswith("steward_upstream_resent_total"))


def test_a_request_on_a_connection_the_upstream_just_closed_is_sent_again(simulator: SimulatorServer,
                                                                        tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    with closing_idle_connections(simulator.url) as upstream, \
            start_gateway(url, upstream, tmp_path / "home", UPSTREAM_KEY) as gw:
        before = _resent(gw.url)
        with gw.client("eng") as client:  # max_retries=0: an error would reach us
            answers = [client.messages.with_raw_response.create(**BODY) for _ in range(4)]  # type: ignore[arg-type]
            with client.messages.stream(**BODY) as stream:  # type: ignore[arg-type]
                streamed = stream.get_final_message()
        assert [a.status_code for a in answers] == [200] * 4 and streamed.type == "message"
        assert _resent(gw.url) - before >= 4  # every request after the first met a closed connection
        rows = gw.wait_usage([a.headers["request-id"] for a in answers], timeout=30)
        assert sorted(r.status for r in rows) == [200] * 4  # metered once each, no gateway error
