"""Serving the simulator over a real socket: ``run`` (blocking) and ``SimulatorServer`` (a test fixture).

Both use uvicorn with uvloop and httptools at log level warning. ``run`` announces its address on stdout once it
accepts connections (``announcement``). ``SimulatorServer`` binds 127.0.0.1 on a free port itself, so ``url`` is
known before the server thread starts.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from types import TracebackType

import uvicorn

from steward.asgi import ASGIApp
from steward.simulator.app import SimulatorApp, create_app
from steward.simulator.config import SimulatorConfig

STARTUP_TIMEOUT = 10.0


def _uvicorn_config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, loop="uvloop", http="httptools", lifespan="off",
                          log_level="warning", access_log=False, server_header=False,
                          timeout_graceful_shutdown=2)


def announcement(url: str) -> str:
    """The line ``steward simulate`` prints once it accepts connections at ``url``."""
    return (f"Steward simulator listening on {url} - point STEWARD_UPSTREAM_URL at it "
            "(any STEWARD_UPSTREAM_API_KEYS value is accepted)")


class _AnnouncingServer(uvicorn.Server):
    """uvicorn that prints ``announcement`` once its sockets accept connections (not before: a script that
    waits for the line may connect at once)."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(announcement(self._url), file=sys.stdout, flush=True)


def run(host: str, port: int, config: SimulatorConfig) -> None:
    """Serve the simulator until interrupted; ``port`` 0 takes a free port (the announcement names it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    server = _AnnouncingServer(_uvicorn_config(create_app(config), host, bound), f"http://{shown}:{bound}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class SimulatorServer:
    """The simulator on ``127.0.0.1:<free port>`` in a background thread, as a context manager."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.app = SimulatorApp(self.config)
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def __enter__(self) -> SimulatorServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(_uvicorn_config(self.app, "127.0.0.1", port))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="steward-simulator",
                                  daemon=True)
        self._server, self._thread, self._socket = server, thread, sock
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._stop()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.005)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
