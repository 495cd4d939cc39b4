"""Webhooks and their deliveries over HTTP, under ``/v1/organizations/webhooks`` (a Steward addition)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from steward.controlplane.api.bodies import Body
from steward.controlplane.api.deps import Page, Svc, Who

router = APIRouter(prefix="/v1/organizations")
Json = dict[str, Any]


class WebhookBody(Body):
    url: str
    events: list[str]
    active: bool = True


class WebhookUpdateBody(Body):
    url: str | None = None
    events: list[str] | None = None
    active: bool | None = None


@router.post("/webhooks")
async def create_webhook(body: WebhookBody, who: Who, svc: Svc) -> Json:
    return await svc.webhooks.create(who, body.url, body.events, active=body.active)


@router.get("/webhooks")
async def list_webhooks(who: Who, svc: Svc, page: Page) -> Json:
    return await svc.webhooks.list(who, page)


@router.get("/webhooks/{webhook_id}")
async def get_webhook(webhook_id: str, who: Who, svc: Svc) -> Json:
    return await svc.webhooks.get(who, webhook_id)


@router.post("/webhooks/{webhook_id}")
async def update_webhook(webhook_id: str, body: WebhookUpdateBody, who: Who, svc: Svc) -> Json:
    return await svc.webhooks.update(who, webhook_id, body.model_dump(exclude_unset=True))


@router.delete("/webhooks/{webhook_id}")
async def delete_webhook(webhook_id: str, who: Who, svc: Svc) -> Json:
    return await svc.webhooks.delete(who, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries")
async def list_webhook_deliveries(webhook_id: str, who: Who, svc: Svc, page: Page, status: str | None = None) -> Json:
    return await svc.webhooks.deliveries(who, webhook_id, page, status=status)
