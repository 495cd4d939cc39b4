"""Running an ASGI app under uvicorn: in the foreground (``steward serve``) or on a background thread.

The background form serves tests and the demo: a real socket on 127.0.0.1, a free port, and a clean stop.
"""

from __future__ import annotations

import asyncio
import copy
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from steward.asgi import ASGIApp
from steward.serving_guard import Door, GuardedProtocol


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def process_logging(level: str) -> dict[str, Any]:
    """uvicorn's logging set-up plus Steward's: the root logger (``steward.*``, the access log) to stderr at
    ``level``. uvicorn applies it in every worker process, which a ``basicConfig`` in the parent never reaches."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["steward"] = {"format": LOG_FORMAT}
    config["handlers"]["steward"] = {"class": "logging.StreamHandler", "formatter": "steward",
                                     "stream": "ext://sys.stderr"}
    config["root"] = {"handlers": ["steward"], "level": level.upper()}
    return config


def uvicorn_config(app: ASGIApp | str, host: str, port: int, *, log_level: str = "warning",
                   workers: int | None = None, factory: bool = False, door: Door | None = None,
                   keep_alive: float = 75.0, root_logging: bool = False) -> uvicorn.Config:
    """uvicorn tuned for a proxy: uvloop, httptools behind Steward's door (serving_guard.py: header timeout,
    connection cap, errors in Anthropic's envelope), without uvicorn's access log (Steward writes its own, with
    the request id and the key: access_log.py). The client address is the TCP peer, or, from the proxies the door
    trusts (``STEWARD_FORWARDED_ALLOW_IPS``), the address their ``X-Forwarded-For`` names (uvicorn's
    proxy-headers middleware). ``root_logging`` (``steward serve``) also sets up the root logger in each worker
    (``process_logging``); embedded servers leave their host's logging alone."""
    door = door or Door()
    trusted = door.forwarded_allow_ips
    config = uvicorn.Config(app, host=host, port=port, loop="uvloop", http=GuardedProtocol, lifespan="on",
                            log_level=log_level, access_log=False, workers=workers, factory=factory,
                            log_config=process_logging(log_level) if root_logging else LOGGING_CONFIG,
                            timeout_keep_alive=int(keep_alive) or 1, server_header=False,
                            proxy_headers=trusted is not None, forwarded_allow_ips=trusted,
                            # uvicorn kills a worker that misses its health ping for this long (default 5 s):
                            # a start-up loading a million keys on a loaded machine took longer.
                            timeout_worker_healthcheck=60)
    config.steward_door = door  # type: ignore[attr-defined]  # read by GuardedProtocol in each worker
    return config


class BackgroundServer:
    """Serve ``app`` on a background thread; ``url`` is set once it accepts connections."""

    def __init__(self, app: ASGIApp, *, port: int | None = None, door: Door | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port, door=door))
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve())
        except BaseException as exc:  # reported to the starting thread
            self.error = exc

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"server on port {self.port} failed to start") from self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on port {self.port} did not start in {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
