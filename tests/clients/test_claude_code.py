"""The real Claude Code (npm, pinned in package.json) through Steward, non-interactively (``claude -p``).

Checks what Claude Code's users and their admins rely on: the run succeeds, every request it made is metered
once with its session id and the exact cost of its tokens (which add up to what Claude Code itself reports),
a tool round trip works, and its OpenTelemetry export lands in the Claude Code report beside the gateway's own
metering.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from steward.sdk import AdminClient
from steward.simulator.config import SimulatorConfig
from steward.storage.models import UsageRecord
from steward.storage.models.claude_code import ClaudeCodeUsage
from tests.clients.support import NODE_MODULES, Run, base_env, installed, picousd, rows_where, run
from tests.conftest import UPSTREAM_KEY
from tests.recorder import Recorder, recording_simulator
from tests.support import Gateway, start_gateway

# The model current Claude Code picks by default, and the one for which it moves its environment prompt into
# a ``system`` message (Steward refused that until the fix). USD per million tokens, by hand, as pico-dollars.
MODEL = "claude-opus-5-5"
OPUS = {"input": 4_000_000, "output": 20_000_000, "w5": 5_000_000, "w1h": 8_000_000, "read": 200_000}
PACKAGE = "@anthropic-ai/claude-code"


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[tuple[Gateway, Recorder]]:
    with recording_simulator(SimulatorConfig(api_key=UPSTREAM_KEY)) as (url, recorder), \
            start_gateway(database_url, url, tmp_path / "home", UPSTREAM_KEY) as gateway:
        yield gateway, recorder


def claude(gateway: Gateway, tmp_path: Path, prompt: str, *extra: str, telemetry: bool = True,
           key: str | None = None, ok: bool = True) -> Run:
    """``claude -p PROMPT --output-format json`` pointed at the gateway, in a private HOME and project."""
    installed(PACKAGE)
    home, project = tmp_path / "cc-home", tmp_path / "project"
    home.mkdir(exist_ok=True)
    project.mkdir(exist_ok=True)
    key = key or gateway.keys["eng"]
    env = base_env(home) | {
        "ANTHROPIC_BASE_URL": gateway.url, "ANTHROPIC_API_KEY": key, "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # no feature-flag or error-report calls: there is no internet
    }
    if telemetry:
        env |= {"CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_ENDPOINT": gateway.url,
                "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={key}", "OTEL_METRIC_EXPORT_INTERVAL": "500",
                "OTEL_LOGS_EXPORT_INTERVAL": "500", "OTEL_RESOURCE_ATTRIBUTES": "project=steward-tests"}
    binary = NODE_MODULES / ".bin" / "claude"
    done = run([str(binary), "-p", prompt, "--output-format", "json", "--model", MODEL, *extra], env, project,
               timeout=60 if ok else 30)
    assert (done.code == 0) == ok, (done.stdout[-2000:], done.stderr[-2000:])
    return done


def session_rows(gateway: Gateway, session: str, expected: int) -> list[UsageRecord]:
    return rows_where(gateway, lambda r: r.claude_code_session_id == session, expected)


def assert_metered_exactly(gateway: Gateway, recorder: Recorder, result: dict[str, Any]) -> list[UsageRecord]:
    session = result["session_id"]
    sent = [r for r in recorder.requests if r.path == "/v1/messages"]
    assert sent
    rows = session_rows(gateway, session, len(sent))
    assert len(rows) == len(sent)  # one usage record per request Claude Code made, no more
    assert all(r.status == 200 and r.complete and r.model == MODEL for r in rows)
    for row in rows:
        assert row.cost_picousd == picousd(row, OPUS) > 0
    usage = result["usage"]
    assert sum(r.input_tokens for r in rows) == usage["input_tokens"]
    assert sum(r.output_tokens for r in rows) == usage["output_tokens"]
    assert sum(r.cache_read_tokens for r in rows) == usage["cache_read_input_tokens"]
    assert sum(r.cache_write_5m_tokens + r.cache_write_1h_tokens for r in rows) == \
        usage["cache_creation_input_tokens"]
    return rows


def test_plain_prompt_is_metered_with_its_session_and_reported_from_both_sources(
        setup: tuple[Gateway, Recorder], tmp_path: Path) -> None:
    gateway, recorder = setup
    result = claude(gateway, tmp_path, "say hi").json()
    assert result["subtype"] == "success" and not result["is_error"] and result["result"]
    roles = [m.get("role") for b in recorder.bodies("/v1/messages") for m in orjson.loads(b)["messages"]]
    assert "system" in roles, roles  # what Steward used to refuse
    rows = assert_metered_exactly(gateway, recorder, result)
    session = result["session_id"]

    # Its OpenTelemetry export reached Steward: the session's token counters agree with the gateway's metering.
    def otlp_output() -> int | None:
        counters = gateway.control(lambda p: _counters(p, session))
        found = [c.value for c in counters if (c.source, c.metric, c.dimension) == ("metric", "tokens.output", MODEL)]
        return found[0] if found else None
    deadline = time.monotonic() + 15
    while otlp_output() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert otlp_output() == sum(r.output_tokens for r in rows)
    # ... and the Claude Code report shows the session with the gateway's exact tokens and cost.
    today = datetime.now(UTC).date().isoformat()
    with AdminClient(base_url=gateway.url, api_key=gateway.admin_key, max_retries=0) as admin:
        records = admin.claude_code.report(starting_at=today, limit=1000).data
    [model] = [m for r in records for m in r.model_breakdown if m.model == MODEL]
    assert model.tokens.input == sum(r.input_tokens for r in rows)
    assert model.tokens.output == sum(r.output_tokens for r in rows)
    cost = sum(r.cost_picousd for r in rows)
    assert model.estimated_cost.amount == (cost + 5 * 10**9) // 10**10


async def _counters(plane: Any, session: str) -> list[ClaudeCodeUsage]:
    async with plane.database.sessions() as db:
        result = await db.execute(select(ClaudeCodeUsage).where(ClaudeCodeUsage.session_id == session))
        return list(result.scalars())


def test_tool_round_trip(setup: tuple[Gateway, Recorder], tmp_path: Path) -> None:
    gateway, recorder = setup
    notes = tmp_path / "project" / "notes.txt"
    notes.parent.mkdir(exist_ok=True)
    notes.write_text("The launch code word is heliotrope.\n")
    call = orjson.dumps({"file_path": str(notes)}).decode()
    result = claude(gateway, tmp_path, f"Read notes.txt and tell me the code word. [[sim-tool Read {call}]]",
                    "--allowedTools", "Read", telemetry=False).json()
    assert result["subtype"] == "success" and result["num_turns"] >= 2
    rows = assert_metered_exactly(gateway, recorder, result)
    assert any(r.stop_reason == "tool_use" and r.tools_used == ["Read"] for r in rows)
    # Claude Code really ran the tool and sent its result back through Steward.
    later = [orjson.loads(b) for b in recorder.bodies("/v1/messages")]
    results = [block for body in later for message in body["messages"] if message["role"] == "user"
               and isinstance(message["content"], list) for block in message["content"]
               if block.get("type") == "tool_result"]
    assert results and "heliotrope" in orjson.dumps(results).decode()


def test_a_revoked_key_fails_fast_instead_of_retrying(setup: tuple[Gateway, Recorder], tmp_path: Path) -> None:
    gateway, _ = setup

    gateway.control(lambda plane: plane.set_key_status(gateway.key_ids["eng"], "archived"))
    gateway.sync_config()
    # Steward's own errors carry x-should-retry as the API's do; without it Claude Code retried a 401 until
    # killed, so a user with a revoked key saw a silent hang.
    done = claude(gateway, tmp_path, "say hi", telemetry=False, ok=False)
    assert "API key" in done.stdout + done.stderr
