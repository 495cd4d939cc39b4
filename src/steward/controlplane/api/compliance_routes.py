"""The Compliance API and the audit trail over HTTP: activities (the seed's query and Anthropic's
``GET /v1/compliance/activities``), organizations and users, access review, chain verification and the SIEM
feed (JSON Lines from a cursor). Compliance groups are served by ``compliance_group_routes``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from steward.compliance.access_review import review_csv
from steward.compliance.siem import jsonl
from steward.controlplane.api.bodies import Body
from steward.controlplane.api.deps import Svc, Who, listed
from steward.errors import InvalidRequestError

router = APIRouter()
Json = dict[str, Any]
_BOUNDS = ("gt", "gte", "lt", "lte")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rfc3339(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(f"{name}: not an RFC 3339 timestamp: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class ActivityFilters(Body):
    user_id: str | None = None
    activity_type: str | list[str] | None = None
    model: str | None = None
    workspace_id: str | None = None
    api_key_id: str | None = None


class ActivityQuery(Body):
    start_time: datetime | None = None
    end_time: datetime | None = None
    filters: ActivityFilters | None = None
    include_content: bool = False
    limit: int = 100
    cursor: str | None = None


@router.post("/v1/admin/compliance/activities/query")
async def query_activities(body: ActivityQuery, who: Who, svc: Svc) -> Json:
    filters = body.filters.model_dump(exclude_none=True) if body.filters else None
    return await svc.activities.query(who, start=_utc(body.start_time), end=_utc(body.end_time), filters=filters,
                                      include_content=body.include_content, limit=body.limit, cursor=body.cursor)


@router.get("/v1/compliance/activities")
async def list_activities(request: Request, who: Who, svc: Svc, limit: int = 100, after_id: str | None = None,
                          before_id: str | None = None) -> Json:
    bounds = {op: _rfc3339(f"created_at[{op}]", value) for op in _BOUNDS
              if (value := request.query_params.get(f"created_at[{op}]"))}
    return await svc.activities.list_activities(
        who, activity_types=listed(request, "activity_types"), actor_ids=listed(request, "actor_ids"),
        organization_ids=listed(request, "organization_ids"), created_at=bounds, limit=limit, after_id=after_id,
        before_id=before_id)


@router.get("/v1/admin/compliance/organizations")
async def list_organizations(who: Who, svc: Svc) -> Json:
    return await svc.directory.organizations(who)


@router.get("/v1/admin/compliance/users")
async def list_compliance_users(who: Who, svc: Svc, organization_id: str | None = None,
                                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                                after_id: str | None = None) -> Json:
    return await svc.directory.users(who, organization_id, limit=limit, after_id=after_id)


@router.get("/v1/admin/compliance/access_review", response_model=None)
async def access_review(who: Who, svc: Svc, workspace_id: str, starting_at: datetime | None = None,
                        ending_at: datetime | None = None,
                        unused_days: Annotated[int, Query(ge=1, le=3650)] = 90,
                        format: Literal["json", "csv"] = "json") -> Json | Response:
    review = await svc.access_review.review(who, workspace_id, start=_utc(starting_at), end=_utc(ending_at),
                                            unused_days=unused_days)
    if format == "csv":
        return Response(review_csv(review), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="access-review-{workspace_id}.csv"'})
    return review


@router.get("/v1/admin/audit/verify")
async def verify_audit(who: Who, svc: Svc) -> Json:
    return await svc.audit_trail.verify(who)


@router.get("/v1/admin/audit/events", response_model=None)
async def audit_events(who: Who, svc: Svc, after: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
                       format: Literal["jsonl", "json"] = "jsonl") -> Json | Response:
    lines, cursor = await svc.audit_trail.events(who, after=after, limit=limit)
    if format == "json":
        return {"data": lines, "next_cursor": cursor, "has_more": len(lines) == limit}
    return Response(jsonl(lines), media_type="application/x-ndjson", headers={"steward-next-cursor": cursor})
