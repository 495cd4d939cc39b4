"""Message Batches through Steward with the official SDK: lifecycle, ownership, batch-discounted cost."""

from __future__ import annotations

import time
from pathlib import Path

import anthropic
import httpx
import pytest

from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway

HAIKU = "claude-haiku-4-5"
# Haiku 4.5: $1 / $5 per MTok, batch 50 % off -> pico-USD per token
HAIKU_BATCH = {"in": 500_000, "out": 2_500_000}


def _requests(n: int) -> list[dict[str, object]]:
    return [{"custom_id": f"item-{i}", "params": {"model": HAIKU, "max_tokens": 64,
                                                  "messages": [{"role": "user", "content": f"Question {i}"}]}}
            for i in range(n)]


def _wait_ended(client: anthropic.Anthropic, batch_id: str) -> anthropic.types.messages.MessageBatch:
    deadline = time.monotonic() + 15
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended" or time.monotonic() > deadline:
            return batch
        time.sleep(0.1)


def test_batch_lifecycle_and_cost(gateway: Gateway) -> None:
    with gateway.client("marketing") as client, gateway.client("eng") as other:
        batch = client.messages.batches.create(requests=_requests(3))
        assert batch.id.startswith("msgbatch_") and batch.processing_status == "in_progress"
        assert batch.id in [b.id for b in client.messages.batches.list()]
        assert batch.id not in [b.id for b in other.messages.batches.list()]
        with pytest.raises(anthropic.NotFoundError):
            other.messages.batches.retrieve(batch.id)
        ended = _wait_ended(client, batch.id)
        assert ended.processing_status == "ended" and ended.request_counts.succeeded == 3
        assert ended.results_url and ended.results_url.startswith(gateway.url)
        results = list(client.messages.batches.results(batch.id))
        assert sorted(r.custom_id for r in results) == ["item-0", "item-1", "item-2"]
        deleted = client.messages.batches.delete(batch.id)
        assert deleted.id == batch.id
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)
    ids = [f"{batch.id}:{r.custom_id}" for r in results]
    deadline = time.monotonic() + 10
    while len(rows := [r for r in gateway.usage() if r.batch_id == batch.id]) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(r.id for r in rows) == sorted(ids)
    by_id = {r.id.split(":")[1]: r for r in rows}
    for result in results:
        assert result.result.type == "succeeded"
        usage = result.result.message.usage
        row = by_id[result.custom_id]
        assert row.service_tier == "batch" and row.workspace_id == gateway.workspace_ids["marketing"]
        assert row.cost_picousd == usage.input_tokens * HAIKU_BATCH["in"] + usage.output_tokens * HAIKU_BATCH["out"]


def test_batch_cancel(gateway: Gateway) -> None:
    with gateway.client() as client:
        batch = client.messages.batches.create(requests=_requests(2))
        canceled = client.messages.batches.cancel(batch.id)
        assert canceled.processing_status in ("canceling", "ended")


def test_batch_validation(gateway: Gateway) -> None:
    with gateway.client("marketing") as client:
        with pytest.raises(anthropic.BadRequestError, match="requests"):
            client.messages.batches.create(requests=[])
        bad = _requests(1)
        bad[0]["params"] = {"model": HAIKU, "messages": []}  # no max_tokens
        with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
            client.messages.batches.create(requests=bad)  # type: ignore[arg-type]
        forbidden = _requests(1)
        forbidden[0]["params"]["model"] = "claude-sonnet-4-6"  # type: ignore[index]
        with pytest.raises(anthropic.PermissionDeniedError):
            client.messages.batches.create(requests=forbidden)  # type: ignore[arg-type]


def test_results_url_comes_from_the_public_url_not_the_clients_host(database_url: str, simulator: SimulatorServer,
                                                                     tmp_path: Path) -> None:
    """results_url was built from the client's Host header; with STEWARD_PUBLIC_URL set, a forged Host shapes no
    link (issue 13)."""
    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY,
                       public_url="https://steward.example.com/") as gw, \
            httpx.Client(base_url=gw.url, timeout=10, headers={"x-api-key": gw.keys["eng"], "host": "evil.example",
                                                               "anthropic-version": "2023-06-01"}) as http:
        created = http.post("/v1/messages/batches", json={"requests": _requests(1)}).json()
        deadline = time.monotonic() + 10
        while (got := http.get(f"/v1/messages/batches/{created['id']}").json())["processing_status"] != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert got["results_url"] == f"https://steward.example.com/v1/messages/batches/{created['id']}/results"
