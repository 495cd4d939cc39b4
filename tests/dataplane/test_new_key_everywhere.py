"""A key created elsewhere (another host, another worker process, the CLI) works on its first request, without
waiting for the next config poll: an unknown key makes the gateway check the database once before its 401.
The check is shared by concurrent unknown keys and skipped for an address already over the failed-auth limit, so
a flood of invented keys cannot turn into a flood of queries."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx

from steward.controlplane.services import ControlPlane
from steward.dataplane.snapshot import SnapshotStore
from steward.identity.keyformat import mint
from steward.settings import Settings
from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade
from steward.storage.repositories.identity import IdentityRepository
from tests.conftest import UPSTREAM_KEY
from tests.support import start_gateway

BODY: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
NEVER = 3600.0  # a poll interval no test outlives: only the on-demand check can have loaded the key


def test_a_key_created_elsewhere_works_on_its_first_request(database_url: str, simulator: SimulatorServer,
                                                             tmp_path: Path) -> None:
    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY,
                       snapshot_poll_interval=NEVER) as gw:
        async def create(plane: ControlPlane) -> dict[str, Any]:  # another host's Admin API: the same database
            return await plane.create_key("eng", "made-on-another-host")
        made = gw.control(create)
        with anthropic.Anthropic(base_url=gw.url, api_key=made["secret"], max_retries=0) as client:
            assert client.messages.create(**BODY).type == "message"
        with httpx.Client(base_url=gw.url, timeout=10) as http:  # an invented key still gets the 401 envelope
            refused = http.post("/v1/messages", json=BODY, headers={"x-api-key": mint().secret})
        assert refused.status_code == 401
        assert refused.json()["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}


def test_concurrent_unknown_keys_share_one_check(database_url: str, tmp_path: Path) -> None:
    async def main() -> tuple[int, int]:
        plane = ControlPlane(Settings(home=tmp_path / "home", database_url=database_url))
        try:
            await plane.init("Check Org", "admin@check.example")
            store = SnapshotStore(IdentityRepository(plane.database.sessions), NEVER)
            await store.refresh()
            before = store.checks
            moment = time.perf_counter()
            await asyncio.gather(*(store.caught_up_since(moment) for _ in range(200)))
            shared = store.checks - before
            await store.caught_up_since(moment)  # a check began after ``moment``: nothing to do
            return shared, store.checks - before
        finally:
            await plane.close()
    shared, total = asyncio.run(main())
    assert shared == 1 and total == 1


def test_an_address_over_the_failed_auth_limit_causes_no_check(tmp_path: Path, simulator: SimulatorServer) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    with start_gateway(url, simulator.url, tmp_path / "home", UPSTREAM_KEY, snapshot_poll_interval=NEVER,
                       unauthenticated_per_minute=5) as gw, httpx.Client(base_url=gw.url, timeout=10) as http:
        assert gw.app is not None
        store = gw.app.snapshots
        statuses = [http.post("/v1/messages", json=BODY, headers={"x-api-key": mint().secret}).status_code
                    for _ in range(20)]
        assert statuses == [401] * 5 + [429] * 15
        assert store.checks <= 1 + 5  # the start-up load, and at most one check per counted refusal
