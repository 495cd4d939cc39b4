"""Shared fixtures: real databases (SQLite file and PostgreSQL), the simulator, and a running gateway.

PostgreSQL is real: a template database is migrated once per session and every test that needs one gets
its own copy (``CREATE DATABASE ... TEMPLATE``), dropped afterwards. Set STEWARD_TEST_PG_URL to point
elsewhere than 127.0.0.1:5432 (user postgres).

A run leaves nothing behind: every process it starts carries STEWARD_TEST_RUN (the pid of the pytest process that
runs the session: the only one, or xdist's controller) in its environment, TMPDIR points inside pytest's own tmp
folder, and when the session ends (passed, failed, interrupted by Ctrl-C or SIGTERM) any process of the run still
alive is killed and any ``steward-demo-*`` folder removed, and the run fails loudly naming them.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade
from tests.hygiene import pytest_configure, pytest_sessionfinish  # noqa: F401 - hooks: the run leaves nothing behind
from tests.support import PG_ADMIN, Gateway, close_fork_server, pg_execute, start_gateway

RUN_ID = uuid.uuid4().hex[:8]


# Files that run real processes for tens of seconds each (about a third of the suite's time): collected first, so
# that xdist (--dist loadfile hands a worker the next file when it is free) starts them early and the workers
# finish together, instead of one worker running the longest file alone at the end. Order within a file is kept.
SLOW_FILES = ("tests/e2e/test_limits_redis.py", "tests/e2e/test_processes.py", "tests/e2e/test_ledger_chaos.py",
              "tests/controlplane/test_permissions.py", "tests/cli/test_demo.py", "tests/console/test_browser.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(SLOW_FILES)))


@pytest.fixture(scope="session", autouse=True)
def _cli_fork_server() -> Iterator[None]:
    """The CLI fork server (``tests.support.run_steward``) ends with the session, before the hygiene sweep."""
    yield
    close_fork_server()


_pg = pg_execute


def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"steward_tpl_{RUN_ID}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    upgrade(_pg_url(name))
    yield name
    asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session (per xdist worker); each test gets a copy, like PostgreSQL."""
    path = tmp_path_factory.mktemp("sqlite-template") / "steward.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    assert not path.with_name("steward.db-wal").exists()  # the whole database is in the one file
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "steward.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"steward_t_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


UPSTREAM_KEY = "sk-ant-upstream-test-0123456789-secret"


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(api_key=UPSTREAM_KEY, batch_processing_seconds=0.3)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def gateway(database_url: str, simulator: SimulatorServer, tmp_path: Path) -> Iterator[Gateway]:
    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY) as gw:
        yield gw
