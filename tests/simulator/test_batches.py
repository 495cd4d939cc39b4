"""Message Batches through the SDK: create, list, retrieve, end, results, cancel, delete, validation."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx2
import pytest

from steward.simulator import SimulatorServer

MODEL = "claude-haiku-4-5"


def request(custom_id: str, **overrides: Any) -> Any:
    params = {"model": MODEL, "max_tokens": 30, "messages": [{"role": "user", "content": f"Hi {custom_id}"}]}
    return {"custom_id": custom_id, "params": {**params, **overrides}}


def wait_until_ended(client: anthropic.Anthropic, batch_id: str) -> anthropic.types.messages.MessageBatch:
    deadline = time.monotonic() + 5
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended" or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


def test_full_lifecycle(client: anthropic.Anthropic, server: SimulatorServer) -> None:
    created = client.messages.batches.create(requests=[request("a"), request("b"), request("c", model="claude-nope")])
    assert created.id.startswith("msgbatch_") and created.type == "message_batch"
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing == 3 and created.request_counts.succeeded == 0
    assert (created.expires_at - created.created_at).total_seconds() == 86_400
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(created.id)

    ended = wait_until_ended(client, created.id)
    assert ended.processing_status == "ended" and ended.ended_at is not None
    assert ended.results_url == f"{server.url}/v1/messages/batches/{created.id}/results"
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled) == (0, 2, 1, 0)

    results = {r.custom_id: r.result for r in client.messages.batches.results(created.id)}
    assert set(results) == {"a", "b", "c"}
    succeeded = results["a"]
    assert succeeded.type == "succeeded" and succeeded.message.usage.service_tier == "batch"
    assert succeeded.message.content[0].type == "text"
    errored = results["c"]
    assert errored.type == "errored" and errored.error.error.type == "not_found_error"

    listed = [b.id for b in client.messages.batches.list(limit=100)]
    assert created.id in listed
    deleted = client.messages.batches.delete(created.id)
    assert deleted.id == created.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(created.id)


def test_cancel(client: anthropic.Anthropic) -> None:
    created = client.messages.batches.create(requests=[request(f"r{i}") for i in range(50)])
    canceling = client.messages.batches.cancel(created.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    ended = wait_until_ended(client, created.id)
    counts = ended.request_counts
    assert ended.processing_status == "ended" and counts.canceled > 0
    assert counts.succeeded + counts.canceled == 50
    kinds = [r.result.type for r in client.messages.batches.results(created.id)]
    assert kinds.count("canceled") == counts.canceled


def test_results_before_the_end(client: anthropic.Anthropic, server: SimulatorServer) -> None:
    created = client.messages.batches.create(requests=[request("x")])
    response = httpx2.get(f"{server.url}/v1/messages/batches/{created.id}/results",
                          headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_list_is_newest_first_and_paginates(client: anthropic.Anthropic) -> None:
    ids = [client.messages.batches.create(requests=[request("p")]).id for _ in range(3)]
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    assert page.last_id == ids[1]
    following = client.messages.batches.list(limit=2, after_id=ids[1])
    assert following.data[0].id == ids[0]
    previous = client.messages.batches.list(limit=2, before_id=ids[0])
    assert [b.id for b in previous.data] == [ids[2], ids[1]]


@pytest.mark.parametrize(("requests", "message"), [
    ([], "requests: List should have at least 1 item"),
    ([request("same"), request("same")], "requests: custom_id values must be unique"),
    ([request("bad id!")], "requests.0.custom_id: String should match pattern"),
    ([request("s", stream=True)], "requests.0.params.stream"),
    ([{"custom_id": "m", "params": {"model": MODEL, "messages": []}}], "requests.0.params.max_tokens: Field required"),
])
def test_invalid_batches(client: anthropic.Anthropic, requests: list[Any], message: str) -> None:
    with pytest.raises(anthropic.BadRequestError, match=message.replace(".", r"\.")):
        client.messages.batches.create(requests=requests)
