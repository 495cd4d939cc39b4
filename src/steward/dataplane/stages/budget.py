"""Budget: reserve the worst-case cost against every hard spend limit in force, settle with the real cost.

Reads the snapshot's spend limits for the caller's organization, workspace, API key, the person who created the
key and end user (``metadata.user_id``); reserves atomically (all limits or none) so that no number of concurrent
requests or instances can push spend past a hard cap; refuses with Anthropic's answer for a self-set limit (400
``invalid_request_error``), worded by ``budget_refusal``: which cap, spent or too small for the worst case, and
how to fit. On completion moves the reservation to the real
cost and reports each alert threshold crossed, once per period. An unpriced model (docs/catalog.md) reserves at the
catalog's most expensive rates and settles at 0. Cost with no limit: five dict lookups.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from steward.dataplane.budget_refusal import Ask, largest_fitting, refusal, room
from steward.dataplane.context import BudgetHold, RequestContext
from steward.dataplane.records import audit_event
from steward.dataplane.snapshot import KeyEntry, Snapshot, SnapshotStore, SpendEntry
from steward.dataplane.spend_recovery import SpendRecovery, Start
from steward.errors import LimitsUnavailableError, StewardError
from steward.governance.budgets import BudgetAdmission, Budgets, Counter, CounterState, Crossing, Lease, Origin
from steward.governance.money import to_picousd, usd
from steward.governance.spend_rules import window, worst_case_picousd
from steward.tasks import stop_if_cancelled

log = logging.getLogger("steward.budget")
# How an alert names a scope kind when it also gives the scope's name ("API key mkt-prod-copy (apikey_...)").
_SCOPE_WORDS = {"organization": "organization", "workspace": "workspace", "api_key": "API key", "person": "person",
                "user": "end user"}
AlertSink = Callable[[SpendEntry, Crossing, int], None]
CACHED_COUNTERS = 100_000


class Budget:
    def __init__(self, snapshots: SnapshotStore, budgets: Budgets, alert: AlertSink, prefix: str = "stw:",
                 recovery: SpendRecovery | None = None, *, lease_seconds: float = 3600.0, origin: str = "") -> None:
        self._snapshots = snapshots
        self._budgets = budgets
        self._alert = alert
        self._prefix = prefix
        self._recovery = recovery  # counter starts that include unshipped spend and batch holds
        # A real-time reservation expires after this lease (a holder killed mid-request holds it no longer);
        # expiries are rounded up to a twelfth of it, so a counter holds about a dozen lease fields.
        self._lease_ms = max(1000, int(lease_seconds * 1000))
        self._bucket_ms = max(1000, self._lease_ms // 12)
        self._origin = origin  # this host's journal: a start from it counts its records (governance.budgets)
        self._initialized: set[str] = set()
        self._initializing = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self._reloading: asyncio.Task[object] | None = None
        # Each limit's counter for the current UTC day (a period never starts within a day): built once a day,
        # not per request. Bounded: cleared at a new day or when it holds more than CACHED_COUNTERS.
        self._day: date | None = None
        self._day_counters: dict[SpendEntry, Counter] = {}

    def _entries(self, ctx: RequestContext) -> list[SpendEntry]:
        return self.entries_for(ctx.key, ctx.user_id)

    def entries_for(self, key: KeyEntry | None, user_id: str | None) -> list[SpendEntry]:
        """The spend limits in force for this key's organization, workspace, key, person (who created the key)
        and end user."""
        if key is None:
            return []
        spend = self._snapshots.current.spend
        if not spend:
            return []
        found: list[SpendEntry] = []
        for where in (("organization", key.org_id), ("workspace", key.workspace_id), ("api_key", key.id),
                      ("person", key.owner or ""), ("user", user_id or "")):
            found.extend(spend.get(where, ()))
        return found

    def _counter(self, entry: SpendEntry, now: datetime) -> Counter:
        day = now.astimezone(UTC).date()
        if day != self._day or len(self._day_counters) > CACHED_COUNTERS:
            self._day, self._day_counters = day, {}
        counter = self._day_counters.get(entry)
        if counter is None:
            counter = self._day_counters[entry] = self._build_counter(entry, now)
        return counter

    def _build_counter(self, entry: SpendEntry, now: datetime) -> Counter:
        span = window(entry.period, now)
        key = f"{self._prefix}{{{entry.org_id}}}:spend:{entry.id}:{span.label}"
        ttl = (span.end - span.start).total_seconds() + 86400
        return Counter(key, max(1, entry.cap_picousd), ttl)

    async def _ensure(self, found: list[tuple[Counter, SpendEntry]], now: datetime) -> None:
        """Create the counters this process has not created yet (first writer wins across processes)."""
        if all(c.key in self._initialized for c, _ in found):
            return
        async with self._initializing:  # one start computation at a time: it reads the journal and the database
            todo = [(c, e) for c, e in found if c.key not in self._initialized]
            if not todo:
                return
            born_ms = _now_ms()  # before the journal is read: a record written earlier is counted by the start
            starts = await self._starts(todo, now)
            if starts is None:  # not started: a hard cap refuses (reserve_raw) until the database answers
                return
            for counter, _ in todo:
                failures = getattr(self._budgets, "unavailable_count", 0)
                start = starts[counter.key]
                await self._budgets.initialize(counter, start.spent, start.reserved, born_ms=born_ms, by=self._origin)
                if getattr(self._budgets, "unavailable_count", 0) == failures:  # remember only a real answer
                    self._initialized.add(counter.key)

    async def _starts(self, todo: list[tuple[Counter, SpendEntry]], now: datetime) -> dict[str, Start] | None:
        """Charges recorded and not shipped yet, and batch holds (``spend_recovery``); None while the database
        does not answer: a start from the snapshot's older spend, kept for the rest of the period, could let a cap
        be overrun (the adversary spent 2.91 cents of a 1-cent cap so). Without recovery (tests of the stage
        alone), from zero."""
        if self._recovery is None:
            return {c.key: Start(0) for c, _ in todo}
        try:
            return await self._recovery.starts([(c.key, e) for c, e in todo], now)
        except Exception:  # fail-safe by design: the database does not answer; hard caps refuse meanwhile
            stop_if_cancelled()
            log.exception("spend counters cannot start: the database did not answer; hard caps refuse until it does")
            return None

    async def counters(self, entries: list[SpendEntry], now: datetime) -> list[tuple[Counter, SpendEntry]]:
        """The counters of ``entries`` for the period containing ``now``, created from stored spend if new."""
        found = [(self._counter(e, now), e) for e in entries]
        await self._ensure(found, now)
        return found

    async def reserve_raw(self, counters: list[Counter], amount: int, field: str | None = None) -> BudgetAdmission:
        """Reserve ``amount`` on every counter or none (the store's all-or-nothing admission), under a lease
        (``field`` None: a real-time request) or held until settled (``HELD``: a batch).

        Counters must exist: one the store lost (Redis restarted empty) would otherwise count from zero and let
        a second cap's worth of spend through. Then the snapshot is refreshed (one refresh shared by every
        request that noticed), the counters are created again from recorded and unshipped spend and batch holds
        (``_starts``) and the reservation retried once; a counter still missing refuses, as a store that cannot
        answer does."""
        now_ms = _now_ms()
        field = field or Lease.expiring(now_ms, self._lease_ms, self._bucket_ms)
        admission = await self._budgets.reserve(counters, amount, existing=True, field=field, now_ms=now_ms)
        if admission.missing is None:
            return admission
        log.warning("spend counter %s is gone from the store; starting it again from recorded and unshipped "
                    "spend and batch holds", admission.missing.key)
        await self._reload()
        entries = {c.key: e for c, e in await self.counters(self._current_entries(counters), datetime.now(UTC))}
        admission = await self._budgets.reserve([c for c in counters if c.key in entries], amount, existing=True,
                                                field=field, now_ms=_now_ms())
        return admission if admission.missing is None else BudgetAdmission(False, (), None)

    def _current_entries(self, counters: list[Counter]) -> list[SpendEntry]:
        """The snapshot's entries behind ``counters`` (fresh loaded spend), by counter key."""
        now = datetime.now(UTC)
        wanted = {c.key for c in counters}
        return [e for e in self.all_entries() if self.counter_key(e, now) in wanted]

    def all_entries(self) -> list[SpendEntry]:
        """Every spend limit in the current snapshot."""
        return [e for entries in self._snapshots.current.spend.values() for e in entries]

    def counter_key(self, entry: SpendEntry, at: datetime) -> str:
        """The storage key of ``entry``'s counter for the period containing ``at``."""
        return self._counter(entry, at).key

    async def _reload(self) -> None:
        """Forget what was initialized and load the recorded spend again (single flight)."""
        if self._reloading is None or self._reloading.done():
            self._initialized.clear()
            self._reloading = asyncio.get_running_loop().create_task(self._snapshots.refresh())
        try:
            await asyncio.shield(self._reloading)
        except Exception:  # fail-safe by design: the database is down; the counters' start refuses meanwhile
            stop_if_cancelled()
            log.warning("could not refresh the snapshot after a spend counter was lost", exc_info=True)

    def refusal(self, admission: BudgetAdmission, hard: list[tuple[Counter, SpendEntry]], now: datetime,
                ask: Ask, *, key: KeyEntry | None = None, fitting: int | None = None) -> StewardError:
        """The API's 400 naming the limit that refused ``ask`` (or the 429 saying the store cannot answer)."""
        return self._refusal(admission, hard, now, ask, key, fitting)

    async def settle(self, counters: list[Counter], hard: list[Counter], amount: int, actual: int,
                     entries: dict[str, SpendEntry], lease: Lease | None = None) -> None:
        """Release ``amount`` from ``hard`` counters (where ``lease`` put it) and add ``actual`` to every counter
        (alerts included); the records behind ``actual`` are journaled already."""
        await self._settle(counters, hard, amount, actual, entries, lease, _now_ms())

    async def on_request(self, ctx: RequestContext) -> None:
        entries = self._entries(ctx)
        if not entries:
            return
        now = datetime.now(UTC)
        counters = await self.counters(entries, now)
        hard = [(c, e) for c, e in counters if e.hard]
        amount = 0
        lease: Lease | None = None
        if hard:
            amount = worst_case_picousd(self._snapshots.current.catalog, ctx.model or "", ctx.payload or {},
                                        ctx.input_estimate(), now,
                                        caching=b'"cache_control"' in ctx.body)
            admission = await self.reserve_raw([c for c, _ in hard], amount)
            if not admission.admitted:
                raise self._request_refusal(ctx, admission, hard, now, amount)
            if not admission.states:  # admitted by the fail-open policy: nothing was reserved to release
                amount = 0
            if admission.lease is not None:  # its births follow the counters reserved (``states``)
                born = {st.counter.key: b for st, b in zip(admission.states, admission.lease.born, strict=False)}
                lease = Lease(admission.lease.field, tuple(born.get(c.key, -1) for c, _ in hard))
        ctx.budget_hold = BudgetHold(tuple(c for c, _ in counters), tuple(c for c, _ in hard), amount,
                                     {c.key: e for c, e in counters}, lease)

    def _request_refusal(self, ctx: RequestContext, admission: BudgetAdmission,
                         hard: list[tuple[Counter, SpendEntry]], now: datetime, amount: int) -> StewardError:
        """A real-time request's refusal, with the largest ``max_tokens`` that every hard cap has room for."""
        payload = ctx.payload or {}
        asked = payload.get("max_tokens")
        max_tokens = asked if isinstance(asked, int) and not isinstance(asked, bool) else 0
        fitting = None
        if admission.states and max_tokens > 1:
            catalog, model, estimate = self._snapshots.current.catalog, ctx.model or "", ctx.input_estimate()
            caching = b'"cache_control"' in ctx.body

            def worst(tokens: int) -> int:
                return worst_case_picousd(catalog, model, {**payload, "max_tokens": tokens}, estimate, now,
                                          caching=caching)
            fitting = largest_fitting(worst, max_tokens, room(admission.states))
        return self._refusal(admission, hard, now, Ask(amount, max_tokens, ctx.model or ""), ctx.key, fitting)

    @staticmethod
    def _refusal(admission: BudgetAdmission, hard: list[tuple[Counter, SpendEntry]], now: datetime, ask: Ask,
                 key: KeyEntry | None, fitting: int | None) -> StewardError:
        refused = admission.refused_by
        if refused is None:  # the rate limiter's answer when its store is down: retryable, with retry-after
            return LimitsUnavailableError("Spend limits cannot be checked right now; try again shortly.",
                                  headers={"retry-after": "1"})
        entry = next(e for c, e in hard if c.key == refused.key)
        state = next((s for s in admission.states if s.counter.key == refused.key), CounterState(refused, 0, 0))
        return refusal(entry, state, ask, now, key=key, fitting=fitting)

    def on_complete(self, ctx: RequestContext) -> None:
        held = ctx.budget_hold
        if held is None:
            return
        cost = ctx.cost or ctx.budget_cost  # an unpriced model: its ceiling cost
        actual = to_picousd(cost.total) if cost is not None else 0
        # Record completes right after this stage, in the same call: its journal line is written within this
        # millisecond, so "written" is taken one millisecond later (a start in between can only count it twice).
        written_ms = _now_ms() + 1
        task = asyncio.get_running_loop().create_task(
            self._settle(list(held.counters), list(held.hard), held.reserved, actual, dict(held.entries),
                         held.lease, written_ms))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for every settlement still running (shutdown calls this before closing the spend store)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _settle(self, counters: list[Counter], hard: list[Counter], amount: int, actual: int,
                      entries: dict[str, SpendEntry], lease: Lease | None, written_ms: int) -> None:
        """Each limit settles on its own (settlement needs no all-or-nothing) with its own thresholds."""
        hard_keys = {c.key for c in hard}
        born = dict(zip((c.key for c in hard), lease.born, strict=False)) if lease is not None else {}
        origin = Origin(self._origin, written_ms)
        for counter in counters:
            entry = entries[counter.key]
            reserved = amount if counter.key in hard_keys else 0
            # Its own lease (its birth when reserved); None: a reservation from before leases.
            own = Lease(lease.field, (born.get(counter.key, -1),)) if lease is not None and reserved else None
            for crossing in await self._budgets.settle([counter], reserved, actual, thresholds=entry.thresholds,
                                                        existing=True, lease=own, origin=origin):
                try:
                    self._alert(entry, crossing, actual)
                except Exception:  # an alert must never break settlement
                    log.exception("could not record a spend alert")


def _now_ms() -> int:
    return int(time.time() * 1000)


def scope_name(snapshot: Snapshot, entry: SpendEntry) -> str | None:
    """The name of a spend limit's scope, for messages people read (None for an end user: it has only its id)."""
    if entry.scope == "workspace":
        found = snapshot.workspaces.get(entry.scope_id)
        return found.name if found is not None else None
    if entry.scope == "organization":
        return snapshot.organizations.get(entry.scope_id)
    if entry.scope == "api_key":  # alerts are rare: a scan of the key table is fine here
        return next((k.name for k in snapshot.keys_by_hash.values() if k.id == entry.scope_id), None)
    return None


def alert_record(entry: SpendEntry, crossing: Crossing, request_cost: int, name: str | None = None,
                 ) -> dict[str, Any]:
    """A journal record (audit event ``spend.alert``) for a threshold crossed: once per limit and period; the
    reason names the scope ("workspace Marketing (wrkspc_...) reached 95% ...") when ``name`` is known."""
    now = datetime.now(UTC)
    # "workspace Marketing (wrkspc_...)": the name given (keys are named here), else the snapshot's label.
    scope = _SCOPE_WORDS.get(entry.scope, entry.scope)
    named = f"{scope} {name} ({entry.scope_id})" if name else entry.label or f"{scope} {entry.scope_id}"
    cap_usd = usd(entry.cap_picousd)
    return {"audit": audit_event(
        "spend.alert", created_at=now.isoformat(), decision="allowed", org_id=entry.org_id,
        workspace_id=entry.scope_id if entry.scope == "workspace" else None,
        api_key_id=entry.scope_id if entry.scope == "api_key" else None, actor="steward",
        reason=f"{named} reached {crossing.threshold}% of its {entry.period} "
               f"{'hard' if entry.hard else 'soft'} limit (${cap_usd:,.2f})",
        data={"spend_limit_id": entry.id, "threshold": crossing.threshold, "period": entry.period,
              "period_label": window(entry.period, now).label, "cap_usd": f"{cap_usd:.2f}",
              "request_cost_picousd": request_cost})}
