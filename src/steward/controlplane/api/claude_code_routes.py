"""The Claude Code report over HTTP: Anthropic's ``GET /v1/organizations/usage_report/claude_code`` and the
seed's ``GET /v1/admin/usage/claude-code`` (per user or project, as JSON, CSV or JSON Lines)."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from steward.controlplane.api.deps import Svc, Who
from steward.errors import InvalidRequestError
from steward.reporting.claude_code import columns
from steward.reporting.export import MEDIA_TYPES, choose_format, to_csv, to_jsonl

router = APIRouter()
Json = dict[str, Any]
MAX_DAYS = 31
MAX_SEED_DAYS = 366


def parse_day(value: str, name: str) -> date:
    """A UTC day given as ``YYYY-MM-DD`` (or an RFC 3339 time at midnight UTC)."""
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequestError(f"{name}: expected a UTC day as YYYY-MM-DD, got {value!r}") from exc
    if moment.utcoffset() not in (None, timedelta(0)) or (moment.hour, moment.minute, moment.second) != (0, 0, 0):
        raise InvalidRequestError(f"{name}: expected a UTC day as YYYY-MM-DD, got {value!r}")
    return moment.date()


def _offset(page: str | None) -> int:
    if page is None:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(page.removeprefix("page_").encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequestError("page: not a page token returned by this endpoint") from exc
    if value < 0:
        raise InvalidRequestError("page: not a page token returned by this endpoint")
    return value


def _token(offset: int) -> str:
    return "page_" + base64.urlsafe_b64encode(str(offset).encode()).decode()


@router.get("/v1/organizations/usage_report/claude_code")
async def claude_code_report(who: Who, svc: Svc, starting_at: str, ending_at: str | None = None,
                             limit: Annotated[int, Query(ge=1, le=1000)] = 20, page: str | None = None) -> Json:
    """Per actor per day records, Anthropic's shape and paging (``page`` / ``next_page``)."""
    first = parse_day(starting_at, "starting_at")
    end = parse_day(ending_at, "ending_at") if ending_at else first + timedelta(days=1)
    if end <= first or (end - first).days > MAX_DAYS:
        raise InvalidRequestError(f"ending_at must be after starting_at and at most {MAX_DAYS} days later")
    records = await svc.claude_code.anthropic(who, first, end)
    start = _offset(page)
    chunk = records[start:start + limit]
    more = start + limit < len(records)
    return {"data": chunk, "has_more": more, "next_page": _token(start + limit) if more else None}


@router.get("/v1/admin/usage/claude-code")
async def claude_code_usage(request: Request, who: Who, svc: Svc, start_date: str, end_date: str | None = None,
                            group_by: Literal["user", "project"] = "user", format: str | None = None) -> Any:
    """Totals per user or per project from ``start_date`` to ``end_date`` (inclusive, UTC days)."""
    fmt = choose_format(format, request.headers.get("accept"))
    first = parse_day(start_date, "start_date")
    last = parse_day(end_date, "end_date") if end_date else first
    if last < first or (last - first).days >= MAX_SEED_DAYS:
        raise InvalidRequestError(f"end_date must not be before start_date, and the range at most {MAX_SEED_DAYS} "
                                  "days")
    rows = await svc.claude_code.grouped(who, first, last, group_by)
    if fmt == "json":
        return {"data": rows, "start_date": first.isoformat(), "end_date": last.isoformat(), "group_by": group_by}
    name = f"claude-code-{group_by}-{first.isoformat()}-{last.isoformat()}.{fmt}"
    body = to_csv(rows, columns(group_by)).encode() if fmt == "csv" else to_jsonl(rows)
    return Response(body, media_type=MEDIA_TYPES[fmt],
                    headers={"content-disposition": f'attachment; filename="{name}"'})
