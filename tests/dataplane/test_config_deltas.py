"""Config changes reach the snapshot as deltas from the change log (issue 13): a revoked or rotated key is read
again by id, never every key; a workspace or policy change reloads the small tables and recomputes the keys with
their own policy; a gap in the log (pruned, or a replaced database) loads everything. On SQLite and PostgreSQL,
with the control plane's real write paths (ORM units of work and bulk UPDATE statements)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from steward.controlplane.services import ControlPlane
from steward.dataplane.snapshot import SnapshotStore
from steward.identity.keyformat import hash_key
from steward.settings import Settings
from steward.storage.config_log import CONFIG, KEY
from steward.storage.models import ConfigChange
from steward.storage.repositories.identity import IdentityRepository
from steward.storage.repositories.policies import PolicyRepository


@pytest.fixture
async def plane(database_url: str, tmp_path: Path) -> AsyncIterator[ControlPlane]:
    control = ControlPlane(Settings(home=tmp_path / "home", database_url=database_url))
    await control.init("Delta Org", "admin@delta.example")
    await control.create_workspace("eng")
    try:
        yield control
    finally:
        await control.close()


def _store(plane: ControlPlane) -> SnapshotStore:
    sessions = plane.database.sessions
    return SnapshotStore(IdentityRepository(sessions), 60.0, PolicyRepository(sessions))


async def _keys(plane: ControlPlane, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [await plane.create_key("eng", f"eng-delta-key{n}", **extra) for n in range(count)]


async def _log(plane: ControlPlane) -> list[tuple[int, str, str]]:
    async with plane.database.sessions() as session:
        rows = await session.execute(select(ConfigChange.version, ConfigChange.kind, ConfigChange.entity_id)
                                     .order_by(ConfigChange.version))
        return [(int(v), k, e) for v, k, e in rows]


async def test_a_revoked_key_is_one_delta_and_the_key_table_is_updated_in_place(plane: ControlPlane) -> None:
    keys = await _keys(plane, 5)
    store = _store(plane)
    snapshot = await store.refresh()
    table = snapshot.keys_by_hash
    assert all(hash_key(k["secret"]) in table for k in keys)

    before = (await _log(plane))[-1][0]
    await plane.set_key_status(keys[2]["id"], "archived")
    assert [change for change in await _log(plane) if change[0] > before] == [(before + 1, KEY, keys[2]["id"])]
    snapshot = await store.refresh()
    assert snapshot.version == before + 1 and store.full_loads == 1
    assert snapshot.keys_by_hash is table  # applied in place, not rebuilt
    assert hash_key(keys[2]["secret"]) not in table
    assert all(hash_key(k["secret"]) in table for n, k in enumerate(keys) if n != 2)


async def test_two_rotations_between_polls_leave_only_the_newest_secrets(plane: ControlPlane) -> None:
    key = (await _keys(plane, 1))[0]
    store = _store(plane)
    await store.refresh()
    system = await plane.system()
    first = await plane.admin.keys.rotate(system, key["id"], grace_period_seconds=600)
    second = await plane.admin.keys.rotate(system, key["id"], grace_period_seconds=600)
    table = (await store.refresh()).keys_by_hash
    assert hash_key(key["secret"]) not in table  # two rotations ago: gone, though the snapshot never saw the first
    assert hash_key(first["secret"]) in table and hash_key(second["secret"]) in table  # grace, and current
    assert table[hash_key(first["secret"])].expires_at is not None
    await plane.set_key_status(key["id"], "archived")
    table = (await store.refresh()).keys_by_hash
    assert not any(hash_key(k["secret"]) in table for k in (key, first, second))
    assert store.full_loads == 1


async def test_a_policy_change_recomputes_keys_with_their_own_scope_and_nothing_else(plane: ControlPlane) -> None:
    scoped = await plane.create_key("eng", "eng-scoped-key", scopes={"models": ["claude-haiku-*"]})
    plain = (await _keys(plane, 1))[0]
    store = _store(plane)
    snapshot = await store.refresh()
    entry = snapshot.keys_by_hash[hash_key(scoped["secret"])]
    assert entry.policy is not None and entry.policy.version == 0
    assert snapshot.keys_by_hash[hash_key(plain["secret"])].policy is None

    system = await plane.system()
    ws = await plane.workspace("eng")
    await plane.admin.policies.put(system, "workspace", ws.id, {"models": {"deny": ["claude-opus-*"]}})
    log = await _log(plane)
    assert log[-1][1] == CONFIG
    snapshot = await store.refresh()
    assert store.full_loads == 1
    workspace = snapshot.workspaces[ws.id]
    assert workspace.policy is not None and workspace.policy.version == 1
    entry = snapshot.keys_by_hash[hash_key(scoped["secret"])]
    assert entry.policy is not None and entry.policy.version == 1  # recomputed with the new workspace policy
    assert snapshot.keys_by_hash[hash_key(plain["secret"])].policy is None  # reads its workspace's

    await plane.admin.policies.put(system, "key", scoped["id"], {"models": {"allow": ["claude-haiku-4-5"]}})
    await plane.admin.policies.put(system, "key", plain["id"], {"features": {"tools": False}})
    snapshot = await store.refresh()
    assert snapshot.keys_by_hash[hash_key(plain["secret"])].policy is not None  # now has its own
    assert snapshot.keys_by_hash[hash_key(scoped["secret"])].policy.version == 3  # type: ignore[union-attr]


async def test_a_gap_in_the_log_loads_everything(plane: ControlPlane) -> None:
    keys = await _keys(plane, 3)
    store = _store(plane)
    await store.refresh()
    await plane.set_key_status(keys[0]["id"], "archived")
    await plane.set_key_status(keys[1]["id"], "archived")
    async with plane.database.sessions.begin() as session:  # pruned while this gateway was behind
        await session.execute(delete(ConfigChange))
    snapshot = await store.refresh()
    assert store.full_loads == 2
    assert [hash_key(k["secret"]) in snapshot.keys_by_hash for k in keys] == [False, False, True]


async def test_every_bump_logs_its_changes_and_concurrent_writers_never_share_a_version(plane: ControlPlane) -> None:
    await asyncio.gather(*(plane.create_key("eng", f"eng-racer-key{n}") for n in range(8)))
    log = await _log(plane)
    versions = sorted({v for v, _, _ in log})
    async with plane.database.sessions() as session:
        current = int(await session.scalar(select(func.max(ConfigChange.version))) or 0)
    assert versions == list(range(versions[0], current + 1))  # contiguous: one version per commit
    assert sum(1 for _, kind, entity in log if kind == KEY and entity) >= 8


async def test_the_metrics_publish_the_config_lag(gateway: Any) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=gateway.url) as http:
        text = (await http.get("/metrics")).text
    lag = next(line for line in text.splitlines() if line.startswith("steward_config_lag_seconds "))
    assert 0 <= float(lag.split()[1]) < 5
    assert any(line.startswith("steward_config_version ") and float(line.split()[1]) > 0
               for line in text.splitlines())
