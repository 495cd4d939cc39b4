"""The official TypeScript SDK (npm ``@anthropic-ai/sdk``, pinned in package.json) through Steward.

``ts_sdk.mjs`` runs create, stream, a tool round trip, count_tokens, a Message Batch and ``models.list()``;
each result is checked against the gateway's usage records and audit events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from steward.storage.models import UsageRecord
from tests.clients.support import CLIENTS_DIR, base_env, installed, picousd, rows_where, run
from tests.support import Gateway

MODEL = "claude-sonnet-4-6"
PACKAGE = "@anthropic-ai/sdk"


def ts_sdk(gateway: Gateway, tmp_path: Path) -> dict[str, dict[str, Any]]:
    installed(PACKAGE)
    env = base_env(tmp_path) | {"STEWARD_URL": gateway.url, "STEWARD_KEY": gateway.keys["eng"], "MODEL": MODEL}
    done = run(["node", str(CLIENTS_DIR / "ts_sdk.mjs")], env, CLIENTS_DIR)
    assert done.code == 0, done.stderr[-3000:]
    return {line["op"]: line for line in map(orjson.loads, done.stdout.splitlines())}


def batch_rows(gateway: Gateway, batch_id: str, expected: int) -> list[UsageRecord]:
    return rows_where(gateway, lambda r: r.batch_id == batch_id, expected)


def test_every_operation_works_and_is_metered(gateway: Gateway, tmp_path: Path) -> None:
    ops = ts_sdk(gateway, tmp_path)

    created, streamed = ops["create"], ops["stream"]
    [row] = gateway.wait_usage([created["request_id"]])
    assert (row.input_tokens, row.output_tokens) == (created["usage"]["input_tokens"],
                                                     created["usage"]["output_tokens"])
    assert row.user_id == "ts-user" and row.cost_picousd == picousd(row) > 0
    [srow] = gateway.wait_usage([streamed["request_id"]])
    assert streamed["deltas"] > 1 and srow.complete and srow.stop_reason == streamed["stop_reason"]
    assert (srow.input_tokens, srow.output_tokens) == (streamed["usage"]["input_tokens"],
                                                       streamed["usage"]["output_tokens"])

    tool = ops["tool_use"]
    assert tool["tool"] == "get_weather" and tool["stop_reasons"] == ["tool_use", "end_turn"]
    first, second = gateway.wait_usage(tool["request_ids"])
    used = {r.request_id: r for r in (first, second)}
    assert used[tool["request_ids"][0]].tools_used == ["get_weather"]

    counted = ops["count_tokens"]
    assert counted["input_tokens"] > 0
    [event] = gateway.wait_audit([counted["request_id"]])
    assert event.event == "api_call" and event.status == 200

    batch = ops["batch"]
    assert batch["status"] == "ended" and batch["counts"]["succeeded"] == 2
    assert sorted(r["custom_id"] for r in batch["results"]) == ["a", "b"]
    assert all(r["type"] == "succeeded" for r in batch["results"])
    rows = batch_rows(gateway, batch["id"], 2)
    assert sorted(r.output_tokens for r in rows) == sorted(r["usage"]["output_tokens"] for r in batch["results"])
    assert all(r.cost_picousd == picousd(r) // 2 for r in rows)  # the batch price is half

    assert MODEL in ops["models"]["ids"]
