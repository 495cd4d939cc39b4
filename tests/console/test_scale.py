"""With 100,000 API keys in the database, the console's key list serves one page of keys, never all of them.

How fast it renders is measured by bench/console_bench.py on SQLite and PostgreSQL (docs/benchmarks.md), not here:
a timed assertion in a suite run on four busy workers fails for reasons that are not the code's.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from bench.console_bench import provision, seed_keys

from steward.app import create_app
from steward.serving import BackgroundServer
from steward.settings import Settings
from steward.storage.migrate import upgrade


def test_key_list_with_100k_keys_holds_one_page(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    settings = Settings(home=tmp_path / "home", database_url=url, upstream_url="http://127.0.0.1:9",
                        snapshot_poll_interval=0.5)
    org_id, admin_key, workspaces = provision(settings, 4)
    asyncio.run(seed_keys(url, org_id, workspaces, 100_000))
    with BackgroundServer(create_app(settings)) as server, httpx.Client(base_url=server.url) as http:
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/console/signin").text)
        assert token
        http.post("/console/signin", data={"csrf_token": token.group(1), "admin_key": admin_key})
        for path in ("/console/keys", "/console/keys?status=active", f"/console/keys?workspace_id={workspaces[1]}"):
            page = http.get(path)
            assert page.status_code == 200 and page.text.count("data-name=") == 25 and 'rel="next"' in page.text
