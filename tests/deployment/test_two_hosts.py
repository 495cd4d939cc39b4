"""docs/deployment.md, "Several hosts: a walk-through", step by step: two ``steward serve`` hosts (own homes and
journals) on one PostgreSQL database and one Redis prefix, the built-in simulator upstream, the official SDK.

Each step below names the doc's step it runs; change them together.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from pathlib import Path

import anthropic
import asyncpg

from tests.deployment.hosts import (
    REDIS_URL,
    admin,
    fresh_database,
    last_line,
    libpq_url,
    pg_url,
    redis_prefix,
    secret_b64,
    serve,
    simulator,
)
from tests.support import run_steward

SMALL = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]}
# The spend-cap step: each request's worst case (48 output tokens of Opus) is about an eighth of the 1-cent cap.
COSTLY = {"model": "claude-opus-4-8", "max_tokens": 48, "messages": [{"role": "user", "content": "hello"}]}


def _sdk(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)


def _send(url: str, key: str, body: dict[str, object]) -> int:
    """One request through the SDK; its output tokens."""
    with _sdk(url, key) as client:
        return client.messages.create(**body).usage.output_tokens  # type: ignore[call-overload, no-any-return]


def _accepted_within(url: str, key: str, seconds: float) -> int:
    """Output tokens of the first request ``url`` accepts with a key just created elsewhere (hosts load
    configuration changes every ``STEWARD_SNAPSHOT_POLL_INTERVAL``); fails after ``seconds``."""
    started = time.monotonic()
    while True:
        try:
            return _send(url, key, SMALL)
        except anthropic.AuthenticationError:
            assert time.monotonic() - started < seconds, f"a new key was still unknown at {url} after {seconds} s"
            time.sleep(0.1)


def _refused_within(url: str, key: str, seconds: float) -> tuple[float, int]:
    """Seconds until ``key`` gets 401 at ``url`` (polling), and the output tokens of the requests still accepted
    meanwhile; fails after ``seconds``."""
    started, tokens = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        try:
            tokens += _send(url, key, SMALL)
        except anthropic.AuthenticationError:
            return time.monotonic() - started, tokens
        time.sleep(0.1)
    raise AssertionError(f"the revoked key still worked at {url} after {seconds} s")


def _config_served_at(url: str, database: str, seconds: float) -> None:
    """Wait until the workers at ``url`` serve the database's current config version (they poll it): the
    version in ``/metrics``, which the answering worker reports, six scrapes in a row."""
    async def current() -> int:
        conn = await asyncpg.connect(libpq_url(database))
        try:
            return int(await conn.fetchval("SELECT version FROM config_version"))
        finally:
            await conn.close()
    wanted, deadline, in_a_row = asyncio.run(current()), time.monotonic() + seconds, 0
    while in_a_row < 6:
        assert time.monotonic() < deadline, f"{url} did not serve config version {wanted} after {seconds} s"
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
            served = [float(line.rsplit(" ", 1)[1]) for line in answer.read().decode().splitlines()
                      if line.startswith("steward_config_version ")]
        in_a_row = in_a_row + 1 if served and served[0] >= wanted else 0
        time.sleep(0.05)


def _output_tokens_in_report(env: dict[str, str]) -> int:
    done = run_steward("usage", "report", "--group-by", "key", "--format", "jsonl", env=env)
    assert done.returncode == 0, done.stderr
    return sum(int(json.loads(line)["output_tokens"]) for line in done.stdout.splitlines() if line.strip())


def test_two_hosts_on_one_postgresql_and_one_redis(tmp_path: Path) -> None:
    with fresh_database("hosts") as db, redis_prefix("hosts") as prefix, simulator() as upstream:
        # Step 1: the settings every host shares (one database, one Redis prefix, the same two secrets).
        env = {**os.environ, "STEWARD_DATABASE_URL": pg_url(db), "STEWARD_REDIS_URL": REDIS_URL,
               "STEWARD_REDIS_KEY_PREFIX": prefix,
               "STEWARD_UPSTREAM_URL": upstream, "STEWARD_UPSTREAM_API_KEYS": '["sk-ant-simulated"]',
               "STEWARD_MASTER_KEY": secret_b64(), "STEWARD_AUDIT_SIGNING_KEY": secret_b64(),
               "STEWARD_HOME": str(tmp_path / "operator")}
        # Step 2: migrate and initialise once, from one machine.
        assert run_steward("migrate", env=env).returncode == 0
        init = run_steward("init", "--name", "Example Corp", "--admin-email", "ops@example.com", env=env)
        assert init.returncode == 0, init.stderr
        admin_key = last_line(init.stdout)
        # Step 3: two hosts, each with its own home (journal); host B with two workers.
        with serve(env, tmp_path / "host-a") as a, serve(env, tmp_path / "host-b", workers=2) as b:
            # Step 4: a workspace and a key, created through host A's Admin API; the key works on host B.
            ws = admin(a.url, admin_key, "POST", "/v1/admin/workspaces", {"name": "eng"})
            key = admin(a.url, admin_key, "POST", "/v1/admin/keys",
                        {"workspace_id": ws["id"], "name": "eng-prod-inference"})
            sent = _accepted_within(b.url, key["secret"], 5.0)
            sent += _send(a.url, key["secret"], SMALL) + _send(b.url, key["secret"], SMALL)
            # Step 5: a second key, revoked on host A, is refused on host B within seconds.
            other = admin(a.url, admin_key, "POST", "/v1/admin/keys",
                          {"workspace_id": ws["id"], "name": "eng-prod-batch"})
            sent += _accepted_within(b.url, other["secret"], 5.0)
            admin(a.url, admin_key, "DELETE", f"/v1/admin/keys/{other['id']}")
            took, tokens = _refused_within(b.url, other["secret"], 5.0)
            sent += tokens
            assert took < 5.0
            # Step 6: a spend cap set on host A is one counter (Redis): spending on A exhausts it for B as well.
            admin(a.url, admin_key, "POST", "/v1/organizations/spend_limits",
                  {"scope": {"type": "workspace", "workspace_id": ws["id"]}, "period": "daily", "amount": "1"})
            _config_served_at(b.url, db, 10.0)  # host B polls config changes: wait until it holds the cap
            admitted_on_a = 0
            while True:
                try:
                    sent += _send(a.url, key["secret"], COSTLY)
                    admitted_on_a += 1
                except anthropic.BadRequestError as exc:
                    assert "limit" in str(exc).lower(), exc
                    break
                assert admitted_on_a < 40, "a 1-cent cap admitted 40 Opus requests"
            assert admitted_on_a >= 2  # the cap admitted some before it ran out
            try:
                _send(b.url, key["secret"], COSTLY)
                raise AssertionError("host B admitted a request past the workspace cap spent on host A")
            except anthropic.BadRequestError as exc:
                assert "limit" in str(exc).lower(), exc
            # Step 7: one report holds the usage of both hosts (shipped by each host's `steward ship`).
            deadline = time.monotonic() + 30
            while (reported := _output_tokens_in_report(env)) < sent and time.monotonic() < deadline:
                time.sleep(0.5)
            assert reported == sent
        # Step 8: the audit trail verifies (both hosts sealed into the same chain, with the shared signing key).
        verify = run_steward("audit", "verify", env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        # The access log: a line per request on each host, in each of host B's worker processes' output too.
        for host in (a, b):
            lines = [line for line in host.log.read_text().splitlines() if " steward.access " in line]
            assert any(" /v1/messages 200 " in line and key["id"] in line for line in lines), host.log
            assert key["secret"] not in host.log.read_text() and admin_key not in host.log.read_text()
