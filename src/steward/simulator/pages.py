"""Cursor pagination by id (``limit``, ``before_id``, ``after_id``), as models and batches use it.

It owns the page envelope ``{data, has_more, first_id, last_id}`` and the query validation; the
caller supplies the items already in listing order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from steward.errors import InvalidRequestError, NotFoundError

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def parse_limit(query: dict[str, str]) -> int:
    """The ``limit`` query parameter, validated like the real API (1..1000, default 20)."""
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequestError("limit: Input should be a valid integer") from None
    if limit < 1:
        raise InvalidRequestError("limit: Input should be greater than or equal to 1")
    if limit > MAX_LIMIT:
        raise InvalidRequestError(f"limit: Input should be less than or equal to {MAX_LIMIT}")
    return limit


def paginate(items: Sequence[T], item_id: Callable[[T], str], query: dict[str, str],
             render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """One page of ``items`` (already in listing order) selected by the cursor query parameters."""
    limit = parse_limit(query)
    before_id, after_id = query.get("before_id"), query.get("after_id")
    if before_id and after_id:
        raise InvalidRequestError("Only one of before_id and after_id may be given.")
    ids = [item_id(item) for item in items]
    if after_id:
        start = _position(ids, after_id) + 1
        chosen = items[start:start + limit]
        has_more = start + limit < len(items)
    elif before_id:
        end = _position(ids, before_id)
        chosen = items[max(0, end - limit):end]
        has_more = end - limit > 0
    else:
        chosen = items[:limit]
        has_more = limit < len(items)
    data = [render(item) for item in chosen]
    return {
        "data": data,
        "has_more": has_more,
        "first_id": item_id(chosen[0]) if chosen else None,
        "last_id": item_id(chosen[-1]) if chosen else None,
    }


def _position(ids: list[str], cursor: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise NotFoundError(f"Cursor {cursor!r} does not name an object in this list.") from None
