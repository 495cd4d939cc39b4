"""Shutdown and last-use flushing: settlements finish before their stores close; a failed flush loses no time."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from steward.app import Steward
from steward.dataplane.context import BudgetHold, RequestContext
from steward.dataplane.snapshot import SpendEntry
from steward.dataplane.stages.budget import Budget
from steward.governance.budgets import Counter
from steward.governance.money import usd
from steward.governance.pricing import Cost
from steward.storage.repositories.identity import IdentityRepository
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, gateway_settings, provision


@pytest.fixture
def gw(sqlite_template: Path, tmp_path: Path) -> Gateway:
    """An organization with one key, on a SQLite file (provisioned before the test's event loop runs)."""
    db = tmp_path / "steward.db"
    shutil.copyfile(sqlite_template, db)
    settings = gateway_settings(f"sqlite+aiosqlite:///{db}", "http://127.0.0.1:9", tmp_path / "home",
                                UPSTREAM_KEY)
    return provision(settings, {"eng": None})


def _move(source: Path, target: Path) -> None:
    source.replace(target)


async def _last_used(app: Steward, key_id: str) -> datetime | None:
    key = await IdentityRepository(app.database.sessions).get_key(key_id)
    assert key is not None
    return key.last_used_at


async def test_failed_last_used_flush_keeps_the_times(gw: Gateway) -> None:
    key_id = gw.key_ids["eng"]
    db = Path(str(gw.settings.database_url).removeprefix("sqlite+aiosqlite:///"))
    app = Steward(gw.settings)
    used = time.time() - 60
    app.last_used.touch(key_id, used)
    _move(db, db.with_suffix(".away"))  # the database file is gone: the flush meets an empty database
    try:
        await app.flush_last_used()
    except Exception:
        pass
    else:
        raise AssertionError("a flush against a database without tables must fail")
    assert app.last_used.pending == {key_id: used}
    app.last_used.restore({key_id: used - 10})  # merging back keeps the newer time per key
    assert app.last_used.pending == {key_id: used}
    await app.database.engine.dispose()
    _move(db.with_suffix(".away"), db)  # the database is back
    await app.flush_last_used()  # the next good flush writes the kept time
    assert app.last_used.pending == {}
    stored = await _last_used(app, key_id)
    assert stored is not None
    assert abs(stored.replace(tzinfo=UTC).timestamp() - used) < 1
    await app.database.close()


async def test_shutdown_awaits_pending_settlements(gw: Gateway) -> None:
    app = Steward(gw.settings)  # no Redis: the in-process spend store
    await app.startup()
    budget = next(stage for stage in app.settling if isinstance(stage, Budget))
    entry = SpendEntry(id="sl_shutdown", org_id="org_x", scope="organization", scope_id="org_x", period="daily",
                       cap_picousd=10**12, hard=True, thresholds=())
    now = datetime.now(UTC)
    ((counter, _),) = await budget.counters([entry], now)
    assert (await budget.reserve_raw([counter], 5000)).admitted
    ctx = RequestContext(request_id="req_shutdown", endpoint="messages", started_at=time.time(),
                         started_perf=time.perf_counter(), headers={})
    _hold(ctx, counter, entry, reserved=5000, actual=1200)
    budget.on_complete(ctx)  # the settlement is a task: still pending when shutdown begins
    (state,) = await app.budgets.state([counter])
    assert (state.spent, state.reserved) == (0, 5000)
    await app.shutdown()
    (state,) = await app.budgets.state([counter])
    assert (state.spent, state.reserved) == (1200, 0)


async def test_drain_waits_for_every_settlement(gw: Gateway) -> None:
    app = Steward(gw.settings)
    await app.startup()
    budget = next(stage for stage in app.settling if isinstance(stage, Budget))
    entry = SpendEntry(id="sl_drain", org_id="org_x", scope="organization", scope_id="org_x", period="daily",
                       cap_picousd=10**12, hard=True, thresholds=())
    ((counter, _),) = await budget.counters([entry], datetime.now(UTC))
    for i in range(3):
        assert (await budget.reserve_raw([counter], 1000)).admitted
        ctx = RequestContext(request_id=f"req_drain{i}", endpoint="messages", started_at=time.time(),
                             started_perf=time.perf_counter(), headers={})
        _hold(ctx, counter, entry, reserved=1000, actual=100)
        budget.on_complete(ctx)
    await budget.drain()  # no other await in between: only drain lets the three settlements run
    (state,) = await app.budgets.state([counter])
    assert (state.spent, state.reserved) == (300, 0)
    await app.shutdown()


def _hold(ctx: RequestContext, counter: Counter, entry: SpendEntry, *, reserved: int, actual: int) -> None:
    """What Budget's admission and Meter leave on the context: the hold, and the priced cost."""
    ctx.budget_hold = BudgetHold((counter,), (counter,), reserved, {counter.key: entry})
    ctx.cost = Cost(usd(actual), (), "claude-haiku-4-5", "test")
