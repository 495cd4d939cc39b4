"""Message Batches under the spend caps, and batch metering that never drops a result silently (issue 12)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from steward.app import create_app
from steward.dataplane.stages.budget import Budget
from steward.governance.budgets import Counter
from steward.serving import BackgroundServer
from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway

HAIKU = "claude-haiku-4-5"
# Haiku 4.5 at the batch price: $0.50 input and $2.50 output per MTok, so an item with max_tokens 1000 may cost
# $0.0025 of output: three items fit in one cent, four do not.
MAX_TOKENS = 1000


@pytest.fixture(scope="module")
def upstream() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(api_key=UPSTREAM_KEY, batch_processing_seconds=0.3, extra_models=("claude-opus-6",))
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def gw(database_url: str, upstream: SimulatorServer, tmp_path: Path) -> Iterator[Gateway]:
    with start_gateway(database_url, upstream.url, tmp_path / "home", UPSTREAM_KEY) as gateway:
        yield gateway


def items(n: int, model: str = HAIKU, prefix: str = "item") -> Any:
    return [{"custom_id": f"{prefix}-{i}", "params": {"model": model, "max_tokens": MAX_TOKENS,
                                                      "messages": [{"role": "user", "content": f"Question {i}"}]}}
            for i in range(n)]


def daily_cap(gw: Gateway, workspace: str, cents: int) -> None:
    with httpx.Client(base_url=gw.url, headers={"x-api-key": gw.admin_key}, timeout=10) as http:
        response = http.post("/v1/organizations/spend_limits", json={
            "scope": {"type": "workspace", "workspace_id": gw.workspace_ids[workspace]},
            "period": "daily", "amount": str(cents)})
    assert response.status_code == 200, response.text
    gw.sync_config()


def ended(client: anthropic.Anthropic, batch_id: str) -> None:
    deadline = time.monotonic() + 15
    while client.messages.batches.retrieve(batch_id).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    response = httpx.get(f"{str(client.base_url).rstrip('/')}/v1/messages/batches/{batch_id}/results", timeout=10,
                         headers={"x-api-key": client.api_key or "", "anthropic-version": "2023-06-01"})
    assert response.status_code == 200  # fetching the results meters the batch at once


def batch_rows(gw: Gateway, batch_id: str, n: int, timeout: float = 10) -> list[Any]:
    deadline = time.monotonic() + timeout
    while len(rows := [r for r in gw.usage() if r.batch_id == batch_id]) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return rows


def unmetered(gw: Gateway) -> dict[str, float]:
    text = httpx.get(f"{gw.url}/metrics", timeout=10).text
    return {reason: float(value) for reason, value in
            re.findall(r'steward_batch_results_unmetered_total\{reason="(\w+)"\} (\S+)', text)}


def test_a_batch_reserves_its_worst_case_against_a_daily_hard_cap(gw: Gateway) -> None:
    daily_cap(gw, "marketing", 1)
    with gw.client("marketing") as client:
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.batches.create(requests=items(4))
        text = refused.value.body["error"]["message"]  # type: ignore[index]
        assert text.startswith("This batch's worst case ($") and " does not fit in workspace marketing's daily " \
            "limit of $0.01: $0.01 is left ($0.00 spent, $0.00 held by requests in flight). Lower its requests' " \
            "max_tokens or split the batch, or ask an admin to raise the limit: `steward spend-requests create " \
            "--limit spl_" in text, text
        first = client.messages.batches.create(requests=items(3))
        with pytest.raises(anthropic.BadRequestError):  # the first batch's reservation holds the room
            client.messages.batches.create(requests=items(3, prefix="more"))
        ended(client, first.id)
        # Settled: the counter now holds the real cost (a few hundred tokens), not the $0.0075 reservation.
        second = client.messages.batches.create(requests=items(3, prefix="more"))
        ended(client, second.id)
    rows = batch_rows(gw, first.id, 3) + batch_rows(gw, second.id, 3)
    assert len(rows) == 6 and 0 < sum(r.cost_picousd for r in rows) < 10**10


def test_cancel_releases_what_the_batch_did_not_spend(gw: Gateway) -> None:
    daily_cap(gw, "marketing", 1)
    with gw.client("marketing") as client:
        first = client.messages.batches.create(requests=items(3))
        with pytest.raises(anthropic.BadRequestError):  # held by the first batch
            client.messages.batches.create(requests=items(3, prefix="during"))
        client.messages.batches.cancel(first.id)
        ended(client, first.id)
        second = client.messages.batches.create(requests=items(3, prefix="after"))
        assert second.id != first.id


def test_unknown_model_priced_by_family_and_bad_line_counted(gw: Gateway, upstream: SimulatorServer) -> None:
    before = unmetered(gw)
    with gw.client("eng") as client:
        batch = client.messages.batches.create(requests=items(2, model="claude-opus-6"))
        good = {"custom_id": "good", "result": {"type": "succeeded", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-6", "content": [],
            "stop_reason": "end_turn", "usage": {"input_tokens": 1000, "output_tokens": 500}}}}
        no_usage = {"custom_id": "no-usage", "result": {"type": "succeeded", "message": {"model": "claude-opus-6"}}}
        # The simulated upstream answers with one good result, one line of bad JSON and one without usage.
        upstream.app.batches.get(batch.id).results = b"\n".join(
            [orjson.dumps(good), b'{"custom_id": "torn", "result": {', orjson.dumps(no_usage)]) + b"\n"
        ended(client, batch.id)
    [row] = batch_rows(gw, batch.id, 1)
    # claude-opus-5-5 is the newest opus with a price ($4 / $20 per MTok), halved for batches.
    assert row.id == f"{batch.id}:good" and not row.unpriced
    assert Decimal(row.cost_picousd) == (Decimal(1000) * 4 + Decimal(500) * 20) / 2 * 10**6
    after = unmetered(gw)
    # At least once each: the counter is process-wide and counts metering passes (a results download racing the
    # background round meters the same batch twice; the usage rows stay single, as asserted above).
    assert after["bad_json"] >= before.get("bad_json", 0) + 1
    assert after["no_usage"] >= before.get("no_usage", 0) + 1


def test_a_batch_created_before_a_restart_is_settled_by_the_next_process(database_url: str, tmp_path: Path) -> None:
    """The hold is stored with the batch's row: the process that meters it after a restart (or another worker)
    settles it, so the batch's real cost reaches the caps. Before, that process had no hold in memory and the
    batch's cost never reached its spend counter, so later requests could spend past the cap."""
    config = SimulatorConfig(api_key=UPSTREAM_KEY, batch_processing_seconds=3.0)  # ends after the restart
    with SimulatorServer(config) as slow:
        with start_gateway(database_url, slow.url, tmp_path / "home", UPSTREAM_KEY) as first:
            daily_cap(first, "eng", 1)
            with first.client("eng") as client:
                batch = client.messages.batches.create(requests=items(2))
        restarted = create_app(first.settings)  # same database and home: the gateway after a restart
        with BackgroundServer(restarted) as server:
            first.url, first.app = server.url, restarted
            rows = batch_rows(first, batch.id, 2)
            assert len(rows) == 2
            budget = next(stage for stage in restarted.settling if isinstance(stage, Budget))
            [entry] = budget.all_entries()
            counter = Counter(budget.counter_key(entry, datetime.now(UTC)), entry.cap_picousd, 60.0)
            deadline = time.monotonic() + 10
            while True:  # settlement follows the metering round that wrote the rows
                [state] = asyncio.run(restarted.budgets.state([counter]))
                if state.spent or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert state.spent == sum(r.cost_picousd for r in rows) > 0 and state.reserved == 0


REFUSE_BATCHES = ("CREATE TRIGGER refuse_batches BEFORE INSERT ON batches "
                  "BEGIN SELECT RAISE(ABORT, 'refused for the test'); END")


def _sql(database: Path, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """One statement on the test's SQLite file beside the gateway, committed. SQLite can answer "database is locked"
    at once (a write whose read snapshot went stale while a gateway wrote), not only after the busy timeout: tried
    again for up to two minutes; the threads alive are named if it never succeeds."""
    deadline = time.monotonic() + 120
    while True:
        try:
            with contextlib.closing(sqlite3.connect(database, timeout=10)) as db, db:
                return db.execute(statement, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                held = [os.readlink(fd) for fd in Path("/proc/self/fd").iterdir()
                        if str(database) in (os.readlink(fd) if fd.is_symlink() else "")]
                raise AssertionError(f"{exc}; threads: {[t.name for t in threading.enumerate()]}; this "
                                     f"process's open files of the database: {held}") from exc
            gc.collect()  # a connection the stopped gateway left unclosed is closed when collected
            time.sleep(0.2)


def test_a_batch_whose_row_the_database_refused_is_journaled_and_still_metered(tmp_path: Path) -> None:
    """The upstream created (and bills) the batch but the database refused its row: the row is journaled. The
    database refusing it again at ship time puts it in the quarantine (an outage would be retried instead);
    once the cause is fixed, `steward journal quarantine reship` writes it and the next gateway meters the batch.
    Before, the row lived only in the first process's memory and a restart lost the batch's usage for good."""
    database = tmp_path / "steward.db"
    url = f"sqlite+aiosqlite:///{database}"
    upgrade(url)
    config = SimulatorConfig(api_key=UPSTREAM_KEY, batch_processing_seconds=2.0)
    with SimulatorServer(config) as slow:
        with start_gateway(url, slow.url, tmp_path / "home", UPSTREAM_KEY) as first:
            _sql(database, REFUSE_BATCHES)  # the database refuses batch rows for a moment
            with first.client("eng") as client:
                batch = client.messages.batches.create(requests=items(2))  # the client still gets its batch
        _sql(database, "DROP TRIGGER refuse_batches")
        assert _sql(database, "SELECT count(*) FROM batches") == [(0,)]
        env = {**os.environ, "STEWARD_HOME": str(first.settings.home), "STEWARD_DATABASE_URL": url}
        done = subprocess.run([sys.executable, "-m", "steward", "journal", "quarantine", "reship"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0 and "Re-shipped 1 line" in done.stdout, (done.stdout, done.stderr)
        restarted = create_app(first.settings)
        with BackgroundServer(restarted) as server:
            first.url, first.app = server.url, restarted
            assert len(batch_rows(first, batch.id, 2, timeout=30)) == 2  # a restarted gateway on a busy machine


def test_a_batch_row_written_by_the_shipper_first_does_not_stop_batch_metering(tmp_path: Path) -> None:
    """The database refused a batch's row for a moment; the row was journaled and kept for the metering worker's
    retry. When the shipper (here: anyone) writes it first, the retry's insert finds it there. Before, that
    insert raised on every metering round, forever, and no batch of this process was metered again (a CI chaos
    run, seed 333205: two batches never metered after a PostgreSQL outage)."""
    database = tmp_path / "steward.db"
    url = f"sqlite+aiosqlite:///{database}"
    upgrade(url)
    config = SimulatorConfig(api_key=UPSTREAM_KEY, batch_processing_seconds=0.3)
    with SimulatorServer(config) as upstream, start_gateway(url, upstream.url, tmp_path / "home", UPSTREAM_KEY,
                                                            batch_meter_interval=1.0) as gw:
        _sql(database, REFUSE_BATCHES)
        with gw.client("eng") as client:
            first = client.messages.batches.create(requests=items(2, prefix="first"))
        _sql(database, "DROP TRIGGER refuse_batches")  # the outage ends; the row is written before the retry
        _sql(database, "INSERT OR IGNORE INTO batches (id, org_id, workspace_id, api_key_id, request_count, "
             "created_at) SELECT ?, org_id, id, ?, 2, ? FROM workspaces WHERE id = ?",
             (first.id, gw.key_ids["eng"], datetime.now(UTC).isoformat(), gw.workspace_ids["eng"]))
        with gw.client("eng") as client:
            second = client.messages.batches.create(requests=items(2, prefix="second"))
        assert len(batch_rows(gw, first.id, 2, timeout=30)) == 2
        assert len(batch_rows(gw, second.id, 2, timeout=30)) == 2
        assert _sql(database, "SELECT count(*) FROM batches") == [(2,)]
