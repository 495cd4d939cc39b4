"""The webhook dispatcher against a real receiver on a local socket: signed deliveries, retries with backoff,
giving up, exactly-once with two dispatchers, and only events newer than the webhook."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web
from sqlalchemy import select, update

from steward.compliance.crypto import MasterKey
from steward.controlplane.organization import OrganizationService
from steward.controlplane.principal import Principal, system_principal
from steward.controlplane.webhooks import WebhookService
from steward.dataplane.snapshot import SpendEntry
from steward.dataplane.stages.budget import alert_record
from steward.errors import InvalidRequestError
from steward.governance.budgets import Counter, Crossing
from steward.ids import new_id
from steward.netguard import forbidden_address
from steward.storage.engine import Database
from steward.storage.models import Webhook, WebhookAttempt, WebhookDelivery
from steward.storage.repositories.admin import AdminStore
from steward.storage.repositories.records import RecordsRepository
from steward.storage.repositories.webhooks import DeliveryRepository
from steward.workers.webhooks import WebhookDispatcher

MASTER = MasterKey(os.urandom(32))


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    verified: bool
    at: float
    status: int


@dataclass
class Receiver:
    """An HTTP endpoint that checks every signature and answers ``failures`` errors before succeeding."""

    secrets: dict[str, str] = field(default_factory=dict)   # webhook id -> signing secret
    failures: int = 0
    fail_status: int = 500
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        webhook_id = request.headers["steward-webhook-id"]
        parts = dict(p.split("=", 1) for p in request.headers["steward-signature"].split(","))
        expected = hmac.new(self.secrets[webhook_id].encode(), f"{parts['t']}.".encode() + raw,
                            hashlib.sha256).hexdigest()
        verified = (hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 60
                    and request.headers["content-type"] == "application/json")
        status = 200
        if self.failures > 0:
            self.failures -= 1
            status = self.fail_status
        self.received.append(Received(webhook_id, orjson.loads(raw), verified, time.monotonic(), status))
        return web.Response(status=status, text="ok" if status == 200 else "try later")

    def delivered(self) -> list[Received]:
        return [r for r in self.received if r.status == 200]


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rx.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rx.url = f"http://{host}:{port}/hook"
    try:
        yield rx
    finally:
        await runner.cleanup()


@dataclass
class World:
    db: Database
    records: RecordsRepository
    service: WebhookService
    admin: Principal

    async def webhook(self, rx: Receiver, events: list[str], url: str | None = None) -> str:
        created = await self.service.create(self.admin, url or rx.url, events)
        rx.secrets[created["id"]] = created["secret"]
        return str(created["id"])

    async def alert(self, threshold: int = 80, created_at: datetime | None = None) -> str:
        entry = SpendEntry(id=new_id("spl"), org_id=self.admin.org_id, scope="workspace", scope_id="wrkspc_x",
                           period="monthly", cap_picousd=10**14, hard=True, thresholds=(50, 80, 95))
        row = alert_record(entry, Crossing(Counter("stw:k", 10**14, 60.0), threshold), 12345)["audit"]
        row["created_at"] = created_at or datetime.fromisoformat(row["created_at"])
        await self.records.insert([], [row])
        return str(row["id"])

    async def api_call(self) -> None:
        row = {"id": new_id("activity"), "created_at": datetime.now(UTC), "event": "api_call",
               "org_id": self.admin.org_id, "request_id": new_id("req"), "workspace_id": None, "api_key_id": None,
               "actor": None, "model": None, "input_tokens": None, "output_tokens": None, "tools_used": None,
               "stop_reason": None, "latency_ms": 1, "status": 200, "decision": "allowed", "reason": None,
               "data": None}
        await self.records.insert([], [row])

    async def deliveries(self) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
        async with self.db.sessions() as session:
            found = (await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id))).scalars().all()
            attempts = (await session.execute(select(WebhookAttempt).order_by(WebhookAttempt.attempt))).scalars()
            by_delivery: dict[str, list[WebhookAttempt]] = {}
            for attempt in attempts:
                by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
        return [(d, by_delivery.get(d.id, [])) for d in found]


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    db = Database(database_url)
    store = AdminStore(db.sessions)
    org = (await OrganizationService(store).init("Hooks Org", "admin@hooks.example")).organization
    try:
        # The receivers listen on 127.0.0.1: inside the network, as STEWARD_WEBHOOK_ALLOW_PRIVATE allows.
        yield World(db, RecordsRepository(db.sessions, db.dialect), WebhookService(store, master=lambda: MASTER,
                                                                                  allow_private=True),
                    system_principal(org.id, "test"))
    finally:
        await db.close()


def dispatcher(world: World, **options: Any) -> WebhookDispatcher:
    options = {"interval": 0.01, "base_delay": 0.05, "timeout": 2.0, "allow_private": True,
               "master": lambda: MASTER, **options}
    return WebhookDispatcher(DeliveryRepository(world.db.sessions, world.db.dialect), **options)


async def settle(worker: WebhookDispatcher, done: Any) -> None:
    """Run rounds until ``done()`` holds."""
    deadline = time.monotonic() + 10
    while not await done():
        assert time.monotonic() < deadline, "the dispatcher did not get there in time"
        await worker.deliver_once()
        await asyncio.sleep(0.01)


async def test_a_spend_alert_is_delivered_once_and_signed(world: World) -> None:
    async with receiver() as rx:
        hook = await world.webhook(rx, ["spend.alert"])
        event_id = await world.alert(threshold=80)
        await world.api_call()  # never delivered, whatever the subscription
        worker = dispatcher(world)
        try:
            assert await worker.deliver_once() == 1
            for _ in range(3):  # later rounds find nothing new
                assert await worker.deliver_once() == 0
        finally:
            await worker.close()
    [got] = rx.received
    assert got.verified and got.webhook_id == hook and got.status == 200
    assert got.body["type"] == "spend.alert" and got.body["created_at"].endswith("Z")
    assert got.body["data"]["audit_event_id"] == event_id and got.body["data"]["org_id"] == world.admin.org_id
    assert got.body["data"]["details"]["threshold"] == 80 and got.body["data"]["details"]["cap_usd"] == "100.00"
    assert rx.secrets[hook] not in orjson.dumps(got.body).decode()
    [(delivery, attempts)] = await world.deliveries()
    assert got.body["id"] == delivery.id and delivery.event_id == event_id
    assert delivery.status == "delivered" and delivery.attempts == 1 and delivery.completed_at is not None
    assert [(a.attempt, a.status_code, a.error, a.next_attempt_at) for a in attempts] == [(1, 200, None, None)]


async def test_failures_are_retried_with_backoff_and_recorded(world: World) -> None:
    async with receiver() as rx:
        await world.webhook(rx, ["spend.*"])
        rx.failures = 3
        await world.alert()
        worker = dispatcher(world)
        try:
            await settle(worker, lambda: _status_is(world, "delivered"))
        finally:
            await worker.close()
    assert [r.status for r in rx.received] == [500, 500, 500, 200] and all(r.verified for r in rx.received)
    assert len({r.body["id"] for r in rx.received}) == 1  # one delivery id, the same on every attempt
    gaps = [b.at - a.at for a, b in zip(rx.received, rx.received[1:], strict=False)]
    assert all(gap >= 0.05 * 2**i / 2 for i, gap in enumerate(gaps)), gaps  # at least half of each doubling
    [(delivery, attempts)] = await world.deliveries()
    assert delivery.attempts == 4 and delivery.last_status_code == 200 and delivery.last_error is None
    assert [a.status_code for a in attempts] == [500, 500, 500, 200]
    assert all(a.error and a.error.startswith("HTTP 500") for a in attempts[:3]) and attempts[3].error is None
    for i, attempt in enumerate(attempts[:3]):
        assert attempt.next_attempt_at is not None
        wait = (attempt.next_attempt_at - attempt.started_at).total_seconds()
        assert 0.05 * 2**i / 2 <= wait <= 0.05 * 2**i + 1.0, (i, wait)
    assert attempts[3].next_attempt_at is None


async def test_permanent_failure_after_max_attempts(world: World) -> None:
    async with receiver() as rx:
        await world.webhook(rx, ["spend.alert"])
        unreachable = await world.webhook(rx, ["spend.alert"], url="http://127.0.0.1:9/hook")  # discard port
        rx.failures, rx.fail_status = 10**6, 503
        await world.alert()
        worker = dispatcher(world, max_attempts=3)
        try:
            await settle(worker, lambda: _status_is(world, "failed", count=2))
            for _ in range(5):  # given up: no further attempts
                assert await worker.deliver_once() == 0
        finally:
            await worker.close()
    assert [r.status for r in rx.received] == [503, 503, 503]
    for delivery, attempts in await world.deliveries():
        assert delivery.status == "failed" and delivery.attempts == 3 and len(attempts) == 3
        assert attempts[-1].next_attempt_at is None and delivery.next_attempt_at is None
        if delivery.webhook_id == unreachable:
            assert all(a.status_code is None and a.error for a in attempts)
        else:
            assert delivery.last_status_code == 503


async def test_a_client_error_is_not_retried(world: World) -> None:
    async with receiver() as rx:
        await world.webhook(rx, ["spend.alert"])
        rx.failures, rx.fail_status = 1, 410
        await world.alert()
        worker = dispatcher(world)
        try:
            await settle(worker, lambda: _status_is(world, "failed"))
            assert await worker.deliver_once() == 0
        finally:
            await worker.close()
    assert [r.status for r in rx.received] == [410]


async def test_two_dispatchers_deliver_each_event_exactly_once(world: World, database_url: str) -> None:
    other = Database(database_url)
    async with receiver() as rx:
        hooks = [await world.webhook(rx, ["spend.alert"]), await world.webhook(rx, ["*"])]
        rx.failures = 6  # some retries too, which both dispatchers see as due
        events = [await world.alert(threshold=i) for i in range(1, 16)]
        workers = [dispatcher(world), WebhookDispatcher(DeliveryRepository(other.sessions, other.dialect),
                                                        interval=0.01, base_delay=0.05, allow_private=True,
                                                        master=lambda: MASTER)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            for _ in range(400):  # up to 20 s
                if len(rx.delivered()) >= len(hooks) * len(events) + 1:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # time for a duplicate to show up, if there were one
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await other.close()
    pairs = [(r.webhook_id, r.body["data"]["audit_event_id"]) for r in rx.delivered()]
    assert len(pairs) == len(set(pairs))  # nothing delivered twice
    alerts = [p for p, r in zip(pairs, rx.delivered(), strict=True) if r.body["type"] == "spend.alert"]
    assert sorted(alerts) == sorted((h, e) for h in hooks for e in events)
    assert len(pairs) == len(alerts) + 1  # and "*" also had its own creation (an admin event)
    assert len(rx.received) == len(pairs) + 6
    deliveries = await world.deliveries()
    assert len(deliveries) == len(pairs) and all(d.status == "delivered" for d, _ in deliveries)
    assert sum(len(a) for _, a in deliveries) == len(rx.received)  # every attempt recorded, once


async def test_only_events_newer_than_the_webhook_are_delivered(world: World) -> None:
    async with receiver() as rx:
        old = await world.alert(created_at=datetime.now(UTC) - timedelta(minutes=5))
        hook = await world.webhook(rx, ["spend.alert", "admin.webhooks.*"])
        new = await world.alert()
        worker = dispatcher(world)
        try:
            assert await worker.deliver_once() == 2  # the alert and the webhook's own creation
            await world.service.update(world.admin, hook, {"active": False})
            while_off = await world.alert()
            assert await worker.deliver_once() == 0
            await world.service.update(world.admin, hook, {"active": True})
            assert await worker.deliver_once() == 1  # the re-activation only
            assert await worker.deliver_once() == 0
        finally:
            await worker.close()
    assert all(r.verified for r in rx.received)
    got = [(r.body["type"], r.body["data"]["audit_event_id"]) for r in rx.received]
    assert ("spend.alert", new) in got
    assert old not in {e for _, e in got} and while_off not in {e for _, e in got}
    # Its own creation and re-activation are admin events newer than the webhook; the switch-off is not sent
    # because it happened while the webhook was off.
    assert sorted(t for t, _ in got) == ["admin.webhooks.create", "admin.webhooks.update", "spend.alert"]


async def test_run_survives_a_broken_database(tmp_path: Any) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'not-migrated.db'}")  # no tables: every round fails
    worker = WebhookDispatcher(DeliveryRepository(db.sessions, db.dialect), interval=0.01, allow_private=True,
                               master=lambda: MASTER)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await db.close()


async def _status_is(world: World, status: str, count: int = 1) -> bool:
    found = await world.deliveries()
    return len(found) == count and all(d.status == status for d, _ in found)


async def test_webhooks_never_reach_inward_addresses_by_default(world: World) -> None:
    """Webhook URLs could point at loopback, private or link-local addresses (cloud metadata): an admin key became
    a probe of the gateway's own network (issue 13). By default such a URL is refused when saved, and a name that
    resolves inward is refused when connected to (the check runs at connection time: DNS rebinding too)."""
    guarded = WebhookService(world.service._store, master=lambda: MASTER)
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data", "http://localhost/x",
                "http://[::1]/x", "http://10.1.2.3/x", "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x"):
        with pytest.raises(InvalidRequestError, match="loopback, private or link-local"):
            await guarded.create(world.admin, url, ["spend.alert"])
    assert (await guarded.create(world.admin, "https://hooks.example.com/in", ["spend.alert"], active=False))["id"]
    inward = socket.gethostname()  # a name of this machine: it resolves to a loopback or private address
    if not any(forbidden_address(str(info[4][0])) for info in socket.getaddrinfo(inward, 80)):
        pytest.skip(f"{inward} resolves to a public address here")
    async with receiver() as rx:
        by_name = rx.url.replace("127.0.0.1", inward)
        await world.webhook(rx, ["spend.alert"], url=by_name)  # saved (a name), refused when connected to
        await world.webhook(rx, ["spend.alert"])  # an IP literal saved while allowed, refused when delivered
        await world.alert()
        worker = dispatcher(world, allow_private=False, max_attempts=1)
        try:
            await settle(worker, lambda: _status_is(world, "failed", count=2))
        finally:
            await worker.close()
    assert rx.received == []
    errors = [attempt.error or "" for _, attempts in await world.deliveries() for attempt in attempts]
    assert len(errors) == 2 and all("may not reach" in e for e in errors), errors


async def test_a_secret_stored_in_clear_by_an_earlier_version_is_sealed_and_still_signs(world: World) -> None:
    """Issue 13: signing secrets were stored in clear. A dispatcher starting finds such rows, seals them under the
    master key, and deliveries keep verifying with the secret the receiver was given."""
    legacy = "whsec_" + "L" * 43
    async with receiver() as rx:
        hook = await world.webhook(rx, ["spend.alert"])
        async with world.db.sessions.begin() as session:
            await session.execute(update(Webhook).where(Webhook.id == hook).values(secret=legacy))
        rx.secrets[hook] = legacy
        worker = dispatcher(world)
        task = asyncio.create_task(worker.run())
        try:
            await world.alert(threshold=50)
            deadline = time.monotonic() + 10
            while not rx.delivered():
                assert time.monotonic() < deadline, "not delivered"
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert rx.delivered()[0].verified
    async with world.db.sessions() as session:
        stored = await session.scalar(select(Webhook.secret).where(Webhook.id == hook))
    assert stored is not None and stored.startswith("sealed:v1:") and legacy not in stored


async def test_a_secret_that_does_not_open_is_a_failed_attempt_not_a_silent_stall(world: World) -> None:
    """The adversary: a gateway started with another master key could not open the signing secrets, and every
    delivery stayed pending with no attempt, no error and no end. Now each try is an attempt that says why."""
    async with receiver() as rx:
        hook = await world.webhook(rx, ["spend.alert"])
        await world.alert(threshold=80)
        worker = dispatcher(world, master=lambda: MasterKey(os.urandom(32)), max_attempts=2, base_delay=0.01)
        try:
            await settle(worker, lambda: _status_is(world, "failed"))
        finally:
            await worker.close()
    assert not rx.received
    [(delivery, attempts)] = await world.deliveries()
    assert delivery.webhook_id == hook and len(attempts) == 2
    assert all("master key" in (a.error or "") for a in attempts)
