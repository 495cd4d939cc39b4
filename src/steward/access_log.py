"""The access log: one line per HTTP request on the logger ``steward.access``, never a secret.

A line holds the method, the path (never the query string; the token of a console sign-in or invitation link, and
any path segment that is a key, are replaced by ``[redacted]``), the status, the latency in milliseconds, the
request id, and for data-plane requests the workspace and key ids. Never the key, a header, the client's address or
a body. ``AccessLog`` is installed only when ``STEWARD_ACCESS_LOG`` is on and the logger emits INFO: when off,
requests do not pass through it at all.
"""

from __future__ import annotations

import logging
import time

from steward.asgi import ASGIApp, Message, Receive, Scope, Send

LOG = logging.getLogger("steward.access")
# The data plane puts its RequestContext here (dataplane/router.py): the key and workspace the request used.
SCOPE_KEY = "steward.request"
# Paths whose last segment is itself a credential (console/app.py routes).
SECRET_PATHS = ("/console/link/", "/console/invite/")


def public_path(path: str) -> str:
    """``path`` as the log may show it: a credential in the path is replaced (a console link or invitation
    token, or a key pasted where an id belongs, e.g. ``/v1/admin/keys/sk-stw-api01-...``)."""
    if path.startswith(SECRET_PATHS):
        return path[:path.index("/", len("/console/")) + 1] + "[redacted]"
    if "/sk-" in path:
        return "/".join("[redacted]" if part.startswith("sk-") else part for part in path.split("/"))
    return path


def _response_request_id(headers: object) -> str:
    for name, value in headers or ():  # type: ignore[attr-defined]
        if name == b"request-id":
            return str(value.decode("latin-1"))
    return "-"


class AccessLog:
    """Wraps the gateway's ASGI app; logs each HTTP request once its handler returns (a stream: once it ends).

    Reads the response's status and ``request-id`` header and the data plane's context; writes one log record.
    Costs two clock readings, a wrapped ``send`` and one ``Logger.info`` per request (the formatting happens in
    the handler, on the same thread).
    """

    def __init__(self, app: ASGIApp, logger: logging.Logger = LOG) -> None:
        self._app = app
        self._log = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, object] = {}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                seen["headers"] = message.get("headers")
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            self._write(scope, seen, (time.perf_counter() - started) * 1000.0)

    def _write(self, scope: Scope, seen: dict[str, object], elapsed_ms: float) -> None:
        ctx = scope.get(SCOPE_KEY)
        if ctx is not None:
            request = ctx.request_id
            workspace = ctx.workspace.id if ctx.workspace is not None else "-"
            key = ctx.key.id if ctx.key is not None else "-"
        else:
            request, workspace, key = _response_request_id(seen.get("headers")), "-", "-"
        # No status: the handler failed before answering (the server answers 500) or the client went away.
        status = seen.get("status", 0)
        self._log.info("%s %s %s %.1fms request_id=%s workspace=%s key=%s", scope["method"],
                       public_path(scope["path"]), status, elapsed_ms, request, workspace, key)


def wrap(app: ASGIApp, enabled: bool, logger: logging.Logger = LOG) -> ASGIApp:
    """``app`` with the access log when it is enabled and its logger emits INFO, else ``app`` itself."""
    return AccessLog(app, logger) if enabled and logger.isEnabledFor(logging.INFO) else app
