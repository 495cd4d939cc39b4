"""In-memory Message Batches: creation, lazy progress from the clock, cancel, delete and JSONL results.

A batch is ``in_progress`` until ``batch_processing_seconds`` after creation (requests finish evenly
over that time), then ``ended``; a cancel makes it ``canceling`` for ``batch_cancel_seconds`` and
requests not finished by the cancel become ``canceled``. Nothing runs in the background: state is
derived from the clock whenever a batch is read. Results are generated once, on first download.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from steward.errors import InvalidRequestError, NotFoundError, StewardError, error_body
from steward.ids import new_id, request_id
from steward.simulator.config import SimulatorConfig
from steward.simulator.messages import MessageEngine, SimOptions, message
from steward.simulator.pages import paginate
from steward.simulator.request import MessageRequest
from steward.simulator.validate import check_message_body

MAX_REQUESTS = 100_000
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
DAY = 86_400.0


@dataclass(slots=True)
class _Item:
    custom_id: str
    request: MessageRequest | None
    error: StewardError | None
    done_at: float


@dataclass(slots=True)
class Batch:
    """One batch; ``cancel_at`` and ``results`` are the only fields that change after creation."""

    id: str
    created: float
    ends_at: float
    api_key: str | None
    items: list[_Item]
    cancel_at: float | None = None
    results: bytes | None = field(default=None, repr=False)


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


class BatchStore:
    """All batches of this simulator instance."""

    __slots__ = ("_batches", "_clock", "_config", "_engine")

    def __init__(self, config: SimulatorConfig, engine: MessageEngine,
                 clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._engine = engine
        self._clock = clock
        self._batches: dict[str, Batch] = {}

    def create(self, body: dict[str, Any], api_key: str | None) -> Batch:
        """Validate a ``{"requests": [...]}`` body and start a batch."""
        requests = _check_requests(body)
        now = self._clock()
        span = self._config.batch_processing_seconds
        items = []
        for index, entry in enumerate(requests):
            done_at = now + span * (index + 1) / len(requests)
            items.append(self._item(entry, index, done_at))
        batch = Batch(new_id("msgbatch"), now, now + span, api_key, items)
        self._batches[batch.id] = batch
        return batch

    def _item(self, entry: dict[str, Any], index: int, done_at: float) -> _Item:
        params = entry["params"]
        check_message_body(params, f"requests.{index}.params.")
        if params.get("stream"):
            raise InvalidRequestError(f"requests.{index}.params.stream: Streaming is not supported in batches")
        try:
            request = self._engine.resolve(params)
        except StewardError as exc:
            # Model-level problems do not fail the batch; the request ends as "errored".
            return _Item(entry["custom_id"], None, exc, done_at)
        return _Item(entry["custom_id"], request, None, done_at)

    def get(self, batch_id: str) -> Batch:
        """The batch with this id; 404 when unknown or deleted."""
        batch = self._batches.get(batch_id)
        if batch is None:
            raise NotFoundError(f"No message batch found with id '{batch_id}'")
        return batch

    def page(self, query: dict[str, str], base_url: str) -> dict[str, Any]:
        """``GET /v1/messages/batches``: newest first, cursor pagination."""
        newest_first = list(reversed(self._batches.values()))
        return paginate(newest_first, lambda b: b.id, query, lambda b: self.render(b, base_url))

    def cancel(self, batch_id: str) -> Batch:
        """Start canceling (no effect once canceling or ended)."""
        batch = self.get(batch_id)
        if self.status(batch) == "in_progress":
            batch.cancel_at = self._clock()
        return batch

    def delete(self, batch_id: str) -> dict[str, Any]:
        """Forget an ended batch; 400 while it is still processing."""
        batch = self.get(batch_id)
        if self.status(batch) != "ended":
            raise InvalidRequestError(
                f"Message Batch {batch_id} cannot be deleted while it is processing; cancel it first.")
        del self._batches[batch_id]
        return {"id": batch_id, "type": "message_batch_deleted"}

    def ended_at(self, batch: Batch) -> float:
        """When processing ends (or ended)."""
        if batch.cancel_at is None:
            return batch.ends_at
        return min(batch.ends_at, batch.cancel_at + self._config.batch_cancel_seconds)

    def status(self, batch: Batch) -> str:
        """``in_progress``, ``canceling`` or ``ended`` as of now."""
        if self._clock() >= self.ended_at(batch):
            return "ended"
        return "in_progress" if batch.cancel_at is None else "canceling"

    def _outcome(self, batch: Batch, item: _Item) -> str:
        if batch.cancel_at is not None and item.done_at > batch.cancel_at:
            return "canceled"
        return "errored" if item.error is not None else "succeeded"

    def render(self, batch: Batch, base_url: str) -> dict[str, Any]:
        """The ``MessageBatch`` object."""
        status = self.status(batch)
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if status == "ended":
            for item in batch.items:
                counts[self._outcome(batch, item)] += 1
        else:
            counts["processing"] = len(batch.items)
        ended = status == "ended"
        return {
            "id": batch.id, "type": "message_batch", "processing_status": status, "request_counts": counts,
            "created_at": _iso(batch.created), "expires_at": _iso(batch.created + DAY),
            "ended_at": _iso(self.ended_at(batch)) if ended else None,
            "cancel_initiated_at": _iso(batch.cancel_at), "archived_at": None,
            "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def results(self, batch_id: str) -> bytes:
        """The JSONL results of an ended batch (generated once); 400 while still processing."""
        batch = self.get(batch_id)
        if self.status(batch) != "ended":
            raise InvalidRequestError(
                f"Message Batch {batch_id} has not finished processing; results are not available yet.")
        if batch.results is None:
            lines = [orjson.dumps({"custom_id": item.custom_id, "result": self._result(batch, item)})
                     for item in batch.items]
            batch.results = b"\n".join(lines) + b"\n"
        return batch.results

    def _result(self, batch: Batch, item: _Item) -> dict[str, Any]:
        outcome = self._outcome(batch, item)
        if outcome == "canceled":
            return {"type": "canceled"}
        if item.error is not None or item.request is None:
            error = item.error or StewardError("Internal server error")
            return {"type": "errored", "error": error_body(error.error_type, error.message, request_id())}
        completion = self._engine.complete(item.request, batch.api_key, SimOptions())
        return {"type": "succeeded", "message": message(completion, service_tier="batch")}


def _check_requests(body: dict[str, Any]) -> list[dict[str, Any]]:
    for name in body:
        if name != "requests":
            raise InvalidRequestError(f"{name}: Extra inputs are not permitted")
    requests = body.get("requests")
    if requests is None:
        raise InvalidRequestError("requests: Field required")
    if not isinstance(requests, list):
        raise InvalidRequestError("requests: Input should be a valid list")
    if not requests or len(requests) > MAX_REQUESTS:
        bound = "at least 1 item" if not requests else f"at most {MAX_REQUESTS} items"
        raise InvalidRequestError(f"requests: List should have {bound} after validation, not {len(requests)}")
    seen: set[str] = set()
    for index, entry in enumerate(requests):
        _check_entry(entry, index)
        if entry["custom_id"] in seen:
            raise InvalidRequestError(f"requests: custom_id values must be unique; '{entry['custom_id']}' "
                                      "appears more than once")
        seen.add(entry["custom_id"])
    return requests


def _check_entry(entry: Any, index: int) -> None:
    where = f"requests.{index}"
    if not isinstance(entry, dict):
        raise InvalidRequestError(f"{where}: Input should be a valid dictionary")
    custom_id = entry.get("custom_id")
    if not isinstance(custom_id, str):
        raise InvalidRequestError(f"{where}.custom_id: Field required")
    if not CUSTOM_ID.match(custom_id):
        raise InvalidRequestError(f"{where}.custom_id: String should match pattern '{CUSTOM_ID.pattern}'")
    if not isinstance(entry.get("params"), dict):
        raise InvalidRequestError(f"{where}.params: Field required")
