"""With 100,000 API keys in the database, the console's key list renders on the server in under 300 ms
(bench/console_bench.py measures the same on SQLite and PostgreSQL; numbers in docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from bench.console_bench import measure, provision, seed_keys

from steward.app import create_app
from steward.serving import BackgroundServer
from steward.settings import Settings
from steward.storage.migrate import upgrade


def test_key_list_with_100k_keys_renders_under_300_ms(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    settings = Settings(home=tmp_path / "home", database_url=url, upstream_url="http://127.0.0.1:9",
                        snapshot_poll_interval=0.5)
    org_id, admin_key, workspaces = provision(settings, 4)
    asyncio.run(seed_keys(url, org_id, workspaces, 100_000))
    with BackgroundServer(create_app(settings)) as server:
        results = measure(server.url, admin_key, ["/console/keys", "/console/keys?status=inactive",
                                                  f"/console/keys?workspace_id={workspaces[1]}"], runs=7)
        with httpx.Client(base_url=server.url) as http:  # the page holds one page of keys, not 100,000
            token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/console/signin").text)
            assert token
            http.post("/console/signin", data={"csrf_token": token.group(1), "admin_key": admin_key})
            page = http.get("/console/keys")
            assert page.text.count("data-name=") == 25 and 'rel="next"' in page.text
    for path, (p50, _worst, _client) in results.items():
        assert p50 < 300, (path, p50)
