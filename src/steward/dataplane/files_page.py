"""The Files API list: its query (``limit``, ``after_id``/``before_id``, the ``page`` cursor, ``ids``,
``scope_id``) and its page, answered from Steward's own table of the workspace's files.

The page carries both cursor styles: ``has_more``/``first_id``/``last_id`` (the id-cursor envelope) and
``next_page`` (the opaque cursor the current SDK follows with ``page=``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from steward.dataplane.files import storable_id
from steward.dataplane.files_body import render_metadata
from steward.errors import InvalidRequestError
from steward.storage.models import FileRecord

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
MAX_IDS = 100
PAGE_PREFIX = "page_"


def encode_page(file_id: str) -> str:
    return PAGE_PREFIX + base64.urlsafe_b64encode(file_id.encode()).decode().rstrip("=")


def decode_page(token: str) -> str:
    raw = token.removeprefix(PAGE_PREFIX)
    try:
        file_id = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        file_id = ""
    if not token.startswith(PAGE_PREFIX) or not storable_id(file_id):
        raise InvalidRequestError("page: not a page cursor returned by this list")
    return file_id


@dataclass(slots=True, frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    after_id: str | None = None
    before_id: str | None = None
    ids: list[str] | None = None
    scope_id: str | None = None

    @classmethod
    def parse(cls, query_string: bytes) -> ListQuery:
        """The list's query parameters, refused with the API's 400 wording when malformed."""
        pairs = parse_qsl(query_string.decode("latin-1"))
        query = dict(pairs)
        ids = [part for name, value in pairs if name in ("ids", "ids[]") for part in value.split(",") if part]
        limit = _limit(query.get("limit"))
        after_id, before_id = query.get("after_id") or None, query.get("before_id") or None
        if query.get("page"):
            after_id = decode_page(query["page"])
        if after_id and before_id:
            raise InvalidRequestError("Only one of before_id and after_id may be given.")
        if ids and ("limit" in query or "page" in query or after_id or before_id):
            raise InvalidRequestError("ids: cannot be combined with page, limit, before_id or after_id")
        unique = list(dict.fromkeys(ids))
        if len(unique) > MAX_IDS:
            raise InvalidRequestError(f"ids: at most {MAX_IDS} ids may be given")
        return cls(limit=limit, after_id=after_id, before_id=before_id, ids=unique or None,
                   scope_id=query.get("scope_id") or None)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.strip().lstrip("-").isdigit():
        raise InvalidRequestError("limit: Input should be a valid integer")
    value = int(raw)
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidRequestError(f"limit: Input should be between 1 and {MAX_LIMIT}")
    return value


def render_page(rows: Sequence[FileRecord], more: bool, *, backwards: bool) -> dict[str, Any]:
    """The list answer; ``more`` says whether files lie beyond this page in the direction paged."""
    data = [render_metadata(row) for row in rows]
    last_id = data[-1]["id"] if data else None
    return {"data": data, "has_more": more, "first_id": data[0]["id"] if data else None, "last_id": last_id,
            "next_page": encode_page(last_id) if more and not backwards and last_id else None}
