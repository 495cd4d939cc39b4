"""FileAccess: a request may reference only files its own workspace uploaded (dataplane/files.py).

Reads ``ctx.body``, ``ctx.payload`` (set by Validate; a batch body is parsed here, only when it may reference
files) and ``ctx.key``; writes nothing; raises NotFoundError naming the first file the workspace does not own,
the API's answer for an unknown file. Cost without file references: one byte search of the body, no parse and
no I/O (DESIGN promise 9). With references: a walk of the payload (in a worker thread above 64 KiB) and a
cache lookup per file, reading the database only for files not seen before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import orjson

from steward.dataplane.context import RequestContext
from steward.dataplane.files import FileOwnership, file_references, may_reference_files

OFFLOAD_BYTES = 64 * 1024


def _references(body: bytes, payload: dict[str, Any] | None) -> list[str]:
    if payload is None:  # a batch create: its handler parses (and validates) the body after admission
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return []  # the handler answers the 400
    return file_references(payload)


class FileAccess:
    def __init__(self, ownership: FileOwnership, *, offload_bytes: int = OFFLOAD_BYTES) -> None:
        self._ownership = ownership
        self._offload_bytes = offload_bytes

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        if ctx.key is None or not may_reference_files(ctx.body):
            return None
        if len(ctx.body) > self._offload_bytes:
            return self._check_in_thread(ctx, ctx.key.workspace_id)
        refs = _references(ctx.body, ctx.payload)
        return self._ownership.check(ctx.key.workspace_id, refs) if refs else None

    async def _check_in_thread(self, ctx: RequestContext, workspace_id: str) -> None:
        refs = await asyncio.get_running_loop().run_in_executor(None, _references, ctx.body, ctx.payload)
        if refs:
            await self._ownership.check(workspace_id, refs)

    def on_complete(self, ctx: RequestContext) -> None:
        return None
