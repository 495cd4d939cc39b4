"""Where people reach this home's gateway: the base of the links the CLI prints (``steward console link``).

``STEWARD_PUBLIC_URL`` (behind a reverse proxy) comes first. Else the address ``steward serve`` records in
``home``/serving.json (with its pid) while it runs, ignored once that process is gone (uvicorn ends on SIGTERM by
raising the signal again, so a stopped server's record may stay behind). Else ``STEWARD_HOST``:``STEWARD_PORT``.
Nothing here opens a socket.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from steward.settings import Settings

RECORD = "serving.json"
# A wildcard bind accepts connections on every address; a link needs one, and loopback works on this machine.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}


def local_url(host: str, port: int) -> str:
    """``http://host:port`` for a bind address (wildcards as loopback, IPv6 in brackets)."""
    if host in _WILDCARDS:
        host = _WILDCARDS[host]
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextlib.contextmanager
def recorded(home: Path, host: str, port: int) -> Iterator[Path]:
    """Record ``host``:``port`` as where this process serves, for as long as the block runs."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / RECORD
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"url": local_url(host, port), "pid": os.getpid()}))
    temporary.replace(path)  # atomic: a reader sees the old record or the new one
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, OSError):
            if json.loads(path.read_text()).get("pid") == os.getpid():  # a later serve's record stays
                path.unlink()


def serving_url(home: Path) -> str | None:
    """The address a running ``steward serve`` of this home recorded, if it is still running."""
    try:
        record = json.loads((home / RECORD).read_text())
        url, pid = str(record["url"]), int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if _alive(pid) else None


def base_url(settings: Settings) -> str:
    """Where people reach the gateway: ``STEWARD_PUBLIC_URL``, else the running server's address, else the
    configured host and port."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return serving_url(settings.home) or local_url(settings.host, settings.port)
