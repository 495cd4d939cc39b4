"""docs/deployment.md, "Backups and restore": a backup taken while Steward serves, restored into a new database,
passes ``steward audit verify`` and reports the same usage; the same for SQLite; and the journal of a host that
died with unshipped lines is shipped from a copy by ``steward ship``.

The commands are the doc's (pg_dump / pg_restore, ``sqlite3 .backup``); change them together.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade
from tests.conftest import UPSTREAM_KEY
from tests.deployment.hosts import fresh_database, libpq_url, pg_url, secret_b64, serve
from tests.support import child, run_steward, start_gateway, stop_group

BODY = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]}


def _env(database_url: str, home: Path, signing_key: str | None) -> dict[str, str]:
    """The environment of a machine the backup is restored on: its own empty home, the kept signing key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_") or k == "STEWARD_TEST_RUN"}
    env.update({"STEWARD_DATABASE_URL": database_url, "STEWARD_HOME": str(home)})
    if signing_key is not None:
        env["STEWARD_AUDIT_SIGNING_KEY"] = signing_key
    return env


def _report_output_tokens(env: dict[str, str]) -> int:
    done = run_steward("usage", "report", "--group-by", "workspace", "--format", "jsonl", env=env)
    assert done.returncode == 0, done.stderr
    return sum(int(json.loads(line)["output_tokens"]) for line in done.stdout.splitlines() if line.strip())


def _serve_traffic(database_url: str, simulator: SimulatorServer, home: Path, signing_key: str,
                   backup: list[str]) -> int:
    """Serve a few requests, wait until they are shipped and sealed, run the doc's backup command while the
    gateway is still serving; the output tokens sent."""
    with start_gateway(database_url, simulator.url, home, UPSTREAM_KEY,
                       audit_signing_key=SecretStr(signing_key)) as gw:
        sent = sum(gw.client().messages.create(**BODY).usage.output_tokens  # type: ignore[call-overload]
                   for _ in range(4))
        deadline = time.monotonic() + 30
        while len(gw.usage()) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2 * gw.settings.audit_seal_interval)  # sealed into the chain too (the backup holds the chain)
        done = subprocess.run(backup, check=False, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    return int(sent)


def _verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_steward("audit", "verify", env=env)


def test_postgresql_backup_restores_and_verifies(simulator: SimulatorServer, tmp_path: Path) -> None:
    signing_key = secret_b64()
    dump = tmp_path / "steward.dump"
    with fresh_database("live") as live, fresh_database("restored") as restored:
        upgrade(pg_url(live))
        sent = _serve_traffic(pg_url(live), simulator, tmp_path / "home", signing_key,
                              ["pg_dump", "--format=custom", f"--file={dump}", libpq_url(live)])
        done = subprocess.run(["pg_restore", "--no-owner", f"--dbname={libpq_url(restored)}", str(dump)],
                              check=False, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        env = _env(pg_url(restored), tmp_path / "new-machine", signing_key)
        verify = _verify(env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert _report_output_tokens(env) == sent
        # Without the signing key the restored trail cannot be trusted: its checkpoints name a key this machine
        # does not have (why the doc says to keep STEWARD_AUDIT_SIGNING_KEY with the backups).
        assert _verify(_env(pg_url(restored), tmp_path / "other-machine", None)).returncode == 1


def test_sqlite_backup_restores_and_verifies(sqlite_template: Path, simulator: SimulatorServer,
                                             tmp_path: Path) -> None:
    signing_key = secret_b64()
    live, backup = tmp_path / "home" / "steward.db", tmp_path / "backup" / "steward.db"
    live.parent.mkdir()
    backup.parent.mkdir()
    shutil.copyfile(sqlite_template, live)
    sent = _serve_traffic(f"sqlite+aiosqlite:///{live}", simulator, tmp_path / "home", signing_key,
                          ["sqlite3", str(live), f".backup {backup}"])
    restored = tmp_path / "new-machine" / "steward.db"
    restored.parent.mkdir()
    shutil.copyfile(backup, restored)  # the doc's restore: the backup file, copied into the new home
    env = _env(f"sqlite+aiosqlite:///{restored}", restored.parent, signing_key)
    verify = _verify(env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert _report_output_tokens(env) == sent


def test_a_dead_hosts_journal_is_shipped_from_a_copy(tmp_path: Path, simulator: SimulatorServer) -> None:
    with fresh_database("journal") as db:
        env = {**os.environ, "STEWARD_DATABASE_URL": pg_url(db), "STEWARD_UPSTREAM_URL": simulator.url,
               "STEWARD_UPSTREAM_API_KEYS": f'["{UPSTREAM_KEY}"]', "STEWARD_AUDIT_SIGNING_KEY": secret_b64(),
               "STEWARD_HOME": str(tmp_path / "operator"),
               # The host's shipper ships at start, then not for an hour: what it journals stays unshipped.
               "STEWARD_JOURNAL_SHIP_INTERVAL": "3600"}
        init = run_steward("init", env=env)
        admin_key = init.stdout.strip().splitlines()[-1]
        assert init.returncode == 0, init.stderr
        home = tmp_path / "dead-host"
        with serve(env, home) as host:
            headers = {"x-api-key": admin_key, "anthropic-version": "2023-06-01"}
            ws = httpx.post(f"{host.url}/v1/admin/workspaces", json={"name": "eng"}, headers=headers).json()
            key = httpx.post(f"{host.url}/v1/admin/keys", json={"workspace_id": ws["id"],
                                                                "name": "eng-prod-inference"},
                             headers=headers).json()
            sent, answered, deadline = 0, 0, time.monotonic() + 10
            while answered < 3:  # a new key is in force once the host's next config poll has seen it
                answer = httpx.post(f"{host.url}/v1/messages", json=BODY, timeout=30,
                                    headers={"x-api-key": key["secret"], "anthropic-version": "2023-06-01"})
                if answer.status_code == 401 and answered == 0 and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                assert answer.status_code == 200, answer.text
                sent, answered = sent + answer.json()["usage"]["output_tokens"], answered + 1
            stop_group(host.proc, signal.SIGKILL)  # the host dies: serve, workers and shipper at once
        assert _report_output_tokens(env) == 0  # nothing of it reached the database
        copy = tmp_path / "mounted" / "journal"
        shutil.copytree(home / "journal", copy)  # the dead host's disk, attached to another machine
        with child([sys.executable, "-m", "steward", "ship"], env={**env, "STEWARD_JOURNAL_DIR": str(copy),
                                             "STEWARD_JOURNAL_SHIP_INTERVAL": "0.2"}) as ship:
            deadline = time.monotonic() + 60
            while _report_output_tokens(env) < sent and time.monotonic() < deadline:
                time.sleep(0.5)
            stop_group(ship)
        assert _report_output_tokens(env) == sent
        verify = _verify(env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
