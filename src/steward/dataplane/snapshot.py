"""The in-memory snapshot of keys, workspaces, policies, limits and the model catalog every request reads.

The data plane never reads the database per request. A poller reads the config version every
``snapshot_poll_interval`` seconds; when it moved, it reads the change log (``storage/config_log.py``) and applies
the deltas: the keys named there are read again by id, and a ``config`` change reloads the small tables
(organizations, workspaces, limits, policies, compliance groups, the catalog) and recomputes the keys that carry
their own policy. So revoking one key of a million costs one row, and the poll interval stays the bound on how
long a revoked key keeps working (default 0.25 s; the promise is 1 s). Every key is loaded only at start-up, or
when a gateway fell further behind than the log keeps: then in pages, yielding to requests between them, into new
tables that replace the old ones at the end. The catalog is the newest stored version (else the packaged file)
with statuses as of the UTC day; a new day reloads the small tables, so a model leaves ``/v1/models`` on its
retirement date.

Keys are updated in place (``keys_by_hash`` is shared by successive snapshots): the event loop applies a delta
between two requests' steps, never during one, so a request sees a key either before or after the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import gc
import logging
import time
from dataclasses import dataclass, field, replace
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
from steward.governance.spend_rules import PICO_PER_CENT
from steward.metrics import CONFIG_APPLY_SECONDS, CONFIG_FULL_LOADS
from steward.storage.config_log import CONFIG, KEY
from steward.storage.models import ComplianceGroup, Workspace
from steward.storage.models.spend import END_USER_SCOPE, PERSON_SCOPE
from steward.storage.repositories.catalog import CatalogRepository
from steward.storage.repositories.identity import ConfigRows, IdentityRepository, KeyRow
from steward.storage.repositories.policies import PolicyRepository
from steward.tasks import pause, stop_if_cancelled

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
    previous_hash: str | None = None  # the secret before the last rotation, filed too until its grace ends
    owner: str | None = None  # the person (user id) who created it: their per-person spend limits apply

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
    """A spend limit as the data plane enforces it (its counter starts from recorded spend: ``spend_recovery``)."""

    id: str
    org_id: str
    scope: str
    scope_id: str
    period: str
    cap_picousd: int
    hard: bool
    thresholds: tuple[int, ...]
    label: str = ""  # what it caps, as a person reads it ("workspace Marketing"); refusals name it


@dataclass(slots=True, frozen=True)
class Snapshot:
    """What requests read. ``keys_by_hash`` is updated in place by deltas; the rest is replaced when it changes."""

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


def _consume(task: asyncio.Future[None]) -> None:
    """Retrieve an on-demand check's failure (the poller logs failures; this one's asker has moved on)."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("on-demand snapshot check failed", exc_info=task.exception())


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _spend_label(scope: str, scope_id: str, rows: ConfigRows) -> str:
    """What a limit caps, named: the organization's, workspace's or person's name (a key is named at refusal
    time, from the caller's key entry)."""
    if scope == "organization":
        return f"organization {next((o.name for o in rows.organizations if o.id == scope_id), scope_id)}"
    if scope == "workspace":
        return f"workspace {next((w.name for w in rows.workspaces if w.id == scope_id), scope_id)}"
    if scope == PERSON_SCOPE:
        return f"person {rows.people.get(scope_id, scope_id)}"
    if scope == END_USER_SCOPE:
        return f"end user {scope_id}"
    return f"API key {scope_id}"


def _spend_entries(rows: ConfigRows) -> dict[tuple[str, str], tuple[SpendEntry, ...]]:
    grouped: dict[tuple[str, str], list[SpendEntry]] = {}
    for limit in rows.spend_limits:
        entry = SpendEntry(limit.id, limit.org_id, limit.scope, limit.scope_id, limit.period,
                           limit.amount_cents * PICO_PER_CENT, limit.hard,
                           tuple(limit.thresholds or DEFAULT_THRESHOLDS),
                           _spend_label(limit.scope, limit.scope_id, rows))
        grouped.setdefault((limit.scope, limit.scope_id), []).append(entry)
    return {where: tuple(entries) for where, entries in grouped.items()}


class _Policies:
    """Compiled policy documents and compliance groups, and the layering for workspaces and keys."""

    def __init__(self, rows: ConfigRows, versions: dict[str, int], catalog: Catalog) -> None:
        self.versions = versions
        self.docs: dict[tuple[str, str, str], CompiledPolicy] = {}
        for row in rows.policies:
            try:
                self.docs[(row.org_id, row.scope, row.scope_id)] = compile_policy(row.document, catalog)
            except ValueError:  # validated on write; a document the code no longer accepts must not stop serving
                log.exception("policy %s (%s %s) no longer compiles; ignoring it", row.id, row.scope, row.scope_id)
        self.key_policies = {scope_id for (_, scope, scope_id) in self.docs if scope == "key"}
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

    def key(self, key_id: str, org_id: str, workspace_id: str, name: str, ws: WorkspaceEntry | None,
            scope: tuple[str, ...] | None) -> EffectivePolicy | None:
        """The key's layered policy, or None when it has neither its own policy nor a model scope (then requests
        read the workspace's)."""
        own = self.docs.get((org_id, "key", key_id))
        if own is None and scope is None:
            return None
        label = f"in workspace {ws.name!r}" if ws is not None else "in this workspace"
        extra = [(ws.allowed_models, label)] if ws is not None and ws.allowed_models is not None else []
        if scope is not None:
            extra.append((scope, f"for API key {name!r}"))
        return effective(self.docs.get((org_id, "organization", org_id)),
                         self.docs.get((org_id, "workspace", workspace_id)), own,
                         self.compliance.get(workspace_id), version=self.versions.get(org_id, 0),
                         workspace_label=label, key_label=f"for API key {name!r}", extra_allow=extra)


@dataclass(slots=True, frozen=True)
class _Config:
    """The snapshot's parts built from the small tables, and what key entries are computed with."""

    version: int  # the config version when the small tables were read
    policies: _Policies
    workspaces: dict[str, WorkspaceEntry]
    organizations: dict[str, str]
    limits: dict[tuple[str, str, str], LimitValues]
    spend: dict[tuple[str, str], tuple[SpendEntry, ...]]
    catalog: Catalog


def build_config(rows: ConfigRows, policy_versions: dict[str, int], catalog: Catalog) -> _Config:
    """Turn the small tables into the lookup tables the hot path uses (policies layered once, here)."""
    policies = _Policies(rows, policy_versions, catalog)
    workspaces: dict[str, WorkspaceEntry] = {}
    for w in rows.workspaces:
        allowed = tuple(w.allowed_models) if w.allowed_models is not None else None
        workspaces[w.id] = WorkspaceEntry(w.id, w.org_id, w.name, w.archived_at is not None, allowed,
                                          policies.workspace(w, allowed), policies.compliance.get(w.id))
    limits: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
    for limit in rows.rate_limits:
        limits.setdefault((limit.scope, limit.scope_id, limit.group_id), []).append((limit.limit_type, limit.value))
    return _Config(rows.version, policies, workspaces, {o.id: o.name for o in rows.organizations},
                   {where: tuple(sorted(values)) for where, values in limits.items()}, _spend_entries(rows), catalog)


class _Keys:
    """The key tables: entries by secret hash (what requests read), the current hash by key id (to find what a
    delta replaces), and the ids whose entry carries its own layered policy (recomputed when the config changes)."""

    def __init__(self, by_hash: dict[str, KeyEntry] | None = None) -> None:
        self.by_hash: dict[str, KeyEntry] = by_hash if by_hash is not None else {}
        self.hash_of: dict[str, str] = {}
        self.own_policy: set[str] = set()

    def remove(self, key_id: str) -> None:
        current = self.hash_of.pop(key_id, None)
        if current is not None:
            entry = self.by_hash.pop(current, None)
            if entry is not None and entry.previous_hash is not None:
                self.by_hash.pop(entry.previous_hash, None)
        self.own_policy.discard(key_id)

    def put(self, row: KeyRow, config: _Config) -> None:
        """File ``row`` (replacing what was filed for its id); an archived key is only removed."""
        self.remove(row.id)
        if row.status == "archived":
            return
        models = (row.scopes or {}).get("models")
        scope = tuple(models) if isinstance(models, list) else None
        policy = config.policies.key(row.id, row.org_id, row.workspace_id, row.name,
                                     config.workspaces.get(row.workspace_id), scope)
        previous = row.previous_key_hash if row.previous_key_hash and row.previous_valid_until else None
        entry = KeyEntry(row.id, row.org_id, row.workspace_id, row.name, row.status, _epoch(row.expires_at), scope,
                         policy, previous, row.created_by)
        self.by_hash[row.key_hash] = entry
        self.hash_of[row.id] = row.key_hash
        if previous is not None and row.previous_valid_until is not None:
            # The secret before the last rotation works until its grace period ends (and never past expiry).
            until = row.previous_valid_until.timestamp()
            if row.expires_at is not None:
                until = min(until, row.expires_at.timestamp())
            self.by_hash[previous] = replace(entry, expires_at=until, previous_hash=None)
        if policy is not None or row.id in config.policies.key_policies:
            self.own_policy.add(row.id)

    def repolicy(self, key_id: str, config: _Config) -> None:
        """Recompute one filed key's layered policy after the small tables changed."""
        current = self.hash_of.get(key_id, "")
        entry = self.by_hash.get(current)
        if entry is None:
            self.own_policy.discard(key_id)
            return
        policy = config.policies.key(entry.id, entry.org_id, entry.workspace_id, entry.name,
                                     config.workspaces.get(entry.workspace_id), entry.allowed_models)
        if policy is None:
            self.own_policy.discard(key_id)
        else:
            self.own_policy.add(key_id)
        self.by_hash[current] = replace(entry, policy=policy)
        if entry.previous_hash is not None and entry.previous_hash in self.by_hash:
            self.by_hash[entry.previous_hash] = replace(self.by_hash[entry.previous_hash], policy=policy)


def _snapshot(config: _Config, keys: _Keys, version: int) -> Snapshot:
    return Snapshot(version, keys.by_hash, config.workspaces, config.organizations, config.limits, config.spend,
                    config.catalog)


class SnapshotStore:
    """Holds the current snapshot and keeps it fresh by applying the config change log."""

    PAGE = 2_000           # keys per page of a full load (a page is built between two requests' steps)
    DELTA_KEYS = 500       # keys read per query of a delta
    MAX_CHANGES = 50_000   # a longer log since our version: load everything instead

    def __init__(self, repo: IdentityRepository, poll_interval: float,
                 policies: PolicyRepository | None = None, catalogs: CatalogRepository | None = None) -> None:
        self._repo = repo
        self._policies = policies
        self._catalogs = catalogs
        self._interval = poll_interval
        self._catalog_id: str | None = None  # the stored catalog version loaded; None: the packaged file
        self._catalog = Catalog.load_default()
        self._config: _Config | None = None
        self._keys = _Keys()
        self._lock = asyncio.Lock()
        self.current = Snapshot(version=0)
        self.checked_at = 0.0  # monotonic time of the last successful load or version check (readiness reads it)
        self._began = float("-inf")  # perf_counter time at which the last successful check began
        self._failed = float("-inf")  # perf_counter time of the last failed check
        self.full_loads = 0
        self.checks = 0  # successful loads and version checks, by the poller or on demand

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

    async def _load_config(self) -> _Config:
        rows = await self._repo.config_rows()
        versions = await self._policies.org_versions() if self._policies is not None else {}
        catalog = await self._load_catalog(datetime.now(UTC).date())
        return build_config(rows, versions, catalog)

    def owner_of(self, key_id: str | None) -> str | None:
        """The person who created key ``key_id`` (None: unknown here, or created by no person)."""
        entry = self._keys.by_hash.get(self._keys.hash_of.get(key_id or "", ""))
        return entry.owner if entry is not None else None

    async def refresh(self) -> Snapshot:
        """Catch up with the database now (everything on the first call)."""
        async with self._lock:
            await self._refresh_locked()
        return self.current

    async def _refresh_locked(self) -> None:
        began = time.perf_counter()
        try:
            await (self._catch_up() if self._config is not None else self._full())
        except BaseException:
            self._failed = time.perf_counter()
            raise
        self._began = began
        self.checks += 1
        self.checked_at = time.monotonic()

    async def _caught_up_since(self, moment: float) -> None:
        async with self._lock:  # waiting here is what coalesces: the first waiter's check serves the others
            if self._began < moment and time.perf_counter() - self._failed >= self._interval:
                await self._refresh_locked()

    async def caught_up_since(self, moment: float, wait: float = 1.0) -> Snapshot:
        """The snapshot as of a check that began at or after ``moment`` (``time.perf_counter``), checking now if
        none has: a request whose key is unknown asks this before its 401, so a key created on another host (or
        process) works on its first request instead of after the next poll. Concurrent askers share one check, so
        a flood of unknown keys costs at most one version query at a time; after a failed check (database down)
        none is tried for a poll interval; the asker waits at most ``wait`` seconds (the check goes on)."""
        if self._began >= moment or time.perf_counter() - self._failed < self._interval:
            return self.current
        check = asyncio.ensure_future(self._caught_up_since(moment))
        check.add_done_callback(_consume)
        with contextlib.suppress(Exception):  # a failed or slow check: the caller answers with what it has
            await asyncio.wait_for(asyncio.shield(check), wait)
        return self.current

    async def _full(self) -> None:
        """Every key, in pages, into new tables that replace the current ones when complete; then the deltas
        committed meanwhile."""
        started = time.perf_counter()
        config = await self._load_config()
        keys = _Keys()
        after = ""
        while True:
            page = await self._repo.key_page(after, self.PAGE)
            for row in page:
                keys.put(row, config)
            if len(page) < self.PAGE:
                break
            after = page[-1].id
            await asyncio.sleep(0)  # requests run between pages
        self._config, self._keys = config, keys
        self.current = _snapshot(config, keys, config.version)
        self.full_loads += 1
        CONFIG_FULL_LOADS.inc()
        log.info("loaded config version %s: %d keys in %.2f s", config.version, len(keys.hash_of),
                 time.perf_counter() - started)
        gc.collect()
        gc.freeze()  # a million long-lived entries: out of the collector's sight, so full collections stay short
        await self._catch_up()

    async def _catch_up(self) -> None:
        """Apply the changes logged after our version (and a new UTC day's catalog statuses)."""
        assert self._config is not None
        version = await self._repo.version()
        new_day = self.current.catalog.day != datetime.now(UTC).date()
        if version == self.current.version and not new_day:
            return
        started = time.perf_counter()
        changes = await self._repo.changes_since(self.current.version, self.MAX_CHANGES) \
            if version != self.current.version else []
        if version != self.current.version and (
                not changes or changes[0][0] != self.current.version + 1 or len(changes) >= self.MAX_CHANGES):
            # The log no longer reaches back to our version (pruned), or the database was replaced: load it all.
            log.warning("config change log does not continue version %s (database at %s); loading everything",
                        self.current.version, version)
            await self._full()
            return
        target = max((v for v, _, _ in changes), default=self.current.version)
        if new_day or any(kind == CONFIG for _, kind, _ in changes):
            config = await self._load_config()
            ids = self._keys.own_policy | config.policies.key_policies
            for n, key_id in enumerate(sorted(ids)):
                self._keys.repolicy(key_id, config)
                if n % self.DELTA_KEYS == self.DELTA_KEYS - 1:
                    await asyncio.sleep(0)
            self._config = config
        config = self._config
        key_ids = sorted({entity for _, kind, entity in changes if kind == KEY})
        for n in range(0, len(key_ids), self.DELTA_KEYS):
            wanted = key_ids[n:n + self.DELTA_KEYS]
            found = await self._repo.keys_by_id(wanted)
            for row in found:
                self._keys.put(row, config)
            for missing in set(wanted) - {row.id for row in found}:
                self._keys.remove(missing)
            await asyncio.sleep(0)
        # The last change applied, not the version the small tables were read at: keys changed after ``target``
        # are not applied yet, and the next round reads the log from here (applying a change twice is harmless).
        self.current = _snapshot(config, self._keys, target)
        CONFIG_APPLY_SECONDS.observe(time.perf_counter() - started)

    async def run(self) -> None:
        """Poll the config version forever and apply its changes; a failed poll keeps the last good snapshot."""
        while True:
            await pause(self._interval)
            try:
                await self.refresh()
            except Exception:  # fail-safe by design: keep serving the last good snapshot
                stop_if_cancelled()
                log.exception("snapshot refresh failed; keeping version %s", self.current.version)
