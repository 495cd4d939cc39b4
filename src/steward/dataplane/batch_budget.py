"""Spend caps for Message Batches: reserve a batch's worst case at create, settle it when the batch is metered.

The worst case of each item is the real-time Budget's (``spend_rules.worst_case_picousd``: estimated input,
``max_tokens`` of output, an unpriced model at the catalog's highest rates) at the batch price. The batch total
is reserved against the organization, workspace, key and person (the key's creator) limits and each end user's
subtotal (``metadata.user_id`` of the items) against that user's limits; if any does not fit, what was reserved
is released and the batch is refused with the real-time 400. The hold is settled once, when the batch is metered
(its results only exist when it has ended, so per-result settlement would be the same moment), against the counters
it reserved.
A hold is kept in memory by the process that created the batch and stored with the batch's row
(``batches.budget_hold``), so whichever process meters the batch, before or after a restart, settles it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from steward.dataplane.budget_refusal import Ask
from steward.dataplane.context import RequestContext
from steward.dataplane.snapshot import KeyEntry, SpendEntry
from steward.dataplane.stages.budget import Budget
from steward.dataplane.stages.validate import user_id_of
from steward.governance.budgets import HELD, Counter, Lease
from steward.governance.catalog import Catalog
from steward.governance.spend_rules import worst_case_picousd
from steward.governance.tokens import estimate_input_tokens
from steward.storage.models.spend import END_USER_SCOPE

log = logging.getLogger("steward.batches")
LEASE = Lease(HELD)  # a batch's hold sits in its counters' held field until the batch is settled


@dataclass(slots=True)
class _Group:
    """Counters reserved together with one amount (the shared limits, or one end user's)."""

    counters: list[Counter]
    hard: list[Counter]
    amount: int
    entries: dict[str, SpendEntry]
    lease: Lease | None = LEASE  # None: a hold stored before holds had their own field (released from the total)

    def to_json(self) -> dict[str, Any]:
        hard = {c.key for c in self.hard}
        return {"amount": self.amount, "field": self.lease.field if self.lease else None,
                "counters": [[c.key, c.cap, c.ttl, c.key in hard] for c in self.counters]}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], entries: Mapping[str, SpendEntry]) -> _Group:
        """A stored group; only counters whose limit still exists are kept (their entry gives the thresholds)."""
        counters = [(Counter(key, cap, ttl), hard) for key, cap, ttl, hard in doc["counters"] if key in entries]
        return cls([c for c, _ in counters], [c for c, hard in counters if hard], int(doc["amount"]),
                   {c.key: entries[c.key] for c, _ in counters}, LEASE if doc.get("field") == HELD else None)


@dataclass(slots=True)
class BatchHold:
    """What one batch holds: the shared group, one group per end user, and which item belongs to whom."""

    shared: _Group
    at: datetime  # when it was taken: the counters belong to the periods of that moment
    users: dict[str, _Group] = field(default_factory=dict)
    user_of: dict[str, str] = field(default_factory=dict)  # custom_id -> metadata.user_id

    def to_json(self) -> dict[str, Any]:
        """What ``batches.budget_hold`` stores (counter keys, caps and the amounts; limits are found by key)."""
        return {"shared": self.shared.to_json(), "users": {u: g.to_json() for u, g in self.users.items()},
                "user_of": self.user_of, "at": self.at.isoformat()}


class BatchBudget:
    """Reserves, settles and releases batch holds through the real-time Budget's counters and store."""

    def __init__(self, budget: Budget, catalog: Callable[[], Catalog]) -> None:
        self._budget = budget
        self._catalog = catalog
        self._holds: dict[str, BatchHold] = {}

    async def reserve(self, ctx: RequestContext, payload: dict[str, Any]) -> BatchHold | None:
        """Reserve the batch's worst case against every limit in force, all or nothing; None if none applies."""
        key = ctx.key
        shared = self._budget.entries_for(key, ctx.user_id)
        users = {user_id_of(item["params"]) or "" for item in payload["requests"]} - {""}
        per_user = {u: [e for e in self._budget.entries_for(key, u) if e.scope == END_USER_SCOPE] for u in users}
        if not shared and not any(per_user.values()):
            return None
        now = datetime.now(UTC)
        catalog = self._catalog()
        caching = b'"cache_control"' in ctx.body  # anywhere in the batch: every item may write the cache
        total = 0
        subtotal: dict[str, int] = {}
        hold = BatchHold(_Group([], [], 0, {}), now)
        for item in payload["requests"]:
            params = item["params"]
            amount = worst_case_picousd(catalog, params["model"], params, estimate_input_tokens(params), now,
                                        caching=caching, batch=True)
            total += amount
            if (user := user_id_of(params)) and per_user.get(user):
                subtotal[user] = subtotal.get(user, 0) + amount
                hold.user_of[item["custom_id"]] = user
        hold.shared = await self._take(shared, total, now, [], key)
        taken = [hold.shared]
        for user, amount in subtotal.items():
            hold.users[user] = await self._take(per_user[user], amount, now, taken, key)
            taken.append(hold.users[user])
        return hold

    async def _take(self, entries: list[SpendEntry], amount: int, now: datetime, taken: list[_Group],
                    key: KeyEntry | None) -> _Group:
        """Reserve ``amount`` on the hard limits of ``entries``; on refusal release ``taken`` and raise."""
        counters = await self._budget.counters(entries, now)
        hard = [(c, e) for c, e in counters if e.hard]
        group = _Group([c for c, _ in counters], [c for c, _ in hard], 0, {c.key: e for c, e in counters})
        if not hard:
            return group
        admission = await self._budget.reserve_raw([c for c, _ in hard], amount, HELD)
        if not admission.admitted:
            for earlier in taken:
                await self._release(earlier)
            raise self._budget.refusal(admission, hard, now, Ask(amount, batch=True), key=key)
        group.amount = amount if admission.states else 0  # fail-open: nothing was reserved to release
        return group

    def keep(self, batch_id: str, hold: BatchHold | None) -> None:
        """Remember a created batch's hold until it is metered (or deleted unmetered)."""
        if hold is not None:
            self._holds[batch_id] = hold

    async def release(self, hold: BatchHold | None) -> None:
        """Give back everything ``hold`` reserved (a refused create, or a failure before the upstream answered)."""
        if hold is None:
            return
        await self._release(hold.shared)
        for group in hold.users.values():
            await self._release(group)

    async def _release(self, group: _Group) -> None:
        if group.amount:
            await self._budget.settle(group.hard, group.hard, group.amount, 0, group.entries, group.lease)

    def _restore(self, stored: Mapping[str, Any]) -> BatchHold:
        """A hold from ``batches.budget_hold``, its limits looked up by counter key in the current snapshot."""
        at = datetime.fromisoformat(str(stored["at"]))
        entries = {self._budget.counter_key(e, at): e for e in self._budget.all_entries()}
        return BatchHold(_Group.from_json(stored["shared"], entries), at,
                         {u: _Group.from_json(g, entries) for u, g in stored["users"].items()},
                         dict(stored["user_of"]))

    async def prepare(self, batch_id: str, stored: Mapping[str, Any] | None = None) -> None:
        """Before the batch's results are journaled: its hold in memory and its counters started. A hold this
        process does not have (another process created the batch, or this one restarted) comes from ``stored``,
        the batch row's copy. A counter started after the results were journaled would count them, and the
        settlement would add them a second time."""
        hold = self._holds.get(batch_id)
        if hold is None and stored:
            try:
                hold = self._holds[batch_id] = self._restore(stored)
            except (KeyError, TypeError, ValueError):
                log.exception("batch %s: its stored spend hold cannot be read; its cost reaches the caps only "
                              "through the recorded spend", batch_id)
        if hold is not None:
            for group in (hold.shared, *hold.users.values()):  # a process that never served this limit starts
                await self._budget.counters(list(group.entries.values()), hold.at)  # its counter here

    async def settle(self, batch_id: str, costs: Mapping[str, int], stored: Mapping[str, Any] | None = None) -> None:
        """Replace the batch's hold by its real cost (``costs``: custom_id -> pico-USD); forgets the hold."""
        await self.prepare(batch_id, stored)  # done already when the meter prepared; kept for other callers
        hold = self._holds.pop(batch_id, None)
        if hold is None:
            return
        shared = hold.shared
        await self._budget.settle(shared.counters, shared.hard, shared.amount, sum(costs.values()), shared.entries,
                                  shared.lease)
        for user, group in hold.users.items():
            actual = sum(cost for cid, cost in costs.items() if hold.user_of.get(cid) == user)
            await self._budget.settle(group.counters, group.hard, group.amount, actual, group.entries, group.lease)

    def held(self, batch_id: str) -> bool:
        return batch_id in self._holds
