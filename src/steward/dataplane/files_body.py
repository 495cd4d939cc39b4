"""A Files API upload as it streams through: the client's body relayed chunk by chunk, and the record it leaves.

``StreamedBody`` hands the client's chunks to the upstream client as they arrive (memory: one chunk), counting
them against the limit. A failure inside the upload (too large, client gone) surfaces in the upstream client as
a broken connection; ``raise_failure`` turns it back into the client's own error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from steward.asgi import Receive
from steward.dataplane.context import RequestContext
from steward.dataplane.http import ClientDisconnected
from steward.errors import RequestTooLargeError, StewardError, UpstreamError
from steward.storage.models import FileRecord


class StreamedBody:
    """The request body of one upload, read from the ASGI ``receive`` callable only as fast as it is sent."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self.size = 0
        self._failure: Exception | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            try:
                message = await self._receive()
            except StewardError as exc:  # the client paused too long (dataplane/http.timed_receive)
                self._failure = exc
                raise
            if message["type"] == "http.disconnect":
                self._failure = ClientDisconnected()
                raise self._failure
            chunk: bytes = message.get("body", b"")
            if chunk:
                self.size += len(chunk)
                if self.size > self._limit:
                    self._failure = RequestTooLargeError(
                        f"The upload exceeds the limit of {self._limit} bytes (file plus multipart framing).")
                    raise self._failure
                yield chunk
            if not message.get("more_body", False):
                return

    def raise_failure(self) -> None:
        """Raise what went wrong on the client's side of the upload, if anything did."""
        if self._failure is not None:
            raise self._failure


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def new_file_record(ctx: RequestContext, answer: bytes) -> FileRecord:
    """The ownership row of a file the upstream just accepted (from its FileMetadata answer)."""
    assert ctx.key is not None
    try:
        meta = orjson.loads(answer)
    except orjson.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("id"), str):
        raise UpstreamError("The upstream accepted the upload but returned no file id.")
    size = meta.get("size_bytes")
    return FileRecord(
        id=meta["id"], org_id=ctx.key.org_id, workspace_id=ctx.key.workspace_id, api_key_id=ctx.key.id,
        filename=str(meta.get("filename") or ""), mime_type=str(meta.get("mime_type") or "")[:255],
        size_bytes=size if isinstance(size, int) else 0, downloadable=bool(meta.get("downloadable")),
        created_at=_time(meta.get("created_at")) or datetime.now(UTC), expires_at=_time(meta.get("expires_at")),
        deleted_at=None)


def render_metadata(record: FileRecord) -> dict[str, Any]:
    """A FileMetadata object from Steward's row (what the list endpoint answers)."""
    return {"id": record.id, "type": "file", "filename": record.filename, "mime_type": record.mime_type,
            "size_bytes": record.size_bytes, "created_at": _iso(record.created_at),
            "downloadable": record.downloadable,
            "expires_at": _iso(record.expires_at) if record.expires_at is not None else None}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
