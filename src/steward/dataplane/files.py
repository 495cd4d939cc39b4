"""File ownership on the data plane: which workspace owns a file, and which files a request references.

All workspaces share one upstream organization, so the upstream would serve any workspace any file; Steward
records the uploader's workspace (storage/repositories/files.py) and answers 404 to everyone else, exactly
as for a file that does not exist. ``FileOwnership`` keeps a bounded in-process cache of known owners and
reads the database only on a miss; it is consulted only for requests that reference files.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from steward.errors import InvalidRequestError, NotFoundError
from steward.storage.repositories.files import FileRepository

MAX_CACHED = 10_000
MAX_REFERENCES = 1_000  # distinct files one request may reference (far beyond any real prompt)
MAX_ID_LENGTH = 255  # the files table's id column; upstream ids are about 30 characters


def file_not_found(file_id: str) -> NotFoundError:
    """The one answer for a file that does not exist, is deleted, or belongs to another workspace."""
    shown = file_id if file_id.isprintable() else file_id.encode("unicode_escape").decode("ascii")
    shown = shown if len(shown) <= 100 else shown[:100] + "..."  # the message is echoed and audited
    return NotFoundError(f"File not found: {shown}")


def storable_id(file_id: str) -> bool:
    """Whether an id could name a stored file; anything else (a NUL, a control character, a megabyte) is
    unknown without a database read, which would fail on it."""
    return 0 < len(file_id) <= MAX_ID_LENGTH and file_id.isprintable()


def may_reference_files(body: bytes) -> bool:
    """A byte test for bodies not parsed yet (batch creates): False means the body certainly names no file.

    A JSON key may be written with ``\\u`` escapes (``"file\\u005fid"``), which the parser turns into
    ``file_id``; a body with any escape is therefore parsed and walked too.
    """
    return b"file_id" in body or b"\\u" in body


# Blocks whose fields the API never resolves as files (a tool's input is the model's own JSON).
_OPAQUE_BLOCKS = frozenset({"text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "mcp_tool_use"})


def file_references(params: Any) -> list[str]:
    """Every uploaded file one Messages request names, in no particular order, without repeats.

    Walks the content blocks of ``messages`` (the only place the API accepts files): ``document`` and
    ``image`` sources of type ``file`` and ``container_upload`` blocks, also nested in tool results. Files the
    upstream generated (``code_execution_output`` blocks echoed back in a conversation) are not uploads and are
    not checked. Cost: one dict lookup per content block; text, thinking and tool-use blocks are not entered.
    """
    messages = params.get("messages") if isinstance(params, dict) else None
    if not isinstance(messages, list):
        return []
    stack: list[Any] = [m.get("content") for m in messages if isinstance(m, dict)]
    found: dict[str, None] = {}
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            kind = item.get("type")
            if isinstance(kind, str) and kind in _OPAQUE_BLOCKS:
                continue
            file_id = item.get("file_id")
            if isinstance(file_id, str) and kind in ("file", "container_upload"):
                found[file_id] = None
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
    return list(found)


def batch_file_references(payload: Any) -> list[str]:
    """Every uploaded file the items of a Message Batches create body name."""
    requests = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests, list):
        return []
    found: dict[str, None] = {}
    for item in requests:
        if isinstance(item, dict):
            found.update(dict.fromkeys(file_references(item.get("params"))))
    return list(found)


class FileOwnership:
    """Owners of uploaded files: a bounded LRU of known (file, workspace) pairs in front of the database."""

    def __init__(self, repo: FileRepository, *, max_cached: int = MAX_CACHED) -> None:
        self._repo = repo
        self._max = max_cached
        self._owners: OrderedDict[str, str] = OrderedDict()  # file id -> workspace id (a file has one owner)

    def remember(self, file_id: str, workspace_id: str) -> None:
        self._owners[file_id] = workspace_id
        self._owners.move_to_end(file_id)
        while len(self._owners) > self._max:
            self._owners.popitem(last=False)

    def forget(self, file_id: str) -> None:
        """A deleted file (other processes may still hold it for a while; the upstream then answers 404)."""
        self._owners.pop(file_id, None)

    async def check(self, workspace_id: str, file_ids: Iterable[str]) -> None:
        """Raise the API's 404 for the first file the workspace does not own."""
        ids = list(file_ids)
        if len(ids) > MAX_REFERENCES:
            raise InvalidRequestError(f"A request may reference at most {MAX_REFERENCES} distinct files.")
        missing = []
        for file_id in ids:
            if not storable_id(file_id):
                raise file_not_found(file_id)
            owner = self._owners.get(file_id)
            if owner is None:
                missing.append(file_id)
            elif owner != workspace_id:
                raise file_not_found(file_id)
            else:
                self._owners.move_to_end(file_id)
        if not missing:
            return
        owners = await self._repo.owners(missing)
        for file_id in missing:
            if owners.get(file_id) != workspace_id:
                raise file_not_found(file_id)
            self.remember(file_id, workspace_id)
