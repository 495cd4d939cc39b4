"""Report routes: Anthropic's ``usage_report/messages`` and ``cost_report`` (exact parameters and shapes) and the
seed's ``/v1/admin/usage/{messages,cost}`` (flat rows per group with names next to ids, sorted by cost unless
``sort`` says otherwise, as JSON, CSV or JSON Lines) and ``/v1/admin/usage/refusals`` (requests Steward answered
itself, counted per reason, workspace, key, model)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from steward.controlplane.api.deps import Svc, Who, listed
from steward.errors import InvalidRequestError
from steward.reporting.export import MEDIA_TYPES, choose_format, to_csv, to_jsonl
from steward.reporting.params import FILTERS, CostQuery, UsageQuery, parse_date, parse_time

router = APIRouter()
Json = dict[str, Any]


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidRequestError(f"{name}: {value!r} is not an integer.") from None


def _comma_list(request: Request, name: str) -> list[str]:
    """``name=a,b`` (the seed's style) or repeated ``name[]=``."""
    return [part.strip() for value in listed(request, name) or [] for part in value.split(",") if part.strip()]


@router.get("/v1/organizations/usage_report/messages")
async def usage_messages(request: Request, svc: Svc, who: Who) -> Json:
    svc.reports.authorize(who)
    q = request.query_params
    filters = {name: values for name in FILTERS if (values := listed(request, name))}
    query = UsageQuery.build(parse_time(q.get("starting_at"), "starting_at"),
                             parse_time(q.get("ending_at"), "ending_at"), q.get("bucket_width"),
                             _int(q.get("limit"), "limit"), q.get("page"), listed(request, "group_by"), filters)
    return await svc.reports.messages(who, query)


@router.get("/v1/organizations/cost_report")
async def cost_report(request: Request, svc: Svc, who: Who) -> Json:
    svc.reports.authorize(who)
    q = request.query_params
    query = CostQuery.build(parse_time(q.get("starting_at"), "starting_at"),
                            parse_time(q.get("ending_at"), "ending_at"), _int(q.get("limit"), "limit"),
                            q.get("page"), listed(request, "group_by"), q.get("bucket_width"),
                            workspace_ids=listed(request, "workspace_ids") or ())
    return await svc.reports.cost(who, query)


def _export(request: Request, report: Json) -> Response | Json:
    fmt = choose_format(request.query_params.get("format"), request.headers.get("accept"))
    if fmt == "json":
        return report
    rows = report["data"]
    body: str | bytes = to_csv(rows) if fmt == "csv" else to_jsonl(rows)
    return Response(body, media_type=MEDIA_TYPES[fmt])


@router.get("/v1/admin/usage/messages", response_model=None)
async def seed_usage(request: Request, svc: Svc, who: Who) -> Response | Json:
    svc.reports.authorize(who)
    q = request.query_params
    report = await svc.reports.seed_usage(who, parse_date(q.get("start_date"), "start_date"),
                                          parse_date(q.get("end_date"), "end_date"), _comma_list(request, "group_by"),
                                          _comma_list(request, "workspace_ids"), q.get("sort") or "cost")
    return _export(request, report)


@router.get("/v1/admin/usage/cost", response_model=None)
async def seed_cost(request: Request, svc: Svc, who: Who) -> Response | Json:
    svc.reports.authorize(who)
    q = request.query_params
    report = await svc.reports.seed_cost(who, parse_date(q.get("start_date"), "start_date"),
                                         parse_date(q.get("end_date"), "end_date"), _comma_list(request, "group_by"),
                                         _comma_list(request, "workspace_ids"), q.get("sort") or "cost")
    return _export(request, report)


@router.get("/v1/admin/usage/refusals", response_model=None)
async def refusals(request: Request, svc: Svc, who: Who) -> Response | Json:
    svc.reports.authorize(who)
    q = request.query_params
    report = await svc.reports.refusals(who, parse_date(q.get("start_date"), "start_date"),
                                        parse_date(q.get("end_date"), "end_date"), _comma_list(request, "group_by"),
                                        _comma_list(request, "workspace_ids"))
    return _export(request, report)
