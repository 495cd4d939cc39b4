"""examples/three-teams.yaml applied to a real gateway and proven rule by rule with the official SDK: Engineering
may use every model and feature; Marketing generates text only (tools, server tools and thinking refused with
403 permission_error naming the rule) under a $500 monthly hard cap; Finance must ask for structured output
(400 invalid_request_error otherwise) and every answered request is stored encrypted for audit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import pytest

from steward.cli.org_plan import apply_text
from steward.controlplane.services import ControlPlane
from steward.governance.catalog import Catalog
from steward.ids import new_id
from steward.reporting.rollups import RollupAccumulator
from steward.simulator.server import SimulatorServer
from tests.compliance.conftest import wait_stored
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-teams.yaml"
TEAMS: dict[str, list[str] | None] = {"engineering": None, "marketing": None, "finance": None}
SONNET, OPUS, HAIKU = "claude-sonnet-4-6", "claude-opus-4-6", "claude-haiku-4-5"
TOOL = {"name": "get_weather", "description": "Weather for a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
SCHEMA = {"type": "json_schema", "schema": {"type": "object", "properties": {"total": {"type": "number"}},
                                            "required": ["total"], "additionalProperties": False}}
ASK = [{"role": "user", "content": "Summarise last quarter."}]
PICO_PER_CENT = 10 ** 10


def _spent_already(gateway: Gateway, cents: int) -> None:
    """A usage record of ``cents`` in marketing this month, as if the team had spent it (before the cap exists)."""
    async def action(plane: ControlPlane) -> None:
        now = datetime.now(UTC)
        rid = new_id("req")
        row: dict[str, Any] = {
            "id": rid, "request_id": rid, "created_at": now, "org_id": (await plane.system()).org_id,
            "workspace_id": gateway.workspace_ids["marketing"], "api_key_id": gateway.key_ids["marketing"],
            "user_id": None, "tags": None, "endpoint": "messages", "model": SONNET, "batch_id": None,
            "input_tokens": 0, "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "cache_read_tokens": 0,
            "output_tokens": 0, "thinking_tokens": 0, "web_search_requests": 0, "web_fetch_requests": 0,
            "code_execution_requests": 0, "service_tier": None, "inference_geo": None, "stop_reason": None,
            "tools_used": None, "status": 200, "complete": True, "latency_ms": 1, "ttft_ms": None,
            "cost_picousd": cents * PICO_PER_CENT, "pricing_version": None, "claude_code_session_id": None}
        # As the shipper writes it: the row and its rollups in one transaction (spend counters start from those).
        await plane.records.insert([row], [],
                                   lambda fresh: RollupAccumulator(Catalog.load_default()).extend(fresh).rows())
    gateway.control(action)


@pytest.fixture
def teams(database_url: str, simulator: SimulatorServer, tmp_path: Path) -> Iterator[Gateway]:
    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY, workspaces=TEAMS) as gw:
        _spent_already(gw, 49_995)  # $499.95 of the $500 cap is gone this month

        async def apply(plane: ControlPlane) -> int:
            return len(await apply_text(plane, await plane.system(), EXAMPLE.read_text()))
        assert gw.control(apply) > 0
        time.sleep(gw.settings.snapshot_poll_interval * 5)  # the gateways reload the new config version
        yield gw


def _dry_run(gateway: Gateway, workspace: str, body: dict[str, Any]) -> list[str]:
    """Every rule that refuses ``body`` (a server tool is also a tool: the answer names the first, the dry run all)."""
    async def action(plane: ControlPlane) -> dict[str, Any]:
        return await plane.admin.policies.check(await plane.system(), gateway.workspace_ids[workspace], None, body)
    return [d["rule"] for d in gateway.control(action)["decisions"] if d["action"] == "refuse"]


def refused(call: Any) -> anthropic.APIStatusError:
    with pytest.raises(anthropic.APIStatusError) as caught:
        call()
    return caught.value


def test_engineering_uses_every_model_and_feature(teams: Gateway) -> None:
    client = teams.client("engineering")
    for model in (SONNET, OPUS, HAIKU):
        assert client.messages.create(model=model, max_tokens=32, messages=ASK).type == "message"
    with_tools = client.messages.create(model=SONNET, max_tokens=256, messages=ASK, tools=[TOOL],
                                        tool_choice={"type": "tool", "name": "get_weather"})
    assert with_tools.stop_reason == "tool_use"
    thinking = client.messages.create(model=SONNET, max_tokens=2048, messages=ASK,
                                      thinking={"type": "enabled", "budget_tokens": 1024})
    assert thinking.content[0].type == "thinking"
    assert client.messages.create(model=SONNET, max_tokens=64, messages=ASK,
                                  tools=[{"type": "web_search_20250305", "name": "web_search"}]).type == "message"


def test_marketing_generates_text_only_under_a_monthly_cap(teams: Gateway) -> None:
    client = teams.client("marketing")
    assert client.messages.create(model=HAIKU, max_tokens=32, messages=ASK).content[0].type == "text"
    for name, extra in (("features.tools", {"tools": [TOOL]}),
                        ("features.server_tools", {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
                        ("features.thinking", {"thinking": {"type": "enabled", "budget_tokens": 1024},
                                               "max_tokens": 2048})):
        kwargs = {"model": SONNET, "max_tokens": 64, "messages": ASK, **extra}
        error = refused(lambda kwargs=kwargs: client.messages.create(**kwargs))
        assert error.status_code == 403 and error.body["error"]["type"] == "permission_error", error.body
        assert name in error.body["error"]["message"] or name in _dry_run(teams, "marketing", kwargs), error.body
    # $499.95 of $500 is spent: a request whose worst case passes the cap is refused before it is sent.
    error = refused(lambda: client.messages.create(model=OPUS, max_tokens=20000, messages=ASK))
    assert error.status_code == 400 and "does not fit in workspace marketing's monthly limit of $500.00: " \
        in error.body["error"]["message"], error.body


def test_finance_requires_structured_output_and_keeps_full_audit(teams: Gateway) -> None:
    client = teams.client("finance")
    raw = client.messages.with_raw_response.create(model=SONNET, max_tokens=128, messages=ASK,
                                                   output_config={"format": SCHEMA})
    assert raw.parse().content[0].type == "text"
    error = refused(lambda: client.messages.create(model=SONNET, max_tokens=64, messages=ASK))
    assert error.status_code == 400 and error.body["error"]["type"] == "invalid_request_error", error.body
    assert "features.structured_output" in error.body["error"]["message"], error.body
    rid = raw.headers["request-id"]
    [audit] = teams.wait_audit([rid])
    rows = wait_stored(teams, 1)
    assert [r.request_id for r in rows] == [rid]  # the refused request stored nothing
    assert audit.data["content_sha256"] == rows[0].content_sha256
    assert (rows[0].purge_after - rows[0].created_at).days == 365
