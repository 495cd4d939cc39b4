"""Console pages with 100,000 API keys: server-side render time of the key list (and a few neighbours).

Inserts the keys in bulk through the storage layer's engine and models (no admin API, no per-key audit), starts
a real gateway on the same database, signs in, and reads each page's ``Server-Timing`` (the server's own time:
session check, queries, template) and the client's wall time.

    .venv/bin/python bench/console_bench.py                 # SQLite, 100,000 keys
    KEYS=100000 DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/console_bench.py
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from steward.app import create_app
from steward.controlplane.services import ControlPlane
from steward.ids import new_id
from steward.serving import BackgroundServer
from steward.settings import Settings
from steward.storage.engine import Database
from steward.storage.migrate import upgrade
from steward.storage.models import ApiKey


async def seed_keys(url: str, org_id: str, workspace_ids: list[str], count: int, chunk: int = 5000) -> float:
    """Insert ``count`` keys spread over the workspaces; returns seconds taken."""
    started = time.perf_counter()
    database = Database(url)
    now = datetime.now(UTC)
    try:
        for offset in range(0, count, chunk):
            rows = []
            for i in range(offset, min(offset + chunk, count)):
                digest = hashlib.sha256(f"bench-key-{i}-{org_id}".encode()).hexdigest()
                workspace = workspace_ids[i % len(workspace_ids)]
                rows.append({"id": new_id("apikey"), "org_id": org_id, "workspace_id": workspace,
                             "name": f"bench-keys-k{i:06d}", "status": "active" if i % 10 else "inactive",
                             "key_hash": digest, "partial_key_hint": f"sk-stw-api01-{digest[:3]}...{digest[-4:]}",
                             "created_at": now, "created_by": None, "expires_at": None, "last_used_at": None,
                             "scopes": None, "rotated_at": None, "previous_key_hash": None,
                             "previous_valid_until": None})
            async with database.sessions.begin() as session:
                await session.execute(insert(ApiKey), rows)
        if database.dialect == "postgresql":  # as autovacuum would after a bulk load: fresh planner statistics
            async with database.sessions.begin() as session:
                await session.execute(text("ANALYZE api_keys"))
    finally:
        await database.close()
    return time.perf_counter() - started


def provision(settings: Settings, workspaces: int) -> tuple[str, str, list[str]]:
    async def action() -> tuple[str, str, list[str]]:
        plane = ControlPlane(settings)
        try:
            done = await plane.init("Bench Org", "admin@bench.example")
            ids = [(await plane.create_workspace(f"ws{i}"))["id"] for i in range(workspaces)]
            return done.organization.id, done.admin_secret or "", ids
        finally:
            await plane.close()
    return asyncio.run(action())


def server_ms(response: httpx.Response) -> float:
    found = re.search(r"dur=([0-9.]+)", response.headers.get("server-timing", ""))
    assert response.status_code == 200 and found, (response.status_code, response.text[:300])
    return float(found.group(1))


def measure(url: str, admin_key: str, paths: list[str], runs: int = 20) -> dict[str, tuple[float, float, float]]:
    """Per path: (server p50 ms, server max ms, client p50 ms) over ``runs`` requests after one warm-up."""
    out = {}
    with httpx.Client(base_url=url, timeout=30) as http:
        form = http.get("/console/signin").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        http.post("/console/signin", data={"csrf_token": token.group(1), "admin_key": admin_key})
        for path in paths:
            http.get(path)
            server, client = [], []
            for _ in range(runs):
                started = time.perf_counter()
                response = http.get(path)
                client.append((time.perf_counter() - started) * 1000)
                server.append(server_ms(response))
            out[path] = (statistics.median(server), max(server), statistics.median(client))
    return out


def main() -> None:
    count = int(os.environ.get("KEYS", "100000"))
    home = Path(tempfile.mkdtemp(prefix="steward-console-bench-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{home / 'steward.db'}"
    upgrade(url)
    settings = Settings(home=home, database_url=url, upstream_url="http://127.0.0.1:9")
    org_id, admin_key, workspaces = provision(settings, 10)
    seconds = asyncio.run(seed_keys(url, org_id, workspaces, count))
    print(f"inserted {count:,} keys in {seconds:.1f} s ({url.split(':')[0]})")
    with BackgroundServer(create_app(settings)) as server:
        middle = httpx.get(f"{server.url}/v1/organizations/api_keys", params={"limit": 1000},
                           headers={"x-api-key": admin_key}).json()["last_id"]
        paths = ["/console/keys", f"/console/keys?after_id={middle}", f"/console/keys?workspace_id={workspaces[3]}",
                 "/console/keys?status=inactive", "/console/", "/console/workspaces"]
        results = measure(server.url, admin_key, paths)
    print(f"{'page':58} {'server p50':>10} {'server max':>10} {'client p50':>10}")
    for path, (p50, worst, client) in results.items():
        print(f"{path[:58]:58} {p50:8.1f} ms {worst:8.1f} ms {client:8.1f} ms")
    if results["/console/keys"][0] >= 300:
        sys.exit("the key list took 300 ms or more")


if __name__ == "__main__":
    main()
