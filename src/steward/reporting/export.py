"""Report exports: flat rows as CSV or JSON Lines, and the choice of format from ``?format=`` or ``Accept``."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from steward.errors import InvalidRequestError

__all__ = ["FORMATS", "MEDIA_TYPES", "choose_format", "to_csv", "to_jsonl"]

FORMATS = ("json", "csv", "jsonl")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
_ACCEPT = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
           "application/json": "json"}


def choose_format(requested: str | None, accept: str | None) -> str:
    """``?format=`` wins; otherwise the first of ``Accept``'s types we serve; JSON by default."""
    if requested:
        if requested not in FORMATS:
            raise InvalidRequestError(f"format: must be one of {', '.join(FORMATS)}; got {requested!r}.")
        return requested
    for part in (accept or "").split(","):
        found = _ACCEPT.get(part.split(";")[0].strip().lower())
        if found:
            return found
    return "json"


def columns_of(rows: Sequence[Mapping[str, Any]], first: Sequence[str] = ()) -> list[str]:
    """Every key of ``rows`` in first-seen order, ``first`` leading."""
    names = list(first)
    for row in rows:
        names.extend(k for k in row if k not in names)
    return names


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as CSV with a header; None as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = list(columns) if columns is not None else columns_of(rows)
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row.get(n) is None else row.get(n) for n in names])
    return out.getvalue()


def to_jsonl(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Rows as JSON Lines (one object per line)."""
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)
