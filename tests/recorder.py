"""An upstream that records exactly what crossed the wire: the real simulator behind a recording ASGI wrapper.

Fidelity tests compare the bytes a client sent Steward with the bytes Steward sent upstream; the simulator
itself keeps only headers, so this wrapper keeps method, path, query, headers and the raw body of each request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from steward.asgi import Message, Receive, Scope, Send
from steward.serving import BackgroundServer
from steward.simulator.app import SimulatorApp
from steward.simulator.config import SimulatorConfig


@dataclass
class Seen:
    method: str
    path: str
    query: bytes
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Recorder:
    """ASGI middleware around the simulator; ``requests`` holds every /v1 request in arrival order."""

    app: SimulatorApp
    requests: list[Seen] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        seen = Seen(scope["method"], scope["path"], scope.get("query_string", b""),
                    {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
        self.requests.append(seen)

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen.body += message.get("body", b"")
            return message

        await self.app(scope, recording_receive, send)

    def bodies(self, path: str) -> list[bytes]:
        return [r.body for r in self.requests if r.path == path]


@contextmanager
def recording_simulator(config: SimulatorConfig) -> Iterator[tuple[str, Recorder]]:
    """A simulator on a free port whose requests are recorded; yields its URL and the recorder."""
    recorder = Recorder(SimulatorApp(config))
    with BackgroundServer(recorder) as server:
        yield server.url, recorder
