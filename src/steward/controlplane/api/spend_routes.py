"""Spend limits and increase requests over HTTP, under Anthropic's ``/v1/organizations/`` paths."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from steward.controlplane.api.bodies import Body
from steward.controlplane.api.deps import Page, Svc, Who

router = APIRouter(prefix="/v1/organizations")
Json = dict[str, Any]


class SpendLimitBody(Body):
    scope: dict[str, Any]
    period: str
    amount: str
    hard: bool = True
    alert_thresholds: list[int] | None = None


class SpendLimitUpdateBody(Body):
    amount: str | None = None
    hard: bool | None = None
    alert_thresholds: list[int] | None = None


class IncreaseBody(Body):
    spend_limit_id: str
    amount: str
    reason: str | None = None


class ApproveBody(Body):
    amount: str | None = None
    period: str | None = None
    suppress_notification: bool | None = None
    note: str | None = None


class DenyBody(Body):
    note: str | None = None
    suppress_notification: bool | None = None


@router.post("/spend_limits")
async def create_spend_limit(body: SpendLimitBody, who: Who, svc: Svc) -> Json:
    return await svc.spend_limits.create(who, body.scope, body.period, body.amount, hard=body.hard,
                                         alert_thresholds=body.alert_thresholds)


@router.get("/spend_limits")
async def list_spend_limits(who: Who, svc: Svc, page: Page) -> Json:
    return await svc.spend_limits.list(who, page)


@router.get("/spend_limits/effective")
async def effective_spend_limits(who: Who, svc: Svc) -> Json:
    return await svc.spend_limits.effective(who)


@router.get("/spend_limits/{spend_limit_id}")
async def get_spend_limit(spend_limit_id: str, who: Who, svc: Svc) -> Json:
    return await svc.spend_limits.get(who, spend_limit_id)


@router.post("/spend_limits/{spend_limit_id}")
async def update_spend_limit(spend_limit_id: str, body: SpendLimitUpdateBody, who: Who, svc: Svc) -> Json:
    return await svc.spend_limits.update(who, spend_limit_id, body.model_dump(exclude_unset=True))


@router.delete("/spend_limits/{spend_limit_id}")
async def delete_spend_limit(spend_limit_id: str, who: Who, svc: Svc) -> Json:
    return await svc.spend_limits.delete(who, spend_limit_id)


@router.post("/spend_limit_increase_requests")
async def request_increase(body: IncreaseBody, who: Who, svc: Svc) -> Json:
    return await svc.increase_requests.create(who, body.spend_limit_id, body.amount, body.reason)


@router.get("/spend_limit_increase_requests")
async def list_increase_requests(who: Who, svc: Svc, page: Page, status: str | None = None) -> Json:
    return await svc.increase_requests.list(who, page, status=status)


@router.get("/spend_limit_increase_requests/{request_id}")
async def get_increase_request(request_id: str, who: Who, svc: Svc) -> Json:
    return await svc.increase_requests.get(who, request_id)


@router.post("/spend_limit_increase_requests/{request_id}/approve")
async def approve_increase(request_id: str, who: Who, svc: Svc, body: ApproveBody | None = None) -> Json:
    return await svc.increase_requests.resolve(who, request_id, approve=True, amount=body.amount if body else None,
                                               note=body.note if body else None)


@router.post("/spend_limit_increase_requests/{request_id}/deny")
async def deny_increase(request_id: str, who: Who, svc: Svc, body: DenyBody | None = None) -> Json:
    return await svc.increase_requests.resolve(who, request_id, approve=False, note=body.note if body else None)
