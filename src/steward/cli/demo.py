"""``steward demo``: the main job end to end in one command, on a fresh SQLite and the simulator.

Starts the simulator (or uses the real API when STEWARD_UPSTREAM_API_KEYS is set), creates an organization
with three workspaces and keys, sends real traffic with the official ``anthropic`` SDK (plain, streaming,
tools, prompt caching, count_tokens, a batch, a refused model, a bad key), applies examples/three-teams.yaml
(policy as code) and shows each of its rules allowing and refusing a call, then prints usage, cost and the audit
trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anthropic
from pydantic import SecretStr

from steward.app import create_app
from steward.cli.common import console
from steward.cli.console import demo_banner
from steward.cli.org_plan import apply_text
from steward.cli.reports import audit_table, usage_table
from steward.controlplane.services import ControlPlane
from steward.serving import BackgroundServer
from steward.settings import Settings
from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade

WORKSPACES: dict[str, list[str] | None] = {"engineering": None, "marketing": ["claude-haiku-*"], "finance": None}
SONNET, HAIKU = "claude-sonnet-4-6", "claude-haiku-4-5"
THREE_TEAMS = Path(__file__).resolve().parents[3] / "examples" / "three-teams.yaml"
TOTAL: Any = {"type": "json_schema", "schema": {"type": "object", "properties": {"total": {"type": "number"}},
                                                "required": ["total"], "additionalProperties": False}}
TOOL: Any = {"name": "lookup_order", "description": "Look up an order by id",
        "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}},
                         "required": ["order_id"]}}


def _provision(settings: Settings) -> dict[str, str]:
    async def action() -> dict[str, str]:
        plane = ControlPlane(settings)
        try:
            await plane.init("Acme Corp", "admin@acme.example")
            keys, system = {}, await plane.system()
            for name, allowed in WORKSPACES.items():
                ws = await plane.create_workspace(name, allowed_models=allowed)
                keys[name] = (await plane.create_key(name, f"{name[:3]}-demo-inference"))["secret"]
                if name == "engineering":  # 1,000 Sonnet requests per minute for this workspace
                    await plane.admin.rate_limits.update_workspace(
                        system, ws["id"], "rl_sonnet", [{"type": "requests_per_minute", "value": 1000}])
                if name == "marketing":  # a hard daily cap of one cent (beside the file's $500 a month), to see it
                    await plane.admin.spend_limits.create(system, {"type": "workspace", "workspace_id": ws["id"]},
                                                          "daily", "1")
            return keys
        finally:
            await plane.close()
    return asyncio.run(action())


def _apply_three_teams(settings: Settings) -> None:
    """Policy as code: what ``steward apply -f examples/three-teams.yaml`` does, through the same services."""
    if not THREE_TEAMS.exists():
        _step(f"{THREE_TEAMS} not found (an installed package without the examples): policies skipped")
        return

    async def action() -> int:
        plane = ControlPlane(settings)
        try:
            return len(await apply_text(plane, await plane.system(), THREE_TEAMS.read_text()))
        finally:
            await plane.close()
    _step(f"steward apply -f examples/three-teams.yaml -> {asyncio.run(action())} changes")


def _step(text: str) -> None:
    console.print(f"[cyan]>[/cyan] {text}")


def _traffic(url: str, keys: dict[str, str]) -> None:
    eng = anthropic.Anthropic(base_url=url, api_key=keys["engineering"], max_retries=0)
    mkt = anthropic.Anthropic(base_url=url, api_key=keys["marketing"], max_retries=0)
    fin = anthropic.Anthropic(base_url=url, api_key=keys["finance"], max_retries=0)
    tags = {"x-steward-tags": "team=search,feature=summaries"}
    raw = eng.messages.with_raw_response.create(model=SONNET, max_tokens=256, extra_headers=tags,
                                                messages=[{"role": "user", "content": "Summarise our Q3 roadmap."}])
    msg = raw.parse()
    _step(f"engineering: messages.create -> {msg.usage.input_tokens} in / {msg.usage.output_tokens} out; "
          f"rate limit {raw.headers['anthropic-ratelimit-requests-remaining']} of "
          f"{raw.headers['anthropic-ratelimit-requests-limit']} requests left this minute")
    with eng.messages.stream(model=SONNET, max_tokens=300,
                             messages=[{"role": "user", "content": "Write a haiku about gateways."}]) as stream:
        final = stream.get_final_message()
    _step(f"engineering: messages.stream -> {final.usage.output_tokens} output tokens, streamed event by event")
    tool_msg = eng.messages.create(model=SONNET, max_tokens=256, tools=[TOOL],
                                   tool_choice={"type": "any"},
                                   messages=[{"role": "user", "content": "Where is order A-1001?"}])
    _step(f"engineering: tool use -> stop_reason={tool_msg.stop_reason}")
    system: Any = [{"type": "text", "text": "You are Acme's support analyst. " * 400,
                    "cache_control": {"type": "ephemeral"}}]
    for attempt in ("writes", "reads"):
        cached = eng.messages.create(model=SONNET, max_tokens=64, system=system,
                                     messages=[{"role": "user", "content": "Ready?"}])
        _step(f"engineering: prompt cache {attempt} -> write {cached.usage.cache_creation_input_tokens}, "
              f"read {cached.usage.cache_read_input_tokens}")
    counted = eng.messages.count_tokens(model=SONNET, messages=[{"role": "user", "content": "How long is this?"}])
    _step(f"engineering: count_tokens -> {counted.input_tokens}")
    mkt.messages.create(model=HAIKU, max_tokens=128, messages=[{"role": "user", "content": "Three taglines."}])
    _step("marketing: claude-haiku-4-5 allowed")
    try:
        mkt.messages.create(model=SONNET, max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
    except anthropic.PermissionDeniedError as exc:
        _step(f"marketing: {SONNET} refused -> 403 {exc.body['error']['message']}")  # type: ignore[index]
    _three_teams(eng, mkt, fin)
    _spend_cap(mkt)
    _batch(fin)
    try:
        anthropic.Anthropic(base_url=url, api_key="sk-stw-api01-nope", max_retries=0).models.list()
    except anthropic.AuthenticationError:
        _step("unknown key refused -> 401 authentication_error")
    for client in (eng, mkt, fin):
        client.close()


def _refusal(call: Any) -> str:
    try:
        call()
    except anthropic.APIStatusError as exc:
        return f"{exc.status_code} {exc.body['error']['message']}"  # type: ignore[index]
    return "allowed (expected a refusal)"


def _three_teams(eng: anthropic.Anthropic, mkt: anthropic.Anthropic, fin: anthropic.Anthropic) -> None:
    """One allowed and one refused call per team of examples/three-teams.yaml, with the refusal printed."""
    ask: Any = [{"role": "user", "content": "What were our Q3 sales?"}]
    thought = eng.messages.create(model=SONNET, max_tokens=2048, messages=ask, tools=[TOOL],
                                  thinking={"type": "enabled", "budget_tokens": 1024})
    _step(f"three-teams engineering: tools + extended thinking allowed -> {thought.content[0].type} block first")
    mkt.messages.create(model=HAIKU, max_tokens=64, messages=ask)
    _step("three-teams marketing: plain text generation allowed")
    _step("three-teams marketing: tool use refused -> "
          + _refusal(lambda: mkt.messages.create(model=HAIKU, max_tokens=64, messages=ask, tools=[TOOL])))
    fin.messages.create(model=SONNET, max_tokens=128, messages=ask, output_config={"format": TOTAL})
    _step("three-teams finance: structured output allowed; request and response stored encrypted (full audit)")
    _step("three-teams finance: free text refused -> "
          + _refusal(lambda: fin.messages.create(model=SONNET, max_tokens=64, messages=ask)))


def _spend_cap(mkt: anthropic.Anthropic) -> None:
    for calls in range(1, 200):
        try:
            mkt.messages.create(model=HAIKU, max_tokens=128, messages=[{"role": "user", "content": "One more."}])
        except anthropic.BadRequestError as exc:
            _step(f"marketing: $0.01 daily cap (beside the $500 monthly cap) reached after {calls} calls -> 400 "
                  f"{exc.body['error']['message']}")  # type: ignore[index]
            return


def _batch(fin: anthropic.Anthropic) -> None:
    batch = fin.messages.batches.create(requests=[
        {"custom_id": f"invoice-{i}", "params": {"model": HAIKU, "max_tokens": 128, "output_config": {"format": TOTAL},
                                                 "messages": [{"role": "user", "content": f"Classify invoice {i}"}]}}
        for i in range(5)])
    while fin.messages.batches.retrieve(batch.id).processing_status != "ended":
        time.sleep(0.2)
    results = list(fin.messages.batches.results(batch.id))
    _step(f"finance: batch of {len(results)} ended; results metered at the 50 % batch price")


def _report(settings: Settings) -> None:
    async def action() -> None:
        plane = ControlPlane(settings)
        try:
            console.print(await usage_table(plane))
            console.print(await audit_table(plane, 20))
        finally:
            await plane.close()
    asyncio.run(action())


def run_demo(*, keep: bool = False, serve: bool = False) -> None:
    """Run the demo in a fresh temporary home, deleted on the way out (also on Ctrl-C or SIGTERM) unless ``keep``:
    it holds the demo's master key."""
    home = Path(tempfile.mkdtemp(prefix="steward-demo-"))
    restore = _terminate_as_interrupt()
    try:
        _demo(home, serve)
    finally:
        restore()
        if keep:
            console.print(f"Demo data kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
            if serve:
                console.print(f"Demo data deleted ({home}); `steward demo --serve --keep` keeps it")


def _terminate_as_interrupt() -> Callable[[], None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt like Ctrl-C, so ``kill`` still removes the temporary home; so does
    SIGINT even when the demo was started with it ignored (in the background by a shell without job control)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, signal.default_int_handler)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return restore


def _demo(home: Path, serve: bool) -> None:
    env = Settings()
    with ExitStack() as stack:
        if env.upstream_api_keys:
            upstream, keys = env.upstream_url, env.upstream_api_keys
            _step(f"Upstream: the real API at {upstream}")
        else:
            sim = stack.enter_context(SimulatorServer(SimulatorConfig(ttft_ms=20, batch_processing_seconds=1.0)))
            upstream, keys = sim.url, [SecretStr("sk-ant-simulated-upstream-key")]
            _step(f"Upstream: Steward's built-in Anthropic simulator at {upstream}")
        settings = Settings(home=home, upstream_url=upstream, upstream_api_keys=keys, journal_ship_interval=0.1)
        upgrade(settings.resolved_database_url())
        demo_keys = _provision(settings)
        _step(f"Organization Acme Corp with workspaces {', '.join(WORKSPACES)} and one key each (SQLite at {home})")
        _apply_three_teams(settings)
        gateway = stack.enter_context(BackgroundServer(create_app(settings)))
        _step(f"Gateway listening on {gateway.url}")
        _traffic(gateway.url, demo_keys)
        time.sleep(0.5)  # the shipper delivers the last records
        _report(settings)
        _run_it_yourself()
        _step(demo_banner(settings, gateway.url, "admin@acme.example"))
        if serve:
            _step("Serving the demo gateway and its console until Ctrl-C")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        else:
            _step("The link works while this gateway runs: `steward demo --serve` keeps it up to sign in")


def _run_it_yourself() -> None:
    console.print("\n[bold]Run it yourself[/bold]\n"
                  "  steward init && steward workspaces create eng\n"
                  "  steward keys create --workspace eng --name ml-prod-inference\n"
                  "  steward simulate &                       # or set STEWARD_UPSTREAM_API_KEYS for the real API\n"
                  "  STEWARD_UPSTREAM_URL=http://127.0.0.1:8090 steward serve\n"
                  "Then point the SDK at it:\n"
                  "  anthropic.Anthropic(base_url=\"http://127.0.0.1:8080\", api_key=\"<the key printed above>\")")
