"""FileAccess: a request may reference only files its own workspace uploaded (dataplane/files.py).

Reads ``ctx.payload`` (set by Validate) or, for a batch create, ``ctx.body``, and ``ctx.key``; writes nothing;
raises NotFoundError naming the first file the workspace does not own, the API's answer for an unknown file.
Cost for Messages and count_tokens: a walk of the messages' content blocks (one dict lookup per block; text,
thinking and tool-use blocks are not entered), no I/O unless a file is named (DESIGN promise 9); then a
cache lookup per file, reading the database only for files not seen before. A batch create is parsed here
only when its bytes may name a file, in a worker thread above 64 KiB (its handler parses it again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import orjson

from steward.dataplane.context import RequestContext
from steward.dataplane.files import FileOwnership, batch_file_references, file_references, may_reference_files

OFFLOAD_BYTES = 64 * 1024


def _batch_references(body: bytes) -> list[str]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []  # the handler answers the 400
    return batch_file_references(payload)


class FileAccess:
    def __init__(self, ownership: FileOwnership, *, offload_bytes: int = OFFLOAD_BYTES) -> None:
        self._ownership = ownership
        self._offload_bytes = offload_bytes

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        if ctx.key is None:
            return None
        if ctx.payload is not None:  # Messages, count_tokens
            refs = file_references(ctx.payload)
        elif not may_reference_files(ctx.body):  # batch endpoints: most name no file, and most have no body
            return None
        elif len(ctx.body) > self._offload_bytes:
            return self._check_batch_in_thread(ctx.body, ctx.key.workspace_id)
        else:
            refs = _batch_references(ctx.body)
        return self._ownership.check(ctx.key.workspace_id, refs) if refs else None

    async def _check_batch_in_thread(self, body: bytes, workspace_id: str) -> None:
        refs = await asyncio.get_running_loop().run_in_executor(None, _batch_references, body)
        if refs:
            await self._ownership.check(workspace_id, refs)

    def on_complete(self, ctx: RequestContext) -> None:
        return None
