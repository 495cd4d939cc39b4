"""The immutable in-memory snapshot of keys, workspaces, policies, limits and the model catalog every request reads.

The data plane never reads the database per request. A poller compares the database's config version
every ``snapshot_poll_interval`` seconds and swaps in a fresh snapshot when it moved; that interval is the
bound on how long a revoked key keeps working (default 0.25 s; the promise is 1 s). The catalog is the newest
stored version (else the packaged file) with statuses as of the UTC day; a new day rebuilds the snapshot too,
so a model leaves ``/v1/models`` on its retirement date.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from steward.governance.catalog import Catalog, CatalogError
from steward.governance.policy import (
    CompiledPolicy,
    Compliance,
    EffectivePolicy,
    compile_policy,
    effective,
    merge_compliance,
)
from steward.governance.spend_rules import PERIODS, PICO_PER_CENT, window
from steward.storage.models import ApiKey, ComplianceGroup, Workspace
from steward.storage.repositories.catalog import CatalogRepository
from steward.storage.repositories.identity import IdentityRepository, SnapshotRows
from steward.storage.repositories.policies import PolicyRepository
from steward.tasks import stop_if_cancelled

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
    policy: EffectivePolicy | None = None  # set when the key has its own policy or model scope

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
    policy: EffectivePolicy | None = None      # organization + workspace policies, layered and precompiled
    compliance: Compliance | None = None       # the workspace's compliance groups, strictest wins

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
    # the model catalog in force, statuses as of ``catalog.day``
    catalog: Catalog = field(default_factory=lambda: Catalog.load_default().as_of(datetime.now(UTC).date()))


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


class _Policies:
    """Compiled policy documents and compliance groups, and the layering for workspaces and keys."""

    def __init__(self, rows: SnapshotRows, versions: dict[str, int], catalog: Catalog) -> None:
        self.versions = versions
        self.docs: dict[tuple[str, str, str], CompiledPolicy] = {}
        for row in rows.policies:
            try:
                self.docs[(row.org_id, row.scope, row.scope_id)] = compile_policy(row.document, catalog)
            except ValueError:  # validated on write; a document the code no longer accepts must not stop serving
                log.exception("policy %s (%s %s) no longer compiles; ignoring it", row.id, row.scope, row.scope_id)
        groups = {g.id: g for g in rows.compliance_groups}
        members: dict[str, list[ComplianceGroup]] = {}
        for link in rows.group_workspaces:
            if link.group_id in groups:
                members.setdefault(link.workspace_id, []).append(groups[link.group_id])
        self.compliance = {ws: merge_compliance(found) for ws, found in members.items()}

    def workspace(self, ws: Workspace, allowed: tuple[str, ...] | None) -> EffectivePolicy | None:
        org = self.docs.get((ws.org_id, "organization", ws.org_id))
        own = self.docs.get((ws.org_id, "workspace", ws.id))
        compliance = self.compliance.get(ws.id)
        if org is None and own is None and allowed is None and compliance is None:
            return None
        label = f"in workspace {ws.name!r}"
        extra = [(allowed, label)] if allowed is not None else []
        return effective(org, own, None, compliance, version=self.versions.get(ws.org_id, 0),
                         workspace_label=label, extra_allow=extra)

    def key(self, k: ApiKey, ws: WorkspaceEntry | None, scope: tuple[str, ...] | None) -> EffectivePolicy | None:
        own = self.docs.get((k.org_id, "key", k.id))
        if own is None and scope is None:
            return None
        label = f"in workspace {ws.name!r}" if ws is not None else "in this workspace"
        extra = [(ws.allowed_models, label)] if ws is not None and ws.allowed_models is not None else []
        if scope is not None:
            extra.append((scope, f"for API key {k.name!r}"))
        return effective(self.docs.get((k.org_id, "organization", k.org_id)),
                         self.docs.get((k.org_id, "workspace", k.workspace_id)), own,
                         self.compliance.get(k.workspace_id), version=self.versions.get(k.org_id, 0),
                         workspace_label=label, key_label=f"for API key {k.name!r}", extra_allow=extra)


def build_snapshot(rows: SnapshotRows, labels: dict[str, str] | None = None,
                   policy_versions: dict[str, int] | None = None, catalog: Catalog | None = None) -> Snapshot:
    """Turn database rows into the lookup tables the hot path uses (policies layered once, here)."""
    catalog = catalog or Catalog.load_default().as_of(datetime.now(UTC).date())
    policies = _Policies(rows, policy_versions or {}, catalog)
    workspaces: dict[str, WorkspaceEntry] = {}
    for w in rows.workspaces:
        allowed = tuple(w.allowed_models) if w.allowed_models is not None else None
        workspaces[w.id] = WorkspaceEntry(w.id, w.org_id, w.name, w.archived_at is not None, allowed,
                                          policies.workspace(w, allowed), policies.compliance.get(w.id))
    keys: dict[str, KeyEntry] = {}
    for k in rows.keys:
        models = (k.scopes or {}).get("models")
        scope = tuple(models) if isinstance(models, list) else None
        policy = policies.key(k, workspaces.get(k.workspace_id), scope)
        keys[k.key_hash] = KeyEntry(k.id, k.org_id, k.workspace_id, k.name, k.status, _epoch(k.expires_at), scope,
                                    policy)
        if k.previous_key_hash and k.previous_valid_until:
            # The secret before the last rotation works until its grace period ends (and never past expiry).
            until = k.previous_valid_until.timestamp()
            if k.expires_at is not None:
                until = min(until, k.expires_at.timestamp())
            keys[k.previous_key_hash] = KeyEntry(k.id, k.org_id, k.workspace_id, k.name, k.status, until, scope,
                                                 policy)
    limits: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
    for limit in rows.rate_limits:
        limits.setdefault((limit.scope, limit.scope_id, limit.group_id), []).append((limit.limit_type, limit.value))
    return Snapshot(rows.version, keys, workspaces, {o.id: o.name for o in rows.organizations},
                    {where: tuple(sorted(values)) for where, values in limits.items()},
                    _spend_entries(rows, labels or {}), catalog)


class SnapshotStore:
    """Holds the current snapshot and keeps it fresh."""

    def __init__(self, repo: IdentityRepository, poll_interval: float,
                 policies: PolicyRepository | None = None, catalogs: CatalogRepository | None = None) -> None:
        self._repo = repo
        self._policies = policies
        self._catalogs = catalogs
        self._interval = poll_interval
        self._catalog_id: str | None = None  # the stored catalog version loaded; None: the packaged file
        self._catalog = Catalog.load_default()
        self.current = Snapshot(version=0)
        self.checked_at = 0.0  # monotonic time of the last successful load or version check (readiness reads it)
        self._listeners: list[Callable[[Snapshot], None]] = []

    async def _load_catalog(self, today: date) -> Catalog:
        """The newest stored catalog (parsed only when it changed), statuses as of ``today``."""
        if self._catalogs is not None:
            latest = await self._catalogs.latest_id()
            if latest != self._catalog_id:
                row = await self._catalogs.get(latest) if latest is not None else None
                try:
                    self._catalog = Catalog.from_document(row.document) if row is not None else \
                        Catalog.load_default()
                    self._catalog_id = latest
                except CatalogError:  # validated on write; a version this code no longer accepts must not stop serving
                    log.exception("stored catalog %s no longer loads; keeping %s", latest, self._catalog.version)
        return self._catalog.as_of(today)

    async def refresh(self) -> Snapshot:
        """Load a fresh snapshot now."""
        now = datetime.now(UTC)
        windows = {period: window(period, now) for period in PERIODS}
        rows = await self._repo.snapshot_rows({p: w.start for p, w in windows.items()})
        versions = await self._policies.org_versions() if self._policies is not None else {}
        catalog = await self._load_catalog(now.date())
        self.current = build_snapshot(rows, {p: w.label for p, w in windows.items()}, versions, catalog)
        self.checked_at = time.monotonic()
        for listener in self._listeners:
            listener(self.current)
        return self.current

    async def run(self) -> None:
        """Poll the config version forever (and rebuild on a new UTC day); a failed poll keeps the last good
        snapshot."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                if await self._repo.version() != self.current.version or \
                        self.current.catalog.day != datetime.now(UTC).date():
                    await self.refresh()
                self.checked_at = time.monotonic()
            except Exception:  # fail-safe by design: keep serving the last good snapshot
                stop_if_cancelled()
                log.exception("snapshot refresh failed; keeping version %s", self.current.version)
