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


def file_not_found(file_id: str) -> NotFoundError:
    """The one answer for a file that does not exist, is deleted, or belongs to another workspace."""
    return NotFoundError(f"File not found: {file_id}")


def may_reference_files(body: bytes) -> bool:
    """A cheap byte test: False means the body certainly references no file.

    A JSON key may be written with ``\\u`` escapes (``"file\\u005fid"``), which the parser turns into
    ``file_id``; a body with any escape is therefore walked too.
    """
    return b"file_id" in body or b"\\u" in body


def file_references(payload: Any) -> list[str]:
    """Every file id the payload references, in order, without repeats.

    Looks at every nested block: ``document``/``image`` sources of type ``file`` and ``container_upload``
    blocks, wherever they sit (messages, tool results, batch items). Files the upstream generated
    (``code_execution_output`` blocks echoed back in a conversation) are not uploads and are not checked.
    """
    found: dict[str, None] = {}
    stack: list[Any] = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            kind = item.get("type")
            file_id = item.get("file_id")
            if isinstance(file_id, str) and kind in ("file", "container_upload"):
                found[file_id] = None
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
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
