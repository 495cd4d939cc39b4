"""Test support: start a real gateway (same factory as production) and read what it recorded; own child processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
from pydantic import SecretStr

from steward.app import Steward, create_app
from steward.controlplane.services import ControlPlane
from steward.serving import BackgroundServer
from steward.serving_guard import Door
from steward.settings import Settings
from steward.storage.models import AuditEvent, UsageRecord

PG_ADMIN = os.environ.get("STEWARD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SIM_HEADERS = ["anthropic-version", "anthropic-beta", "x-sim-fault", "x-sim-output-tokens", "x-sim-ttft-ms",
               "x-sim-delay-ms"]


def gateway_settings(database_url: str, upstream_url: str, home: Path, upstream_key: str, **extra: Any) -> Settings:
    fast: dict[str, Any] = {"snapshot_poll_interval": 0.1, "journal_ship_interval": 0.05,
                            "batch_meter_interval": 0.2, "key_last_used_flush_interval": 0.2,
                            "webhook_allow_private": True}  # test receivers listen on 127.0.0.1
    return Settings(home=home, database_url=database_url, upstream_url=upstream_url,
                    upstream_api_keys=[SecretStr(upstream_key)], forward_request_headers=SIM_HEADERS,
                    **{**fast, **extra})


@dataclass
class Gateway:
    url: str
    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)       # workspace name -> secret
    key_ids: dict[str, str] = field(default_factory=dict)    # workspace name -> key id
    workspace_ids: dict[str, str] = field(default_factory=dict)
    admin_key: str = ""                                       # the first admin's key (role admin)
    admin_user_id: str = ""
    app: Steward | None = None                                # the in-process gateway (start_gateway)

    def sync_config(self, timeout: float = 10.0) -> None:
        """Wait until the gateway serves the current config version (a change just made through the control
        plane), instead of sleeping for a few poll intervals and hoping: deterministic on a busy machine."""
        assert self.app is not None, "sync_config needs a gateway started by start_gateway"
        with ThreadPoolExecutor(1) as pool:  # a thread of its own: callers may be inside an event loop
            wanted = pool.submit(self.control, lambda plane: plane.repo.version()).result()
        deadline = time.monotonic() + timeout
        while self.app.snapshots.current.version < wanted:
            assert time.monotonic() < deadline, f"the gateway did not load config version {wanted} in {timeout} s"
            time.sleep(0.01)

    def client(self, workspace: str = "eng", **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("max_retries", 0)
        return anthropic.Anthropic(base_url=self.url, api_key=self.keys[workspace], **kwargs)

    def control(self, action: Any) -> Any:
        async def _main() -> Any:
            plane = ControlPlane(self.settings)
            try:
                return await action(plane)
            finally:
                await plane.close()
        return asyncio.run(_main())

    def usage(self, request_ids: Sequence[str] | None = None) -> list[UsageRecord]:
        if request_ids is None:
            return list(self.control(lambda p: p.records.usage_all()))
        return list(self.control(lambda p: p.records.usage_for_requests(request_ids)))

    def audit(self, request_ids: Sequence[str]) -> list[AuditEvent]:
        return list(self.control(lambda p: p.records.audit_for_requests(request_ids)))

    def wait_usage(self, request_ids: Sequence[str], timeout: float = 10.0) -> list[UsageRecord]:
        """Usage rows for these requests, once the journal shipper has delivered them all."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.usage(request_ids)
            if len(rows) >= len(set(request_ids)) or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def wait_audit(self, request_ids: Sequence[str], timeout: float = 10.0) -> list[AuditEvent]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.audit(request_ids)
            if len(rows) >= len(set(request_ids)) or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


def provision(settings: Settings, workspaces: dict[str, list[str] | None]) -> Gateway:
    """An organization with the given workspaces (name -> allowed models) and one key in each."""
    gw = Gateway(url="", settings=settings)

    async def action(plane: ControlPlane) -> None:
        done = await plane.init("Test Org", "admin@test.example")
        gw.admin_key = done.admin_secret or ""
        gw.admin_user_id = done.admin_user.id if done.admin_user else ""
        for name, allowed in workspaces.items():
            ws = await plane.create_workspace(name, allowed_models=allowed)
            created = await plane.create_key(name, f"{name}-test-inference")
            gw.workspace_ids[name] = ws["id"]
            gw.keys[name] = created["secret"]
            gw.key_ids[name] = created["id"]

    gw.control(action)
    return gw


DEFAULT_WORKSPACES: dict[str, list[str] | None] = {"eng": None, "marketing": ["claude-haiku-*"]}


@contextmanager
def start_gateway(database_url: str, upstream_url: str, home: Path, upstream_key: str,
                  workspaces: dict[str, list[str] | None] | None = None, **extra: Any) -> Iterator[Gateway]:
    settings = gateway_settings(database_url, upstream_url, home, upstream_key, **extra)
    gw = provision(settings, workspaces or DEFAULT_WORKSPACES)
    gw.app = create_app(settings)
    with BackgroundServer(gw.app, door=Door.of(settings)) as server:
        gw.url = server.url
        yield gw


@contextmanager
def child(args: Sequence[str], *, stop: signal.Signals = signal.SIGTERM, grace: float = 15.0,
          **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """A child process in its own process group, ended with the whole group when the block exits for any reason
    (a failed assertion, Ctrl-C, pytest-timeout): ``stop`` first (SIGINT lets ``steward demo`` clean up), then
    SIGKILL for anything of the group still alive after ``grace`` seconds. Ctrl-C in a terminal reaches only
    pytest, which unwinds through here, so a child never sees a half-delivered interrupt."""
    proc = subprocess.Popen(list(args), start_new_session=True, **popen)
    try:
        yield proc
    finally:
        stop_group(proc, stop, grace)


def stop_group(proc: subprocess.Popen[Any], stop: signal.Signals = signal.SIGTERM, grace: float = 15.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, stop)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=grace)  # drains the pipes too, so a chatty child cannot block on a full one
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # grandchildren (a shipper, uvicorn workers) go with their leader
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class _ForkServer:
    """``tests/cli_forkserver.py``: one process per test worker that imported the CLI, forking a child per command."""

    script = Path(__file__).with_name("cli_forkserver.py")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def run(self, args: Sequence[str], env: Mapping[str, str], timeout: float,
            input: str | None) -> subprocess.CompletedProcess[str]:
        request = json.dumps({"args": list(args), "env": dict(env), "cwd": os.getcwd(), "input": input,
                              "timeout": timeout})
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen([sys.executable, str(self.script)], stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, text=True, start_new_session=True)
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(request + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        assert line, f"the CLI fork server exited ({self._proc.poll()}) running steward {' '.join(args)}"
        answer = json.loads(line)
        return subprocess.CompletedProcess(["steward", *args], answer["returncode"], answer["stdout"],
                                           answer["stderr"])

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                proc, self._proc = self._proc, None
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.close()  # it reads to the end of its input, then exits
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
                proc.stdout.close()


_FORK_SERVER = _ForkServer()


def run_steward(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``steward ARGS`` as a real process (own pid, environment, stdio and exit status), like ``subprocess.run``
    with ``capture_output=True, text=True``, but forked from a process that imported the CLI once: a documented
    CLI session of 80 commands no longer pays 80 interpreter start-ups (~1.5 s each on this machine). Tests whose
    promise is about the entry point itself or about long-running processes (``serve``, ``ship``, ``demo``) start
    ``python -m steward`` instead."""
    return _FORK_SERVER.run(args, os.environ if env is None else env, timeout, input)


def close_fork_server() -> None:
    _FORK_SERVER.close()


async def pg_execute(statement: str) -> None:
    """One statement on PostgreSQL's admin database (CREATE / DROP DATABASE for tests and benchmarks)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def wait_for_port(port: int, timeout: float = 30.0, what: str = "the server") -> None:
    """Until something accepts connections on 127.0.0.1:``port``."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{what} did not start listening on port {port}"
            time.sleep(0.1)


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB (Linux ``/proc``), for the benchmarks."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
