"""``steward audit verify|export|tail`` and ``steward access-review`` as real subprocesses against a database a
gateway has written: intact, then tampered (verify exits 1 and names the position)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from steward.storage.engine import Database
from tests.audit.helpers import run_offline, sql, unguard
from tests.support import Gateway, child, run_steward


def steward(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEWARD_HOME": str(gateway.settings.home),
           "STEWARD_DATABASE_URL": gateway.settings.resolved_database_url(), "COLUMNS": "200"}
    return run_steward(*args, env=env)


def test_audit_commands(audited: Gateway, tmp_path: Path) -> None:
    gateway = audited
    with gateway.client("eng") as client:
        for n in range(3):
            client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                   messages=[{"role": "user", "content": f"hi {n}"}])
    with httpx.Client(base_url=gateway.url, headers={"x-api-key": gateway.admin_key}, timeout=10) as http:
        deadline = time.monotonic() + 15
        while (head := http.get("/v1/admin/audit/verify").json())["head_seq"] < 8 or head["unsealed_events"]:
            assert time.monotonic() < deadline, head
            time.sleep(0.1)

    verified = steward(gateway, "audit", "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    [chain] = json.loads(verified.stdout)["chains"]
    assert chain["valid"] is True and chain["head_seq"] >= 8

    tail = steward(gateway, "audit", "tail", "--format", "jsonl", "-n", "3")
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert len(lines) == 3 and [line["seq"] for line in lines] == list(range(lines[0]["seq"], lines[0]["seq"] + 3))
    table = steward(gateway, "audit", "tail", "-n", "5")
    assert table.returncode == 0 and "Latest 5 audit events" in table.stdout

    exported = steward(gateway, "audit", "export", "-o", str(tmp_path / "bundle"))
    assert exported.returncode == 0, exported.stderr
    assert run_offline(tmp_path / "bundle", tmp_path).returncode == 0
    empty = steward(gateway, "audit", "export", "-o", str(tmp_path / "none"), "--from", "2001-01-01", "--to",
                    "2001-01-02")
    assert empty.returncode == 1 and "no sealed audit events" in empty.stderr

    review = steward(gateway, "access-review", "--workspace", "eng", "--format", "csv")
    assert review.returncode == 0 and review.stdout.startswith("section,id,name,email,org_role")
    as_json = json.loads(steward(gateway, "access-review", "--workspace", "eng").stdout)
    assert as_json["workspace"]["name"] == "eng"

    async def tamper() -> None:
        db = Database(gateway.settings.resolved_database_url())
        try:
            await unguard(db)
            await sql(db, "UPDATE audit_events SET model = 'claude-opus-4-7' WHERE id = "
                          "(SELECT event_id FROM audit_chain WHERE seq = 2 AND org_id <> '')")
        finally:
            await db.close()
    asyncio.run(tamper())
    broken = steward(gateway, "audit", "verify")
    assert broken.returncode == 1
    assert "TAMPERED" in broken.stdout and "edited at seq 2" in broken.stdout, broken.stdout


def test_steward_ship_seals_the_chain(database_url: str, tmp_path: Path) -> None:
    """`steward serve` leaves sealing to its `steward ship` process (the workers stay free of database work)."""
    from steward.compliance.chain import Chains
    from tests.audit.helpers import chains

    async def init() -> None:
        from steward.controlplane.services import ControlPlane
        from steward.settings import Settings
        plane = ControlPlane(Settings(home=tmp_path, database_url=database_url))
        try:
            await plane.init("Ship Org")
        finally:
            await plane.close()

    async def head() -> int:
        db = Database(database_url)
        try:
            chain: Chains = chains(db)
            orgs = await chain.repo.chains()
            return sum([(await chain.verify(org)).head_seq for org in orgs])
        finally:
            await db.close()

    asyncio.run(init())
    assert asyncio.run(head()) == 0
    env = {**os.environ, "STEWARD_HOME": str(tmp_path), "STEWARD_DATABASE_URL": database_url,
           "STEWARD_AUDIT_SEAL_INTERVAL": "0.1"}
    ship = subprocess.Popen([sys.executable, "-m", "steward", "ship"], env=env)
    try:
        deadline = time.monotonic() + 30
        while asyncio.run(head()) < 1:
            assert time.monotonic() < deadline and ship.poll() is None
            time.sleep(0.2)
    finally:
        ship.terminate()
        assert ship.wait(timeout=30) == 0


def test_tail_follow_streams_new_events_as_json_lines(audited: Gateway) -> None:
    """From the chain's start (``--after 0``), so it does not matter how long the command takes to start: the first
    request's event proves it is up and streaming, the second one arrives while it follows."""
    gateway = audited
    env = {**os.environ, "STEWARD_HOME": str(gateway.settings.home),
           "STEWARD_DATABASE_URL": gateway.settings.resolved_database_url()}

    def request() -> str:
        with gateway.client("eng") as client:
            return str(client.messages.with_raw_response.create(
                model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            ).headers["request-id"])

    first = request()
    with child([sys.executable, "-m", "steward", "audit", "tail", "--format", "jsonl", "--follow", "--after", "0",
                "--interval", "0.1"], env=env, stdout=subprocess.PIPE, text=True) as follow:
        assert follow.stdout is not None
        seen: list[dict[str, Any]] = []

        def read_until(rid: str) -> None:
            assert follow.stdout is not None
            deadline = time.monotonic() + 30
            while rid not in [line["event"]["request_id"] for line in seen]:
                assert time.monotonic() < deadline and follow.poll() is None, seen
                seen.append(json.loads(follow.stdout.readline()))

        read_until(first)
        read_until(request())
        assert [line["seq"] for line in seen] == list(range(seen[0]["seq"], seen[0]["seq"] + len(seen)))
