"""Webhooks: where Steward POSTs audit events (``spend.alert``, ``admin.*``), and the record of each delivery.

Admins create, change and delete them; admins and viewers read them. The signing secret (``whsec_...``) is
returned once, by create, and never appears in a listing or the audit trail. Every change is audited; none
bumps the config version, because the data plane does not read webhooks (the dispatcher does, every round).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from steward.compliance.crypto import MasterKey, seal_secret
from steward.controlplane.audit import admin_event
from steward.controlplane.paging import Paging
from steward.controlplane.principal import Principal
from steward.controlplane.rbac import Permission, require
from steward.controlplane.shapes import page_object, rfc3339
from steward.errors import InvalidRequestError, NotFoundError
from steward.ids import new_id
from steward.netguard import forbidden_host
from steward.storage.models import Webhook, WebhookAttempt, WebhookDelivery
from steward.storage.repositories.admin import AdminStore
from steward.storage.repositories.webhooks import DELIVERABLE_EXACT, DELIVERABLE_PREFIX, WebhookRepository

DELIVERY_STATUSES = ("pending", "delivered", "failed")
_EVENTS_HELP = ('events: a non-empty list of audit event names: "spend.alert" or "admin.<...>", '
                'optionally ending in "*" (e.g. "admin.*", or "*" for all of them)')


def _url(value: Any, allow_private: bool) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(value) > 2048:
        raise InvalidRequestError("url: an absolute http:// or https:// URL of at most 2048 characters")
    if not allow_private and forbidden_host(parts.hostname):
        raise InvalidRequestError("url: webhooks may not reach loopback, private or link-local addresses (set "
                                  "STEWARD_WEBHOOK_ALLOW_PRIVATE for a receiver inside your network)")
    return str(value)


def _deliverable(pattern: str) -> bool:
    """Whether ``pattern`` names (or, ending in ``*``, may match) an event that webhooks receive."""
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return (any(name.startswith(prefix) for name in DELIVERABLE_EXACT)
                or prefix.startswith(DELIVERABLE_PREFIX) or DELIVERABLE_PREFIX.startswith(prefix))
    named_admin = pattern.startswith(DELIVERABLE_PREFIX) and len(pattern) > len(DELIVERABLE_PREFIX)
    return pattern in DELIVERABLE_EXACT or named_admin


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidRequestError(_EVENTS_HELP)
    for item in value:
        if not isinstance(item, str) or len(item) > 64 or "*" in item[:-1] or not _deliverable(item):
            raise InvalidRequestError(f"{_EVENTS_HELP}; got {item!r}")
    return list(dict.fromkeys(value))


def webhook_object(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.id, "type": "webhook", "url": hook.url, "events": list(hook.events),
            "active": hook.active, "created_at": rfc3339(hook.created_at), "updated_at": rfc3339(hook.updated_at)}


def attempt_object(attempt: WebhookAttempt) -> dict[str, Any]:
    return {"attempt": attempt.attempt, "started_at": rfc3339(attempt.started_at),
            "duration_ms": attempt.duration_ms, "status_code": attempt.status_code, "error": attempt.error,
            "next_attempt_at": rfc3339(attempt.next_attempt_at)}


def delivery_object(delivery: WebhookDelivery, attempts: Sequence[WebhookAttempt]) -> dict[str, Any]:
    return {"id": delivery.id, "type": "webhook_delivery", "webhook_id": delivery.webhook_id,
            "event_id": delivery.event_id, "event": delivery.event, "status": delivery.status,
            "attempt_count": delivery.attempts, "created_at": rfc3339(delivery.created_at),
            "completed_at": rfc3339(delivery.completed_at),
            "next_attempt_at": rfc3339(delivery.next_attempt_at) if delivery.status == "pending" else None,
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
            "attempts": [attempt_object(a) for a in attempts]}


class WebhookService:
    def __init__(self, store: AdminStore, *, master: Callable[[], MasterKey], allow_private: bool = False) -> None:
        self._store = store
        self._allow_private = allow_private
        self._master = master  # signing secrets are stored sealed under the master key (compliance/crypto.py)

    @staticmethod
    async def _load(hooks: WebhookRepository, principal: Principal, webhook_id: str) -> Webhook:
        hook = await hooks.get(webhook_id)
        if hook is None or hook.org_id != principal.org_id:
            raise NotFoundError(f"webhook: {webhook_id} not found")
        return hook

    async def create(self, principal: Principal, url: str, events: list[str], *,
                     active: bool = True) -> dict[str, Any]:
        """A new webhook; the answer carries its signing secret, which is never shown again."""
        require(principal, Permission.WEBHOOKS_WRITE)
        checked_url, checked_events = _url(url, self._allow_private), _events(events)
        now = datetime.now(UTC)
        secret, hook_id = f"whsec_{secrets.token_urlsafe(32)}", new_id("whk")
        hook = Webhook(id=hook_id, org_id=principal.org_id, url=checked_url, events=checked_events,
                       active=bool(active), secret=seal_secret(self._master(), hook_id, secret), created_at=now,
                       updated_at=now, deliver_since=now)
        async with self._store.unit() as unit:
            WebhookRepository(unit).add(hook)
            unit.audit(admin_event(principal, "admin.webhooks.create", target={"webhook_id": hook.id},
                                   after=webhook_object(hook)))
        return {**webhook_object(hook), "secret": secret}

    async def list(self, principal: Principal, paging: Paging) -> dict[str, Any]:
        require(principal, Permission.USERS_READ)
        async with self._store.unit() as unit:
            page = await WebhookRepository(unit).page(principal.org_id, limit=paging.limit,
                                                      before_id=paging.before_id, after_id=paging.after_id)
            return page_object([webhook_object(h) for h in page], page.has_more)

    async def get(self, principal: Principal, webhook_id: str) -> dict[str, Any]:
        require(principal, Permission.USERS_READ)
        async with self._store.unit() as unit:
            return webhook_object(await self._load(WebhookRepository(unit), principal, webhook_id))

    async def update(self, principal: Principal, webhook_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the URL, the events or ``active``; new subscriptions and re-activation start from now."""
        require(principal, Permission.WEBHOOKS_WRITE)
        async with self._store.unit() as unit:
            hook = await self._load(WebhookRepository(unit), principal, webhook_id)
            before = webhook_object(hook)
            now = datetime.now(UTC)
            if changes.get("url") is not None:
                hook.url = _url(changes["url"], self._allow_private)
            if changes.get("events") is not None:
                events = _events(changes["events"])
                if events != hook.events:
                    hook.events, hook.deliver_since = events, now
            if changes.get("active") is not None:
                if changes["active"] and not hook.active:
                    hook.deliver_since = now  # events from while it was off are not replayed
                hook.active = bool(changes["active"])
            hook.updated_at = now
            unit.audit(admin_event(principal, "admin.webhooks.update", target={"webhook_id": hook.id},
                                   before=before, after=webhook_object(hook)))
            return webhook_object(hook)

    async def delete(self, principal: Principal, webhook_id: str) -> dict[str, Any]:
        """Delete the webhook with its delivery records; pending retries stop."""
        require(principal, Permission.WEBHOOKS_WRITE)
        async with self._store.unit() as unit:
            hooks = WebhookRepository(unit)
            hook = await self._load(hooks, principal, webhook_id)
            unit.audit(admin_event(principal, "admin.webhooks.delete", target={"webhook_id": hook.id},
                                   before=webhook_object(hook)))
            await hooks.delete(hook)
        return {"id": webhook_id, "type": "webhook_deleted"}

    async def deliveries(self, principal: Principal, webhook_id: str, paging: Paging, *,
                         status: str | None = None) -> dict[str, Any]:
        """The webhook's deliveries, newest first, each with every attempt made."""
        require(principal, Permission.USERS_READ)
        if status is not None and status not in DELIVERY_STATUSES:
            raise InvalidRequestError(f"status: one of {', '.join(DELIVERY_STATUSES)}")
        async with self._store.unit() as unit:
            hooks = WebhookRepository(unit)
            await self._load(hooks, principal, webhook_id)
            page = await hooks.deliveries_page(webhook_id, status=status, limit=paging.limit,
                                               before_id=paging.before_id, after_id=paging.after_id)
            attempts = await hooks.attempts([d.id for d in page])
            return page_object([delivery_object(d, attempts[d.id]) for d in page], page.has_more)
