"""The immutable in-memory snapshot of keys and workspaces that every request reads.

The data plane never reads the database per request. A poller compares the database's config version
every ``snapshot_poll_interval`` seconds and swaps in a fresh snapshot when it moved; that interval is the
bound on how long a revoked key keeps working (default 0.25 s; the promise is 1 s).
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from steward.governance.spend_rules import PERIODS, PICO_PER_CENT, window
from steward.storage.repositories.identity import IdentityRepository, SnapshotRows

DEFAULT_THRESHOLDS = (50, 80, 95)

log = logging.getLogger("steward.snapshot")


@dataclass(slots=True, frozen=True)
class KeyEntry:
    """What the data plane knows of a key (never the secret)."""

    id: str
    org_id: str
    workspace_id: str
    name: str
    status: str
    expires_at: float | None
    allowed_models: tuple[str, ...] | None = None  # the key's own scope, narrower than its workspace's

    def allows(self, model: str) -> bool:
        if self.allowed_models is None:
            return True
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.allowed_models)


@dataclass(slots=True, frozen=True)
class WorkspaceEntry:
    id: str
    org_id: str
    name: str
    archived: bool
    allowed_models: tuple[str, ...] | None

    def allows(self, model: str) -> bool:
        """Whether this workspace may call ``model`` (patterns such as ``claude-haiku-*`` allowed)."""
        if self.allowed_models is None:
            return True
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.allowed_models)


LimitValues = tuple[tuple[str, int], ...]  # (limiter type, value) pairs


@dataclass(slots=True, frozen=True)
class SpendEntry:
    """A spend limit as the data plane enforces it, with the spend recorded when the snapshot was taken."""

    id: str
    org_id: str
    scope: str
    scope_id: str
    period: str
    cap_picousd: int
    hard: bool
    thresholds: tuple[int, ...]
    loaded_label: str          # the period the recorded spend belongs to
    loaded_spent: int          # pico-USD recorded in that period when the snapshot was built


@dataclass(slots=True, frozen=True)
class Snapshot:
    version: int
    keys_by_hash: dict[str, KeyEntry] = field(default_factory=dict)
    workspaces: dict[str, WorkspaceEntry] = field(default_factory=dict)
    organizations: dict[str, str] = field(default_factory=dict)
    # (scope, scope id, rate-limit group id) -> limiter values configured there
    limits: dict[tuple[str, str, str], LimitValues] = field(default_factory=dict)
    # (scope, scope id) -> spend limits there
    spend: dict[tuple[str, str], tuple[SpendEntry, ...]] = field(default_factory=dict)


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _spend_entries(rows: SnapshotRows, labels: dict[str, str]) -> dict[tuple[str, str], tuple[SpendEntry, ...]]:
    grouped: dict[tuple[str, str], list[SpendEntry]] = {}
    for limit in rows.spend_limits:
        entry = SpendEntry(limit.id, limit.org_id, limit.scope, limit.scope_id, limit.period,
                           limit.amount_cents * PICO_PER_CENT, limit.hard,
                           tuple(limit.thresholds or DEFAULT_THRESHOLDS), labels[limit.period],
                           rows.spent.get(limit.id, 0))
        grouped.setdefault((limit.scope, limit.scope_id), []).append(entry)
    return {where: tuple(entries) for where, entries in grouped.items()}


def build_snapshot(rows: SnapshotRows, labels: dict[str, str] | None = None) -> Snapshot:
    """Turn database rows into the lookup tables the hot path uses."""
    workspaces = {
        w.id: WorkspaceEntry(w.id, w.org_id, w.name, w.archived_at is not None,
                             tuple(w.allowed_models) if w.allowed_models is not None else None)
        for w in rows.workspaces
    }
    keys: dict[str, KeyEntry] = {}
    for k in rows.keys:
        models = (k.scopes or {}).get("models")
        scope = tuple(models) if isinstance(models, list) else None
        keys[k.key_hash] = KeyEntry(k.id, k.org_id, k.workspace_id, k.name, k.status, _epoch(k.expires_at), scope)
        if k.previous_key_hash and k.previous_valid_until:
            # The secret before the last rotation works until its grace period ends (and never past expiry).
            until = k.previous_valid_until.timestamp()
            if k.expires_at is not None:
                until = min(until, k.expires_at.timestamp())
            keys[k.previous_key_hash] = KeyEntry(k.id, k.org_id, k.workspace_id, k.name, k.status, until, scope)
    limits: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
    for limit in rows.rate_limits:
        limits.setdefault((limit.scope, limit.scope_id, limit.group_id), []).append((limit.limit_type, limit.value))
    return Snapshot(rows.version, keys, workspaces, {o.id: o.name for o in rows.organizations},
                    {where: tuple(sorted(values)) for where, values in limits.items()},
                    _spend_entries(rows, labels or {}))


class SnapshotStore:
    """Holds the current snapshot and keeps it fresh."""

    def __init__(self, repo: IdentityRepository, poll_interval: float) -> None:
        self._repo = repo
        self._interval = poll_interval
        self.current = Snapshot(version=0)
        self._listeners: list[Callable[[Snapshot], None]] = []

    async def refresh(self) -> Snapshot:
        """Load a fresh snapshot now."""
        now = datetime.now(UTC)
        windows = {period: window(period, now) for period in PERIODS}
        rows = await self._repo.snapshot_rows({p: w.start for p, w in windows.items()})
        self.current = build_snapshot(rows, {p: w.label for p, w in windows.items()})
        for listener in self._listeners:
            listener(self.current)
        return self.current

    async def run(self) -> None:
        """Poll the config version forever; a failed poll keeps the last good snapshot."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                if await self._repo.version() != self.current.version:
                    await self.refresh()
            except Exception:  # fail-safe by design: keep serving the last good snapshot
                log.exception("snapshot refresh failed; keeping version %s", self.current.version)
