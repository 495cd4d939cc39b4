"""One ledger chaos run: provision an organization, serve it, load it while killing things at random moments, stop
cleanly, then check the ledger (``tests.chaos_check``). Used by the CI test and by bench/ledger_chaos.py.

The chaos, one action at each random moment of the load window: SIGKILL a uvicorn worker (with one worker: the
whole server, restarted), SIGKILL the shipper (``steward serve`` restarts it), SIGKILL the whole process group and
restart it, restart the private Redis (its counters are lost), and a PostgreSQL outage (see ``chaos.pg_outage``).
"""

from __future__ import annotations

import json
import random
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steward.controlplane.services import ControlPlane
from tests.chaos import Events, PrivateRedis, Server, pg_name, pg_outage, serve_env
from tests.chaos_check import cli, ledger_problems, verify_when_sealed, wait_settled
from tests.chaos_load import Load
from tests.support import gateway_settings, provision

CAP_CENTS = 1
PICO_PER_CENT = 10**10


@dataclass
class Report:
    seed: int
    seconds: float
    summary: dict[str, dict[str, int]]
    events: list[str]
    problems: list[str]
    usage_records: int = 0
    audit_events: int = 0
    capped_spend_picousd: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        lines = [f"seed {self.seed}, {self.seconds:.1f} s, {self.usage_records} usage records, "
                 f"{self.audit_events} api_call audit events, capped workspace spent "
                 f"{self.capped_spend_picousd / PICO_PER_CENT:.4f} of {CAP_CENTS} cents",
                 "outcomes: " + json.dumps(self.summary), "chaos:", *("  " + e for e in self.events)]
        lines += ["problems:", *("  " + p for p in self.problems)] if self.problems else ["no problems"]
        return "\n".join(lines)


def _setup(database_url: str, upstream: str, home: Path, upstream_key: str) -> tuple[Any, dict[str, str]]:
    settings = gateway_settings(database_url, upstream, home, upstream_key)
    gw = provision(settings, {"eng": None, "audit": None, "capped": None})

    async def limits(plane: ControlPlane) -> None:
        me = await plane.system()
        group = await plane.admin.compliance_groups.create(
            me, "Full audit", restrictions={"audit_level": "full", "data_retention_days": 30,
                                            "require_encryption": True})
        await plane.admin.compliance_groups.add_workspace(me, group["id"], gw.workspace_ids["audit"])
        await plane.admin.spend_limits.create(me, {"type": "workspace", "workspace_id": gw.workspace_ids["capped"]},
                                              "monthly", str(CAP_CENTS), hard=True)
    gw.control(limits)
    return gw, gw.keys


def run(database_url: str, upstream: str, upstream_key: str, tmp: Path, *, seconds: float, rate: float,
        threads: int, kills: int, seed: int, admin_pg_url: str, use_redis: bool, workers: int) -> Report:
    home = tmp / "home"
    gw, keys = _setup(database_url, upstream, home, upstream_key)
    rng = random.Random(seed)
    events = Events()
    with ExitStack() as stack:
        extra: dict[str, str] = {}
        redis = None
        if use_redis:
            redis = PrivateRedis(stack)
            redis.start()
            extra = {"STEWARD_REDIS_URL": redis.url, "STEWARD_REDIS_KEY_PREFIX": f"stw-chaos-{seed}:"}
        env = serve_env(home, database_url, upstream, upstream_key, **extra)
        server = Server(stack, env, workers, tmp / "serve.log")
        server.start()
        load = Load(server.url, keys, seed)
        actions = ["worker", "shipper", "all", "shipper", "worker", "all"][:max(kills, 1)]
        if redis is not None:
            actions.append("redis")
        if pg_name(database_url):
            actions.append("postgres")
        rng.shuffle(actions)
        moments = sorted(rng.uniform(0.1 * seconds, 0.8 * seconds) for _ in actions)

        def chaos() -> None:
            for action, at in zip(actions, moments, strict=True):
                if load.stop.wait(max(0.0, at - (time.monotonic() - events.started))):
                    return
                events.note(f"{action} ...")
                if action == "worker":
                    server.kill_worker()
                elif action == "shipper":
                    server.kill_shipper()
                elif action == "all":
                    server.kill_all()
                elif action == "redis" and redis is not None:
                    redis.restart()
                elif action == "postgres":
                    name = pg_name(database_url)
                    assert name is not None
                    events.note(f"postgres outage: {pg_outage(admin_pg_url, name, 3.0)}")
                events.note(f"{action} done")

        events.started = time.monotonic()
        chaos_thread = threading.Thread(target=chaos, name="chaos", daemon=True)
        chaos_thread.start()
        try:
            load.run(threads, seconds, rate, max_requests=int(seconds * rate * 1.5) + 10)
        finally:
            load.stop.set()
            chaos_thread.join(timeout=120)
        elapsed = time.monotonic() - events.started
        ok_ids = {o.request_id for o in load.outcomes if o.status == "ok" and o.request_id}
        batches = sum(1 for o in load.outcomes if o.batch_id)
        org = _org(gw)
        assert server.proc is not None
        died = server.proc.poll()  # the harness restarts it only after its own kills
        if died is not None:
            events.note(f"the server had exited on its own (code {died}): nothing shipped after that")
        wait_settled(database_url, org, ok_ids, batches, 60)
        verify = verify_when_sealed(env)  # the sealer runs in `steward ship`: verify while it runs
        server.stop()
        events.note("server stopped cleanly" if died is None else "server was not running")
        ledger = wait_settled(database_url, org, ok_ids, batches, 1)
        quarantine = [json.loads(line) for line in cli(env, "journal", "quarantine", "list", "--json")
                      .stdout.splitlines() if line.strip()]
    problems = ledger_problems(load.outcomes, ledger, capped_workspace=gw.workspace_ids["capped"],
                               cap_picousd=CAP_CENTS * PICO_PER_CENT, quarantine=quarantine, verify=verify)
    if died is not None:
        problems.insert(0, f"the server exited on its own during the run (code {died})")
    spent = sum(u.cost_picousd for u in ledger.usage if u.workspace_id == gw.workspace_ids["capped"])
    return Report(seed, elapsed, load.summary(), events.log, problems, len(ledger.usage), len(ledger.audit), spent)


def _org(gw: Any) -> str:
    async def action(plane: ControlPlane) -> str:
        return (await plane.system()).org_id
    result: str = gw.control(action)
    return result
