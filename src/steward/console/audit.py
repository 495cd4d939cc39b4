"""Audit and compliance: the activity viewer (filters, cursor pages), audit chain verification on demand, and
a workspace's access review. Each needs ``compliance.read`` / ``audit.read`` (organization admins); content is
never shown here (it needs a compliance-scoped key through the Compliance API). Actors, keys and workspaces are
shown by name (one lookup each per page), with the id in a tooltip."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from steward.console.auth import Session
from steward.console.web import query, render, state
from steward.controlplane.paging import Paging
from steward.errors import InvalidRequestError

FILTERS = ("activity_type", "workspace_id", "api_key_id", "user_id", "model")


def _when(request: Request, name: str, end_of_day: bool = False) -> datetime | None:
    raw = query(request, name)
    if raw is None:
        return None
    try:
        day = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(f"{name}: a date like 2026-11-01") from None
    if day.tzinfo is None:
        day = datetime.combine(day.date(), time.max if end_of_day else time.min, UTC)
    return day


async def audit_view(request: Request, session: Session) -> Response:
    services, who = state(request).services, session.principal
    filters = {name: query(request, name) for name in FILTERS if query(request, name)}
    feed = await services.activities.query(who, start=_when(request, "start"), end=_when(request, "end", True),
                                           filters=filters, limit=50, cursor=query(request, "cursor"))
    keep = "&".join(f"{k}={v}" for k, v in request.query_params.items() if k not in ("cursor", "verify") and v)
    next_url = f"/console/audit?{keep}&cursor={feed['next_cursor']}" if feed.get("next_cursor") else None
    verification: dict[str, Any] | None = None
    if query(request, "verify") == "1":
        verification = await services.audit_trail.verify(who)
    review: dict[str, Any] | None = None
    if query(request, "review_workspace"):
        review = await services.access_review.review(who, str(query(request, "review_workspace")))
    workspaces = (await services.workspaces.list(who, Paging.of(1000)))["data"]
    repo = state(request).repo
    key_ids = sorted({str(i) for a in feed["data"] for i in (a.get("api_key_id"), a["actor"].get("api_key_id"))
                      if i})
    users = (await services.users.list(who, Paging.of(1000)))["data"]
    names = {**{w["id"]: w["name"] for w in workspaces}, **await repo.key_names(key_ids),
             **{u["id"]: u["name"] or u["email"] for u in users}}
    return render(request, session, "audit.html", feed=feed["data"], next_url=next_url, filters=filters, names=names,
                  verification=verification, review=review, workspaces=workspaces,
                  start=query(request, "start") or "", end=query(request, "end") or "")
