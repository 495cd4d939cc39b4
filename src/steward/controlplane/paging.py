"""Cursor pagination parameters (``limit``, ``before_id``, ``after_id``) validated once for every list."""

from __future__ import annotations

from dataclasses import dataclass

from steward.errors import InvalidRequestError


@dataclass(slots=True, frozen=True)
class Paging:
    limit: int = 20
    before_id: str | None = None
    after_id: str | None = None

    @classmethod
    def of(cls, limit: int | None = None, before_id: str | None = None, after_id: str | None = None) -> Paging:
        value = 20 if limit is None else limit
        if not 1 <= value <= 1000:
            raise InvalidRequestError("limit: Input should be between 1 and 1000")
        if before_id and after_id:
            raise InvalidRequestError("Only one of before_id and after_id may be given.")
        return cls(value, before_id or None, after_id or None)
