"""The simulator's Files API: uploads held in memory (bounded), list, metadata, download and delete.

It answers like the API: FileMetadata objects, ``file_deleted`` on delete, 404 ``File not found: <id>`` for
an unknown file (also when a message references one), and 400 ``file_not_downloadable`` when downloading an
uploaded file (the API serves the content only of files a tool generated). A form field
``sim_downloadable=true`` on the upload stands in for such a file. The store keeps at most ``MAX_FILES`` files
and ``MAX_STORED_BYTES`` bytes; past that an upload gets the API's ``storage_quota_exceeded``.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from steward.errors import InvalidRequestError, NotFoundError
from steward.ids import new_id
from steward.simulator.pages import paginate
from steward.simulator.responses import Request, Response, json_response

FILES_BODY_LIMIT = 500 * 1024 * 1024 + 64 * 1024  # the API's 500 MB file plus its multipart framing
MAX_FILES = 1_000
MAX_STORED_BYTES = 256 * 1024 * 1024
MIN_EXPIRY, MAX_EXPIRY = 3600, 7_776_000
OPAQUE_BLOCKS = frozenset({"text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "mcp_tool_use"})


@dataclass(slots=True)
class SimFile:
    id: str
    filename: str
    mime_type: str
    data: bytes
    created_at: datetime
    downloadable: bool
    expires_at: datetime | None

    def metadata(self) -> dict[str, Any]:
        return {"id": self.id, "type": "file", "filename": self.filename, "mime_type": self.mime_type,
                "size_bytes": len(self.data), "created_at": _iso(self.created_at), "downloadable": self.downloadable,
                "expires_at": _iso(self.expires_at) if self.expires_at else None}


@dataclass(slots=True, frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _param(header: str, name: str) -> str | None:
    """A parameter of a header value (``boundary=...``, ``filename="..."``), unquoted."""
    for piece in header.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        if key.lower() == name:
            return value.strip().strip('"')
    return None


def parse_multipart(content_type: str, body: bytes) -> dict[str, Part]:
    """The parts of a ``multipart/form-data`` body by field name (the last one wins)."""
    boundary = _param(content_type, "boundary") if content_type.lower().startswith("multipart/form-data") else None
    if not boundary:
        raise InvalidRequestError("Content-Type must be multipart/form-data with a boundary.")
    parts: dict[str, Part] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise InvalidRequestError("Malformed multipart body.")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _param(disposition, "name")
        if name is not None:
            parts[name] = Part(name, _param(disposition, "filename"), headers.get("content-type"),
                               data.removesuffix(b"\r\n"))
    return parts


def _mime(part: Part, filename: str) -> str:
    declared = (part.content_type or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def file_references(body: Any) -> list[str]:
    """File ids a Messages body names: ``file`` sources and ``container_upload`` blocks in its messages (not
    inside text, thinking or tool-use blocks, whose fields the API never resolves as files)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    stack: list[Any] = list(messages) if isinstance(messages, list) else []
    found: list[str] = []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            kind = item.get("type")
            if isinstance(kind, str) and kind in OPAQUE_BLOCKS:
                continue
            if kind in ("file", "container_upload") and isinstance(item.get("file_id"), str):
                found.append(item["file_id"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


class FileStore:
    """The uploaded files of the simulated organization, oldest first."""

    def __init__(self) -> None:
        self._files: dict[str, SimFile] = {}
        self._bytes = 0

    def route(self, request: Request, rest: list[str]) -> Response:
        method = request.method
        if not rest and method == "POST":
            return json_response(self.upload(request).metadata())
        if not rest and method == "GET":
            return json_response(self.page(request.query))
        if len(rest) == 1 and method == "GET":
            return json_response(self.get(rest[0]).metadata())
        if len(rest) == 1 and method == "DELETE":
            return json_response(self.delete(rest[0]))
        if rest[1:] == ["content"] and len(rest) == 2 and method == "GET":
            return self.content(rest[0])
        raise NotFoundError("Not Found")

    def upload(self, request: Request) -> SimFile:
        parts = parse_multipart(request.headers.get("content-type", ""), request.body)
        part = parts.get("file")
        if part is None:
            raise InvalidRequestError("file: Field required")
        if len(self._files) >= MAX_FILES or self._bytes + len(part.data) > MAX_STORED_BYTES:
            raise InvalidRequestError("The organization's file storage quota is exhausted; delete files and retry.",
                                      details={"error_code": "storage_quota_exceeded"})
        now = datetime.now(UTC)
        filename = (part.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        mime = _mime(part, filename)
        if not filename:
            filename = "unnamed" + (mimetypes.guess_extension(mime) or "")
        stored = SimFile(new_id("file"), filename, mime, part.data, now, _flag(parts.get("sim_downloadable")),
                         _expiry(parts.get("expires_in_seconds"), now))
        self._files[stored.id] = stored
        self._bytes += len(stored.data)
        return stored

    def get(self, file_id: str) -> SimFile:
        stored = self._files.get(file_id)
        if stored is None:
            raise NotFoundError(f"File not found: {file_id}")
        return stored

    def delete(self, file_id: str) -> dict[str, str]:
        stored = self.get(file_id)
        del self._files[file_id]
        self._bytes -= len(stored.data)
        return {"id": file_id, "type": "file_deleted"}

    def content(self, file_id: str) -> Response:
        stored = self.get(file_id)
        if stored.expires_at is not None and stored.expires_at <= datetime.now(UTC):
            raise NotFoundError(f"File {file_id} has expired.", details={"error_code": "file_expired"})
        if not stored.downloadable:
            raise InvalidRequestError(f"File {file_id} cannot be downloaded: only files generated by a tool can.",
                                      details={"error_code": "file_not_downloadable"})
        disposition = f'attachment; filename="{stored.filename}"'.encode("latin-1", "replace")
        return Response(200, stored.data, [(b"content-disposition", disposition)], stored.mime_type.encode())

    def page(self, query: dict[str, str]) -> dict[str, Any]:
        """Newest first; ``page`` (the opaque cursor) continues after the file it names."""
        query = dict(query)
        if query.get("page"):
            query["after_id"] = _decode_page(query.pop("page"))
        newest_first = list(reversed(self._files.values()))
        result = paginate(newest_first, lambda f: f.id, query, SimFile.metadata)
        more = result["has_more"] and not query.get("before_id")
        result["next_page"] = _encode_page(result["last_id"]) if more and result["last_id"] else None
        return result

    def check_references(self, body: Any) -> None:
        """The API's 404 for a message that references a file this organization does not hold."""
        for file_id in file_references(body):
            if file_id not in self._files:
                raise NotFoundError(f"File not found: {file_id}")


def _flag(part: Part | None) -> bool:
    return part is not None and part.data.strip().lower() in (b"true", b"1")


def _expiry(part: Part | None, now: datetime) -> datetime | None:
    if part is None:
        return None
    raw = part.data.strip()
    if not raw.isdigit() or not MIN_EXPIRY <= int(raw) <= MAX_EXPIRY:
        raise InvalidRequestError(f"expires_in_seconds: Input should be between {MIN_EXPIRY} and {MAX_EXPIRY}")
    return now + timedelta(seconds=int(raw))


def _encode_page(file_id: str) -> str:
    return "page_" + base64.urlsafe_b64encode(file_id.encode()).decode().rstrip("=")


def _decode_page(token: str) -> str:
    raw = token.removeprefix("page_")
    try:
        file_id = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        file_id = ""
    if not file_id:
        raise InvalidRequestError("page: Invalid page token")
    return file_id


__all__ = ["FILES_BODY_LIMIT", "FileStore", "parse_multipart"]
