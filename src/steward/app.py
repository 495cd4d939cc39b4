"""The composition root: builds every part from one Settings and runs their lifecycle.

Nothing imports this module but the CLI and tests. ``Steward`` is itself the ASGI app: it answers the
lifespan protocol (start-up and shutdown of workers) and hands HTTP to the data plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from steward.access_log import wrap as with_access_log
from steward.asgi import ASGIApp, Receive, Scope, Send
from steward.compliance.chain import build_chains, sealing_for
from steward.compliance.content import KeyRing
from steward.compliance.crypto import master_key_source
from steward.console.app import create_console
from steward.controlplane.api.app import create_admin_app
from steward.controlplane.api.door import AdminDoor
from steward.controlplane.container import AdminServices
from steward.dataplane.batch_budget import BatchBudget
from steward.dataplane.batch_policy import BatchPolicy
from steward.dataplane.batch_routes import BatchHandlers
from steward.dataplane.batches import BatchMeter, run_batch_metering
from steward.dataplane.files import FileOwnership
from steward.dataplane.files_routes import FileHandlers
from steward.dataplane.forward import Forwarder
from steward.dataplane.health import Readiness
from steward.dataplane.http import timed_receive
from steward.dataplane.models import UnlistedModels
from steward.dataplane.otlp_routes import OtlpHandlers
from steward.dataplane.pipeline import Pipeline
from steward.dataplane.router import DataPlane, Pipelines
from steward.dataplane.snapshot import SnapshotStore
from steward.dataplane.spend_recovery import SpendRecovery
from steward.dataplane.stages.authenticate import Authenticate, LastUsed
from steward.dataplane.stages.authorize import Authorize
from steward.dataplane.stages.budget import Budget, alert_record, scope_name
from steward.dataplane.stages.capture import BatchResultsCapture, Capture
from steward.dataplane.stages.file_access import FileAccess
from steward.dataplane.stages.limit import Limit
from steward.dataplane.stages.meter import Meter
from steward.dataplane.stages.privacy import Privacy
from steward.dataplane.stages.record import Record
from steward.dataplane.stages.refusals import FailedAuthLimit
from steward.dataplane.stages.validate import Validate
from steward.dataplane.upstream import AiohttpUpstream, Upstream
from steward.governance.buckets import InProcessLimiter, Limiter
from steward.governance.budgets import Budgets, InProcessBudgets
from steward.governance.catalog import Catalog
from steward.governance.catalog_source import CatalogSource
from steward.governance.pii import build_registry
from steward.reporting.otlp import OtlpIngester
from steward.settings import Settings
from steward.storage.engine import Database
from steward.storage.health import StartupWait, ping
from steward.storage.repositories.batches import BatchRepository
from steward.storage.repositories.catalog import CatalogRepository
from steward.storage.repositories.claude_code import ClaudeCodeRepository
from steward.storage.repositories.console import ConsoleRepository
from steward.storage.repositories.files import FileRepository
from steward.storage.repositories.governance import ContentRepository
from steward.storage.repositories.identity import IdentityRepository
from steward.storage.repositories.policies import PolicyRepository
from steward.storage.repositories.records import RecordsRepository
from steward.storage.repositories.spend import SpendRecords
from steward.storage.repositories.webhooks import DeliveryRepository
from steward.tasks import pause, spawn, stop_if_cancelled
from steward.workers.journal import Journal
from steward.workers.retention import RetentionWorker
from steward.workers.sealer import Sealer
from steward.workers.shipper import Shipper
from steward.workers.webhooks import WebhookDispatcher

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("steward")
STOP_GRACE_SECONDS = 5.0  # how long shutdown lets a background round finish before cancelling it


class Steward:
    """The gateway process: parts, background workers, and the ASGI entry point."""

    def __init__(self, settings: Settings, *, upstream: Upstream | None = None) -> None:
        self.settings = settings
        self.catalog = Catalog.load_default()
        self.database = Database(settings.resolved_database_url())
        sessions = self.database.sessions
        self.identity = IdentityRepository(sessions)
        self.records = RecordsRepository(sessions, self.database.dialect)
        self.batch_repo = BatchRepository(sessions)
        self.file_repo = FileRepository(sessions)
        self.file_ownership = FileOwnership(self.file_repo)
        self.content = ContentRepository(sessions)
        self._master = master_key_source(settings)  # loaded on first use
        self.data_keys = KeyRing(self.content, self._master)  # full-audit content sealing
        self.snapshots = SnapshotStore(self.identity, settings.snapshot_poll_interval,
                                       PolicyRepository(sessions), CatalogRepository(sessions))
        self.last_used = LastUsed()
        self.upstream: Upstream = upstream or AiohttpUpstream(
            settings.upstream_url, [k.get_secret_value() for k in settings.upstream_api_keys],
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout, pool_size=settings.upstream_pool_size)
        counters = shared_redis(settings)  # one client: one auto-pipeline for both stores' round trips
        self.limiter: Limiter = build_limiter(settings, counters)
        self.budgets: Budgets = build_budgets(settings, counters)
        self.journal: Journal | None = None
        self.shipper: Shipper | None = None
        self.readiness: Readiness | None = None
        self._app: ASGIApp | None = None  # the data plane, behind the access log when it is on
        self._record: Record | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop: asyncio.Event | None = None  # set at shutdown: the background loops end between rounds
        self.settling: list[Limit | Budget] = []  # stages whose settlements shutdown awaits

    def _build(self, journal: Journal) -> DataPlane:
        forwarded = tuple(h.lower() for h in self.settings.forward_request_headers
                          if h.lower() not in ("x-api-key", "authorization"))
        record = self._record = Record(journal)  # prices come from the snapshot's catalog (Meter)
        capture = Capture(self.data_keys, journal)
        auth = Authenticate(self.snapshots, self.last_used, FailedAuthLimit(self.settings.unauthenticated_per_minute))
        meter = Meter(self.snapshots, journal.append)  # journal: the catalog.unpriced_model audit event
        authorize = Authorize(self._catalog_now, unknown_models=self.settings.unknown_models)
        files = FileAccess(self.file_ownership)  # file_id references must name the workspace's own files
        privacy = Privacy(build_registry(self.settings.pii_engine))
        limit = Limit(self.snapshots, self.catalog, self.limiter, prefix=self.settings.redis_key_prefix,
                      default_wait=self.settings.rate_limit_max_wait)
        budget = Budget(self.snapshots, self.budgets,
                        lambda entry, crossing, cost: journal.append(alert_record(
                            entry, crossing, cost, scope_name(self.snapshots.current, entry))),
                        prefix=self.settings.redis_key_prefix,
                        recovery=SpendRecovery(journal.directory, SpendRecords(self.database.sessions),
                                                self.snapshots.owner_of),
                        lease_seconds=self.settings.spend_lease_seconds,
                        origin=f"{socket.gethostname()}:{journal.directory.resolve()}")
        batch_limit = Limit(self.snapshots, self.catalog, self.limiter, prefix=self.settings.redis_key_prefix,
                            batches=True)
        self.settling = [limit, batch_limit, budget]
        pipelines = Pipelines(
            # The contract's order: authenticate, validate, authorize, file access (file_id references), privacy
            # (PII), limit, meter, budget, capture (compliance content), record.
            messages=Pipeline([auth, Validate(), authorize, files, privacy, limit, meter, budget, capture, record]),
            count_tokens=Pipeline([auth, Validate(count_tokens=True),
                                   Authorize(self._catalog_now, unknown_models=self.settings.unknown_models,
                                             models_only=True), files, privacy, record]),
            plain=Pipeline([auth, record]),
            batches=Pipeline([auth, files, batch_limit,
                              Capture(self.data_keys, journal, endpoints=frozenset({"batches.create"})), record]))
        batch_budget = BatchBudget(budget, self._catalog_now)  # batches reserve under the same spend caps
        self.batch_meter = BatchMeter(self._catalog_now, journal, self.batch_repo,
                                      BatchResultsCapture(self.data_keys, journal, self.snapshots),
                                      settle=batch_budget.settle, prepare=batch_budget.prepare)
        self.batch_handlers = BatchHandlers(
            self.upstream, self.batch_repo, self._catalog_now, self.batch_meter, forwarded,
            self.snapshots, BatchPolicy(authorize, privacy), budget=batch_budget,
            forward_unknown=self.settings.unknown_models == "forward", journal=journal.append,
            public_url=self.settings.public_url)
        batches = self.batch_handlers
        services = AdminServices.build(self.database, self.settings)
        admin = create_admin_app(services)
        admin.mount("/console", create_console(services, ConsoleRepository(self.database.sessions), self.settings))
        otlp = OtlpHandlers(OtlpIngester(ClaudeCodeRepository(self.database.sessions, self.database.dialect),
                                         self.settings.max_body_bytes))
        return DataPlane(pipelines, Forwarder(self.upstream, forwarded), batches,
                         self._catalog_now, max_body=self.settings.max_body_bytes,
                         max_batch_body=self.settings.max_batch_body_bytes,
                         fallback=AdminDoor(admin, max_body=self.settings.max_admin_body_bytes), otlp=otlp,
                         files=FileHandlers(self.upstream, self.file_repo, self.file_ownership,
                                            forwarded, max_file_bytes=self.settings.max_file_bytes),
                         health=self.readiness,
                         unlisted=UnlistedModels(self.upstream, forwarded)
                         if self.settings.unknown_models == "forward" else None)

    def _catalog_now(self) -> Catalog:
        """The model catalog in force: the snapshot's (newest stored version, statuses as of today)."""
        return self.snapshots.current.catalog

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._stop is None:
            self._stop = asyncio.Event()
        self._tasks.append(spawn(coro, self._stop))

    async def _first_load(self) -> None:
        """The snapshot and the content keys, which need the database. A process started while it does not answer
        (an outage, a failover, a worker replaced mid-outage) retries for ``STEWARD_STARTUP_DATABASE_WAIT`` seconds
        before failing: uvicorn stops every worker when one fails to start, so failing at once turned a database
        blip during a worker's restart into the whole server's exit (a chaos run, seed 441207)."""
        wait = StartupWait(self.settings.startup_database_wait)
        while True:
            try:
                await self.snapshots.refresh()
                await self.data_keys.load()
                return
            except Exception as exc:
                pause = wait.pause_after(exc)
                if pause is None:
                    raise
                await asyncio.sleep(pause)

    async def startup(self) -> None:
        """Load the snapshot, open the journal, ship leftovers, start the workers."""
        await self._first_load()
        if not self.snapshots.current.organizations:
            log.warning("no organization in this database yet: run `steward init` (then create workspaces and keys)")
        journal_dir = self.settings.resolved_journal_dir()
        self.journal = Journal(journal_dir, fsync=self.settings.journal_fsync)
        self.readiness = build_readiness(self.settings, self.database, self.snapshots)
        self._app = with_access_log(self._build(self.journal), self.settings.access_log)
        if self.settings.journal_ship_inline:
            self.shipper = Shipper(journal_dir, self.records, interval=self.settings.journal_ship_interval,
                                   batch_size=self.settings.journal_batch_size,
                                   ping=lambda: ping(self.database.engine, 2.0),
                                   catalogs=CatalogSource(CatalogRepository(self.database.sessions)),
                                   sealing=sealing_for)
            await self.shipper.ship_once()
        # Everything allocated so far lives for the whole process: move it out of the collector's sight so
        # that full collections under load stay short (they otherwise stall requests for milliseconds).
        gc.collect()
        gc.freeze()
        self._spawn(self.snapshots.run())
        if self.shipper is not None:
            self._spawn(self.shipper.run())
        self._spawn(self._flush_last_used_forever())
        self.webhooks = WebhookDispatcher(DeliveryRepository(self.database.sessions, self.database.dialect),
                                          allow_private=self.settings.webhook_allow_private,
                                          master=self._master)
        self._spawn(self.webhooks.run())
        if self.settings.journal_ship_inline:  # else `steward ship` seals, beside the shipper
            self.sealer = Sealer(build_chains(self.settings, self.database),
                                 interval=self.settings.audit_seal_interval)
            self._spawn(self.sealer.run())
        self._spawn(RetentionWorker(self.content, self.settings.home / "retention.lock",
                                    interval=self.settings.retention_interval).run())
        self._spawn(run_batch_metering(self.batch_meter, self.upstream, self.batch_repo,
                                       {"anthropic-version": "2023-06-01"},
                                       self.settings.batch_meter_interval, self.batch_handlers.retry_unrecorded))

    async def flush_last_used(self) -> None:
        pending = self.last_used.drain()
        try:
            await self.identity.record_last_used({k: datetime.fromtimestamp(v, UTC) for k, v in pending.items()})
        except BaseException:  # kept for the next flush (a newer use since the drain wins)
            self.last_used.restore(pending)
            raise

    async def _flush_last_used_forever(self) -> None:
        while True:
            await pause(self.settings.key_last_used_flush_interval)
            try:
                await self.flush_last_used()
            except Exception:  # fail-safe by design: last-used times are advisory
                stop_if_cancelled()
                log.exception("flushing keys' last-used times failed")

    async def shutdown(self) -> None:
        """Stop workers, ship what is left, close connections."""
        if self._stop is not None and self._tasks:  # the loops end at their next pause, between rounds
            self._stop.set()
            await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
        for task in self._tasks:  # a round still running after the grace period is cancelled
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.shipper is not None:
            with contextlib.suppress(Exception):
                await self.shipper.ship_once()
            self.shipper.release()
        with contextlib.suppress(Exception):
            await self.flush_last_used()
        await self.upstream.close()
        for stage in self.settling:  # settlements still running finish before their stores close
            await stage.drain()
        await self.limiter.close()
        await self.budgets.close()
        if self._record is not None:
            self._record.flush(float("inf"))  # the open windows' unauthenticated-refusal summaries
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self.readiness is not None:
            await self.readiness.close()
        await self.database.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._app is None:
            raise RuntimeError("Steward received a request before start-up")
        if scope["type"] == "http":  # a client pausing within its body is refused (408), everywhere
            receive = timed_receive(receive, self.settings.body_timeout)
        await self._app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_readiness(settings: Settings, database: Database, snapshots: SnapshotStore) -> Readiness:
    """``/readyz`` and the journal metrics (dataplane/health.py); the snapshot may lag ten polls (at least 5 s)."""
    redis = None
    if settings.redis_url is not None:
        from steward.storage.redis_client import connect

        redis = connect(settings.redis_url, max_connections=2)
    return Readiness(settings.resolved_journal_dir(), database=lambda: ping(database.engine, 1.0),
                     snapshot_checked_at=lambda: snapshots.checked_at,
                     snapshot_max_age=max(5.0, 10 * settings.snapshot_poll_interval),
                     max_lag=settings.journal_max_lag, shipper_timeout=settings.journal_shipper_timeout,
                     redis=redis, snapshot_version=lambda: snapshots.current.version)


def shared_redis(settings: Settings) -> Redis | None:
    """The Redis client the rate limits and spend counters share (None without ``STEWARD_REDIS_URL``): their
    calls of one event-loop turn go out as one pipeline (``storage/redis_client.AutoPipeline``)."""
    if settings.redis_url is None:
        return None
    from steward.storage.redis_client import connect

    return connect(settings.redis_url)


def build_limiter(settings: Settings, redis: Redis | None = None) -> Limiter:
    """Redis-backed limits when ``STEWARD_REDIS_URL`` is set (shared by every process), else in process."""
    if settings.redis_url is None:
        return InProcessLimiter()
    from steward.storage.redis_client import connect
    from steward.storage.redis_limiter import RedisLimiter

    return RedisLimiter(redis or connect(settings.redis_url), fail_open=settings.rate_limit_fail_open)


def build_budgets(settings: Settings, redis: Redis | None = None) -> Budgets:
    """Spend counters in Redis when ``STEWARD_REDIS_URL`` is set (exact across instances), else in process."""
    if settings.redis_url is None:
        return InProcessBudgets()
    from steward.storage.redis_budgets import RedisBudgets
    from steward.storage.redis_client import connect

    return RedisBudgets(redis or connect(settings.redis_url), fail_open=settings.rate_limit_fail_open)


def create_app(settings: Settings | None = None) -> Steward:
    """Build the gateway from settings (the environment when none are given)."""
    return Steward(settings or Settings())
