"""Delivers audit events (spend alerts, admin actions) to subscribed webhooks: signed, retried with backoff
and jitter, every attempt recorded. Any number of processes may run it: an event is claimed (a unique
(webhook, event) row) before it is sent. Events are found in a recent window (``lookback``), not behind a
cursor, because the journal may ship an event well after it was created. ``run`` never raises.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from steward.compliance.crypto import SEALED_PREFIX, CryptoError, MasterKey, open_secret, seal_secret
from steward.ids import new_id
from steward.netguard import forbidden_host, resolver_kwargs
from steward.storage.models import AuditEvent, Webhook
from steward.storage.repositories.webhooks import DeliveryRepository, Job, Outcome
from steward.tasks import pause, stop_if_cancelled

log = logging.getLogger("steward.webhooks")
USER_AGENT = "Steward-Webhooks/1"
# Audit data is scrubbed when written; this second pass keeps a secret out of a POST to a third party even if a
# future event forgets to.
_SECRET_FIELDS = frozenset({"secret", "token", "key_hash", "token_hash", "previous_key_hash", "password"})
_RETRIED = frozenset({408, 425, 429})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``steward-signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _scrubbed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _scrubbed(v) for k, v in value.items() if k not in _SECRET_FIELDS}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payload(delivery_id: str, event: AuditEvent) -> bytes:
    """The JSON body POSTed for ``event``: the same bytes on every attempt of a delivery."""
    data = {"audit_event_id": event.id, "org_id": event.org_id, "workspace_id": event.workspace_id,
            "api_key_id": event.api_key_id, "request_id": event.request_id, "actor": event.actor,
            "decision": event.decision, "reason": event.reason, "details": _scrubbed(event.data or {})}
    return orjson.dumps({"id": delivery_id, "type": event.event, "created_at": _utc(event.created_at),
                         "data": data})


class WebhookDispatcher:
    """Finds, claims, signs, POSTs and records webhook deliveries (``run`` forever, or ``deliver_once``)."""

    def __init__(self, repo: DeliveryRepository, *, interval: float = 1.0, max_attempts: int = 6,
                 base_delay: float = 1.0, max_delay: float = 3600.0, timeout: float = 5.0,
                 lookback: float = 86400.0, batch_size: int = 100, concurrency: int = 8,
                 allow_private: bool = False, master: Callable[[], MasterKey]) -> None:
        self._repo = repo
        self._master = master  # opens the stored signing secrets (sealed: compliance/crypto.py)
        self._allow_private = allow_private  # STEWARD_WEBHOOK_ALLOW_PRIVATE (netguard.py)
        self._interval = interval
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = timeout
        # A claimed attempt holds its delivery this long; past it, another process may take the delivery over.
        self._lease = timedelta(seconds=timeout + 30.0)
        self._lookback = timedelta(seconds=lookback)
        self._batch = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._http: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        """Deliver forever, every ``interval`` seconds; errors are logged and the next round tries again. First,
        signing secrets stored in clear by an earlier version are sealed."""
        try:
            try:
                sealed = await self._repo.seal_plain_secrets(
                    SEALED_PREFIX, lambda webhook_id, secret: seal_secret(self._master(), webhook_id, secret))
                if sealed:
                    log.info("sealed %d webhook signing secret(s) stored in clear", sealed)
            except Exception:  # fail-safe by design: they stay readable and are sealed at the next start
                stop_if_cancelled()
                log.exception("sealing webhook secrets stored in clear failed")
            while True:
                try:
                    await self.deliver_once()
                except Exception:  # fail-safe by design: undelivered events stay claimable for the next round
                    stop_if_cancelled()
                    log.exception("webhook delivery round failed")
                await pause(self._interval)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def deliver_once(self) -> int:
        """One round: claim and attempt what is new or due. Returns the number of attempts made."""
        now = datetime.now(UTC)
        new: list[tuple[Webhook, AuditEvent]] = []
        for hook in await self._repo.active_webhooks():
            since = max(hook.deliver_since, now - self._lookback)
            new += [(hook, event) for event in await self._repo.undelivered(hook, since, self._batch)]
        due = await self._repo.due(now, self._batch)
        made = await asyncio.gather(*(self._attempt_new(hook, event) for hook, event in new),
                                    *(self._attempt_due(d.id, d.attempts, hook, event) for d, hook, event in due),
                                    return_exceptions=True)  # one failed claim must not hide the others' results
        for failure in (m for m in made if isinstance(m, BaseException)):
            log.error("claiming a webhook delivery failed", exc_info=failure)
        return sum(m for m in made if isinstance(m, int))

    async def _attempt_new(self, webhook: Webhook, event: AuditEvent) -> int:
        async with self._slots:
            delivery_id = new_id("whdlv")
            now = datetime.now(UTC)
            claimed = await self._repo.claim({
                "id": delivery_id, "webhook_id": webhook.id, "event_id": event.id, "event": event.event,
                "status": "pending", "attempts": 1, "next_attempt_at": now + self._lease,
                "created_at": now})
            if not claimed:
                return 0
            return await self._attempt(Job(delivery_id, 1, webhook, event))

    async def _attempt_due(self, delivery_id: str, attempts: int, webhook: Webhook, event: AuditEvent) -> int:
        async with self._slots:
            now = datetime.now(UTC)
            if attempts >= self._max_attempts:  # the last attempt's process stopped before it reported
                await self._repo.abandon(delivery_id, attempts, now, "the last attempt never reported back")
                return 0
            if not await self._repo.reclaim(delivery_id, attempts, now, now + self._lease):
                return 0
            return await self._attempt(Job(delivery_id, attempts + 1, webhook, event))

    async def _attempt(self, job: Job) -> int:
        try:
            outcome = await self._post(job)
            await self._repo.record(job, outcome)
        except Exception:  # fail-safe by design: the lease runs out and another round retries the delivery
            stop_if_cancelled()
            log.exception("webhook delivery %s attempt %d could not be completed", job.delivery_id, job.attempt)
        return 1

    async def _post(self, job: Job) -> Outcome:
        body = payload(job.delivery_id, job.event)
        try:
            secret = open_secret(self._master(), job.webhook.id, job.webhook.secret)
        except CryptoError as exc:  # a failed attempt the deliveries list shows, retried and then failed as usual
            log.error("webhook %s: %s", job.webhook.id, exc)
            return self._outcome(job.attempt, datetime.now(UTC), 0, None,
                                 f"{exc} (was STEWARD_MASTER_KEY changed? the secret cannot sign)", None)
        headers = {"content-type": "application/json", "user-agent": USER_AGENT,
                   "steward-webhook-id": job.webhook.id,
                   "steward-signature": sign(secret, int(time.time()), body)}
        started, clock = datetime.now(UTC), time.monotonic()
        status: int | None = None
        retry_after: float | None = None
        error: str | None = None
        try:
            host = urlsplit(job.webhook.url).hostname or ""
            if not self._allow_private and forbidden_host(host):  # an IP literal skips the resolver
                raise OSError(f"{host} is an address webhooks may not reach (loopback, private, link-local); "
                              "set STEWARD_WEBHOOK_ALLOW_PRIVATE to allow it")
            async with self._client().post(job.webhook.url, data=body, headers=headers,
                                           allow_redirects=False) as response:
                status = response.status
                retry_after = _seconds(response.headers.get("retry-after"))
                if not 200 <= status < 300:  # a little of the answer helps whoever reads the record
                    error = f"HTTP {status}: {(await response.content.read(200)).decode(errors='replace')}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
        duration = int((time.monotonic() - clock) * 1000)
        return self._outcome(job.attempt, started, duration, status, error, retry_after)

    def _outcome(self, attempt: int, started: datetime, duration: int, status: int | None, error: str | None,
                 retry_after: float | None) -> Outcome:
        now = datetime.now(UTC)
        if status is not None and 200 <= status < 300:
            return Outcome(started, duration, status, None, "delivered", None, now)
        retryable = status is None or status >= 500 or status in _RETRIED
        if not retryable or attempt >= self._max_attempts:
            return Outcome(started, duration, status, error, "failed", None, now)
        delay = self.backoff(attempt)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._max_delay))
        return Outcome(started, duration, status, error, "pending", now + timedelta(seconds=delay), None)

    def backoff(self, attempt: int) -> float:
        """Seconds before the attempt after ``attempt``: doubling from ``base_delay``, capped, with half of it
        random (so that receivers coming back from an outage are not hit by every retry at once)."""
        ceiling = min(self._max_delay, self._base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(**resolver_kwargs(self._allow_private))
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout),
                                               connector=connector)
        return self._http


def _seconds(value: str | None) -> float | None:
    """A ``retry-after`` given in seconds (the HTTP-date form is ignored: backoff applies)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
