"""Stored content, both sides: the data plane's key ring and sealer (content is encrypted before it reaches the
journal, which never holds plain content), and ``ContentReader`` that decrypts it for the Compliance API.

Data keys are unwrapped when the gateway starts and, for an organization whose first full-audit group appears
later, once on its first captured request (an in-memory lookup afterwards: never a database read per request).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from steward.compliance.crypto import CryptoError, MasterKey, open_sealed, seal, unwrap
from steward.dataplane.sse_decode import decode_sse
from steward.ids import new_id
from steward.storage.repositories.governance import ContentRepository

log = logging.getLogger("steward.content")
_RETRY_MISSING_SECONDS = 5.0


@dataclass(slots=True, frozen=True)
class DataKey:
    id: str
    key: bytes = field(repr=False)


class KeyRing:
    """Unwrapped data keys by organization, held in memory by each gateway process."""

    def __init__(self, repo: ContentRepository, master: Callable[[], MasterKey]) -> None:
        self._repo = repo
        self._master = master
        self._keys: dict[str, DataKey] = {}
        self._by_id: dict[str, bytes] = {}
        self._loading: asyncio.Task[None] | None = None
        self._missing_until: dict[str, float] = {}

    def get(self, org_id: str) -> DataKey | None:
        return self._keys.get(org_id)

    def by_id(self, key_id: str) -> bytes | None:
        return self._by_id.get(key_id)

    async def load(self) -> None:
        """Read and unwrap every data key (start-up, and when an organization's key is not known yet)."""
        rows = await self._repo.data_keys()
        if not rows:
            return
        master = self._master()
        for row in rows:
            if row.id in self._by_id:
                continue
            if row.master_key_id != master.fingerprint:
                log.error("data key %s of %s was wrapped by another master key (%s); its content cannot be "
                          "sealed or read with this one", row.id, row.org_id, row.master_key_id)
                continue
            try:
                key = unwrap(master, row.wrapped_key, row.org_id)
            except CryptoError:
                log.error("data key %s of %s does not open with the master key", row.id, row.org_id)
                continue
            self._by_id[row.id] = key
            self._keys.setdefault(row.org_id, DataKey(row.id, key))  # rows come newest first per organization

    async def ensure(self, org_id: str) -> DataKey | None:
        """The organization's key, loading keys once if it is not known (shared by concurrent callers)."""
        found = self._keys.get(org_id)
        if found is not None or self._missing_until.get(org_id, 0.0) > time.monotonic():
            return found
        if self._loading is None or self._loading.done():
            self._loading = asyncio.ensure_future(self.load())
        await asyncio.shield(self._loading)
        found = self._keys.get(org_id)
        if found is None:
            self._missing_until[org_id] = time.monotonic() + _RETRY_MISSING_SECONDS
        return found


def _block_from_start(data: Mapping[str, Any]) -> dict[str, Any]:
    block = dict(data.get("content_block") or {})
    if block.get("type") == "tool_use" or block.get("type") == "server_tool_use":
        block["_partial_json"] = ""
    return block


def _apply_delta(block: dict[str, Any], delta: Mapping[str, Any]) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + str(delta.get("text", ""))
    elif kind == "input_json_delta":
        block["_partial_json"] = block.get("_partial_json", "") + str(delta.get("partial_json", ""))
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))


def _finish_block(block: dict[str, Any]) -> dict[str, Any]:
    partial = block.pop("_partial_json", None)
    if partial:
        try:
            block["input"] = orjson.loads(partial)
        except orjson.JSONDecodeError:
            block["input"] = partial
    return block


def assemble_stream(chunks: Sequence[bytes]) -> dict[str, Any]:
    """The Message a stream delivered (text, thinking and tool inputs assembled from the SSE events)."""
    message: dict[str, Any] = {}
    blocks: dict[int, dict[str, Any]] = {}
    texts: dict[int, list[str]] = {}  # text deltas joined once at the end (a stream has hundreds)
    for name, raw in decode_sse(b"".join(chunks)):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        if name == b"content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                texts.setdefault(data.get("index", 0), []).append(delta.get("text", ""))
            else:
                _apply_delta(blocks.setdefault(int(data.get("index", 0)), {"type": "text"}), delta)
        elif name == b"message_start":
            message = dict(data.get("message") or {})
        elif name == b"content_block_start":
            blocks[int(data.get("index", len(blocks)))] = _block_from_start(data)
        elif name == b"message_delta":
            message.update({k: v for k, v in (data.get("delta") or {}).items() if v is not None})
            if data.get("usage"):
                message["usage"] = {**(message.get("usage") or {}), **data["usage"]}
        elif name == b"error":
            message["error"] = data.get("error")
    for index, parts in texts.items():
        block = blocks.setdefault(int(index), {"type": "text"})
        block["text"] = block.get("text", "") + "".join(parts)
    message["content"] = [_finish_block(blocks[i]) for i in sorted(blocks)]
    return message


def response_content(chunks: Sequence[bytes], stream: bool) -> Any:
    """What the upstream answered: the JSON body, or the message assembled from a stream."""
    if not chunks:
        return None
    if stream:
        return assemble_stream(chunks)
    raw = b"".join(chunks)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


@dataclass(slots=True, frozen=True)
class Sealed:
    """One request's content, encrypted, as a journal record (``content_sha256`` is of the plain text)."""

    record: dict[str, Any]
    content_sha256: str


def seal_content(key: DataKey, *, org_id: str, workspace_id: str, request_id: str, started_at: float,
                 retention_days: int | None, request: Any, response: Any, content_id: str | None = None) -> Sealed:
    """Encrypt ``{"request", "response"}``; only ciphertext, nonce and hash go into the journal record."""
    plaintext = orjson.dumps({"request": request, "response": response})
    digest = hashlib.sha256(plaintext).hexdigest()
    nonce, ciphertext = seal(key.key, org_id, request_id, plaintext)
    created = datetime.fromtimestamp(started_at, UTC)
    purge_after = created + timedelta(days=retention_days) if retention_days is not None else None
    record = {"id": content_id or new_id("content"), "org_id": org_id, "workspace_id": workspace_id,
              "request_id": request_id, "created_at": created.isoformat(), "data_key_id": key.id,
              "nonce": base64.b64encode(nonce).decode(), "ciphertext": base64.b64encode(ciphertext).decode(),
              "content_sha256": digest, "purge_after": purge_after.isoformat() if purge_after else None}
    return Sealed(record, digest)


class ContentReader:
    """Decrypts stored content for the Compliance API (the caller checks COMPLIANCE_CONTENT first)."""

    def __init__(self, repo: ContentRepository, keys: KeyRing) -> None:
        self._repo = repo
        self._keys = keys

    async def read(self, org_id: str, request_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """request id -> {"request": ..., "response": ...}; purged or never-stored requests are absent."""
        if not request_ids:
            return {}
        rows = await self._repo.content(org_id, request_ids)
        if any(self._keys.by_id(row.data_key_id) is None for row in rows):
            await self._keys.load()
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            key = self._keys.by_id(row.data_key_id)
            if key is None:
                raise CryptoError(f"no data key {row.data_key_id} opens with the configured master key")
            plain = open_sealed(key, row.org_id, row.request_id, row.nonce, row.ciphertext)
            if hashlib.sha256(plain).hexdigest() != row.content_sha256:
                raise CryptoError(f"stored content of {row.request_id} does not match its hash")
            value: dict[str, Any] = orjson.loads(plain)
            out[row.request_id] = value
        return out
