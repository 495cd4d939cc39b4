"""HTTP handlers for the Files API (/v1/files/*): upload, list, metadata, download, delete.

Files belong to the workspace whose key uploaded them (dataplane/files.py); any other workspace gets the
API's 404. Uploads stream to the upstream chunk by chunk and downloads stream back, so a file never sits
whole in memory; an upload over ``max_file_bytes`` is refused with 413 from its Content-Length before a
byte is read, or as soon as the streamed bytes pass the limit. Listing reads Steward's own table, never the
upstream's list (which holds every workspace's files). Each call is audited with its file id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from steward.asgi import Receive, Scope, Send
from steward.dataplane.context import RequestContext
from steward.dataplane.files import FileOwnership, file_not_found, storable_id
from steward.dataplane.files_body import StreamedBody, new_file_record
from steward.dataplane.files_page import ListQuery, render_page
from steward.dataplane.forward import response_headers, upstream_headers
from steward.dataplane.http import send_bytes, send_json
from steward.dataplane.upstream import Upstream, UpstreamResponse
from steward.errors import RequestTooLargeError, UpstreamError
from steward.storage.models import FileRecord
from steward.storage.repositories.files import FileRepository

Action = Callable[[RequestContext, Scope, Receive, Send], Awaitable[None]]
PREFIX = "/v1/files/"
# Room for the multipart framing around the file (boundaries, part headers, the expires_in_seconds field).
MULTIPART_OVERHEAD = 64 * 1024
DOWNLOAD_HEADERS = frozenset({"content-disposition", "content-length"})


def _with_query(path: str, scope: Scope) -> str:
    """The upstream path with the client's query string (the SDK sends ``?beta=true``)."""
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


class FileHandlers:
    def __init__(self, upstream: Upstream, repo: FileRepository, ownership: FileOwnership,
                 forwarded_headers: tuple[str, ...], *, max_file_bytes: int) -> None:
        self._upstream = upstream
        self._repo = repo
        self._ownership = ownership
        self._forwarded = forwarded_headers
        self._limit = max_file_bytes + MULTIPART_OVERHEAD

    def route(self, method: str, path: str) -> tuple[str, Action] | None:
        """The endpoint name and handler of a Files API path, or None (the caller answers 404)."""
        if path == "/v1/files":
            return {"POST": ("files.upload", self.upload), "GET": ("files.list", self.list)}.get(method)
        parts = path[len(PREFIX):].split("/") if path.startswith(PREFIX) else []
        if len(parts) == 1 and parts[0]:
            return {"GET": ("files.get", self.get), "DELETE": ("files.delete", self.delete)}.get(method)
        if len(parts) == 2 and parts[0] and parts[1] == "content" and method == "GET":
            return "files.download", self.download
        return None

    async def _owned(self, ctx: RequestContext, scope: Scope) -> FileRecord:
        file_id = scope["path"][len(PREFIX):].split("/")[0]
        if not storable_id(file_id):  # never stored, and not fit for the audit trail either
            raise file_not_found(file_id)
        ctx.file_id = file_id
        record = await self._repo.get(file_id)
        if record is None or ctx.key is None or record.workspace_id != ctx.key.workspace_id \
                or record.deleted_at is not None:
            raise file_not_found(file_id)
        return record

    def _headers(self, ctx: RequestContext) -> dict[str, str]:
        headers = upstream_headers(ctx, self._forwarded)
        headers.pop("content-type", None)  # no JSON body here; an upload sets its own multipart type
        return headers

    async def upload(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        declared = ctx.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._limit:
            raise RequestTooLargeError(f"The upload is {declared} bytes; files are limited to "
                                       f"{self._limit - MULTIPART_OVERHEAD} bytes.")
        headers = self._headers(ctx)
        headers["content-type"] = ctx.headers.get("content-type", "application/octet-stream")  # its boundary
        if declared is not None and declared.isdigit():
            headers["content-length"] = declared
        body = StreamedBody(receive, self._limit)
        try:
            async with self._upstream.request("POST", _with_query("/v1/files", scope), headers,
                                              body.chunks()) as resp:
                data = await resp.read()
        except UpstreamError:
            body.raise_failure()  # the client's fault (too large, gone) rather than the upstream's
            raise
        body.raise_failure()
        if resp.status == 200:
            record = new_file_record(ctx, data)
            ctx.file_id = record.id
            await self._repo.add(record)
            self._ownership.remember(record.id, record.workspace_id)
        await self._answer(ctx, send, resp, data)

    async def _answer(self, ctx: RequestContext, send: Send, resp: UpstreamResponse, data: bytes) -> None:
        ctx.status = resp.status
        ctx.upstream_request_id = resp.headers.get("request-id")
        ctx.finish()
        await send_bytes(send, resp.status, data, response_headers(ctx, resp))

    async def list(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        assert ctx.key is not None
        query = ListQuery.parse(scope.get("query_string", b""))
        workspace = ctx.key.workspace_id
        if query.scope_id is not None:  # files uploaded through Steward belong to no session scope
            rows, more = [], False
        elif query.ids is not None:
            rows, more = await self._repo.with_ids(workspace, [i for i in query.ids if storable_id(i)]), False
        else:
            after = await self._cursor(workspace, query.after_id)
            before = await self._cursor(workspace, query.before_id)
            rows, more = await self._repo.page(workspace, limit=query.limit, after=after, before=before)
        ctx.status = 200
        ctx.finish()
        await send_json(send, 200, render_page(rows, more, backwards=query.before_id is not None), ctx.request_id)

    async def _cursor(self, workspace_id: str, file_id: str | None) -> FileRecord | None:
        if file_id is None:
            return None
        record = await self._repo.get(file_id) if storable_id(file_id) else None
        if record is None or record.workspace_id != workspace_id:
            raise file_not_found(file_id)
        return record  # a deleted file still marks its place in the list

    async def get(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        record = await self._owned(ctx, scope)
        async with self._upstream.request("GET", _with_query(PREFIX + record.id, scope), self._headers(ctx)) as resp:
            data = await resp.read()
        await self._answer(ctx, send, resp, data)

    async def delete(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        record = await self._owned(ctx, scope)
        path = _with_query(PREFIX + record.id, scope)
        async with self._upstream.request("DELETE", path, self._headers(ctx)) as resp:
            data = await resp.read()
        if resp.status in (200, 404):  # gone upstream either way: the workspace no longer owns it
            await self._repo.mark_deleted(record.id, datetime.now(UTC))
            self._ownership.forget(record.id)
        await self._answer(ctx, send, resp, data)

    async def download(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        record = await self._owned(ctx, scope)
        path = _with_query(f"{PREFIX}{record.id}/content", scope)
        async with self._upstream.request("GET", path, self._headers(ctx)) as resp:
            ctx.status = resp.status
            ctx.upstream_request_id = resp.headers.get("request-id")
            headers = response_headers(ctx, resp)
            headers.extend((name.lower().encode(), value.encode()) for name, value in resp.headers.items()
                           if name.lower() in DOWNLOAD_HEADERS)
            ctx.finish()
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            await _relay(ctx, resp, receive, send)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _relay(ctx: RequestContext, resp: UpstreamResponse, receive: Receive, send: Send) -> None:
    """Stream the upstream body to the client chunk by chunk; stop reading when the client goes away."""
    disconnect = asyncio.ensure_future(receive())
    try:
        async for chunk in resp.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if disconnect.done():
                ctx.client_disconnected = True
                return
    except UpstreamError as exc:  # the status line is out: the client sees a short body, never a second start
        ctx.upstream_cut = str(exc)
    finally:
        disconnect.cancel()
