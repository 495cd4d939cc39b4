"""The Admin API's, Compliance API's and console's door: what is read before anyone is known is bounded.

FastAPI reads a request's whole body before its dependencies (the admin key) run, with no size limit. This ASGI
wrapper runs first:

* a request to an API path (``/v1/...``) that carries a body but no credentials (``x-api-key`` or
  ``Authorization``) is answered 401 without reading the body (except accepting an invitation, whose token is
  in the body);
* a body larger than ``max_body`` (``STEWARD_MAX_ADMIN_BODY_BYTES``, 1 MiB by default) is refused with 413, from
  ``Content-Length`` or while counting;
* a JSON or form body with a NUL character in any field is refused with 400 (PostgreSQL cannot store one);
* the body (read under the body timeout of ``dataplane/http.timed_receive``) is then handed to the app whole.

Every answer is Anthropic's error envelope. Memory per request is at most ``max_body``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson

from steward.asgi import ASGIApp, Message, Receive, Scope, Send
from steward.dataplane.http import ClientDisconnected, header_map, read_body, send_error
from steward.errors import AuthenticationError, InvalidRequestError, StewardError
from steward.ids import request_id

_API = "/v1/"
# API paths whose body is itself the credential (an invitation's token).
_OPEN = frozenset({"/v1/admin/invitations/accept"})


class AdminDoor:
    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self._app = app
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = header_map(scope)
        declared = headers.get("content-length")
        has_body = (declared is not None and declared.strip() not in ("", "0")) or "transfer-encoding" in headers
        if not has_body:
            await self._app(scope, receive, send)
            return
        try:
            path = scope["path"]
            if path.startswith(_API) and path not in _OPEN and \
                    not (headers.get("x-api-key") or headers.get("authorization")):
                raise AuthenticationError("x-api-key header is required (an admin key, or Authorization: Bearer).")
            body: bytes | None = await read_body(receive, headers, self._max_body)
            if body is not None and _carries_nul(body, headers.get("content-type", "")):
                raise InvalidRequestError("Text fields cannot contain NUL characters (\\u0000).")
        except ClientDisconnected:
            body = None  # the app sees the disconnect
        except StewardError as exc:
            await send_error(send, exc, request_id())
            return
        await self._app(scope, _replay(body, receive), send)


def _carries_nul(body: bytes, content_type: str) -> bool:
    """Whether a JSON or form body holds a NUL character in any key or value: PostgreSQL cannot store one in text,
    and an admin field carrying one gave a 500 (the adversary, session 8). A cheap byte search first; the body is
    parsed only when it could hold one."""
    if b"\\u0000" in body:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False  # not JSON: the app answers that
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, str):
                if "\x00" in item:
                    return True
            elif isinstance(item, dict):
                pending.extend(item.keys())
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
        return False
    if b"%00" in body and "form" in content_type:
        return any("\x00" in part for pair in parse_qsl(body.decode("latin-1"), keep_blank_values=True)
                   for part in pair)
    return b"\x00" in body and "form" in content_type


def _replay(body: bytes | None, receive: Receive) -> Receive:
    """``receive`` that first hands over the body already read, then whatever the client sends next."""
    pending = body

    async def replay() -> Message:
        nonlocal pending
        if pending is None:
            return await receive()
        message: Message = {"type": "http.request", "body": pending, "more_body": False}
        pending = None
        return message

    return replay
