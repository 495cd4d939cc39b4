"""Message Batches through the gateway: ownership by workspace, results_url rewriting, batch metering.

The upstream knows no workspaces, so Steward records which workspace created each batch and answers
404 for anyone else's. ``results_url`` is rewritten to point at Steward: the official SDK fetches that
absolute URL, and must never be sent to the upstream with a workspace key. Batch creation writes one row
to the database; it is not on the messages hot path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from steward.dataplane.context import RequestContext
from steward.dataplane.records import usage_row
from steward.dataplane.snapshot import KeyEntry, WorkspaceEntry
from steward.dataplane.stages.authorize import retired_error, unlisted_error
from steward.dataplane.stages.model_access import permits
from steward.dataplane.stages.validate import check_message_params
from steward.dataplane.upstream import Upstream
from steward.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from steward.governance.catalog import Catalog
from steward.governance.money import to_picousd
from steward.governance.pricing import UnknownModelError, price
from steward.governance.usage import meter_message
from steward.metrics import BATCH_METER_ERRORS, BATCH_RESULTS_UNMETERED
from steward.storage.models import BatchRecord
from steward.storage.repositories.batches import BatchRepository
from steward.tasks import pause, stop_if_cancelled
from steward.workers.journal import Journal

log = logging.getLogger("steward.batches")
MAX_BATCH_REQUESTS = 100_000
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_CUSTOM_ID_IN_LINE = re.compile(rb'"custom_id"\s*:\s*"([a-zA-Z0-9_-]{1,64})"')


def check_batch_body(payload: dict[str, Any], catalog: Catalog, workspace: WorkspaceEntry | None,
                     key: KeyEntry | None = None, *, forward_unknown: bool = True) -> int:
    """Validate a batch create body like the API does; returns the number of requests.

    A model the catalog does not list follows ``STEWARD_UNKNOWN_MODELS`` as on ``/v1/messages``."""
    requests = payload.get("requests")
    if not isinstance(requests, list) or not requests:
        raise InvalidRequestError("requests: Input should be a non-empty list")
    if len(requests) > MAX_BATCH_REQUESTS:
        raise InvalidRequestError(f"requests: at most {MAX_BATCH_REQUESTS} requests per batch")
    seen: set[str] = set()
    for i, item in enumerate(requests):
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            raise InvalidRequestError(f"requests.{i}.custom_id: Field required")
        if not CUSTOM_ID.fullmatch(item["custom_id"]):  # the API's own rule; it also bounds usage_records.id
            raise InvalidRequestError(f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if item["custom_id"] in seen:
            raise InvalidRequestError(f"requests.{i}.custom_id: duplicate custom_id {item['custom_id']!r}")
        seen.add(item["custom_id"])
        params = item.get("params")
        if not isinstance(params, dict):
            raise InvalidRequestError(f"requests.{i}.params: Input should be a valid dictionary")
        check_message_params(params, prefix=f"requests.{i}.params.")
        if params.get("stream"):
            raise InvalidRequestError(f"requests.{i}.params.stream: streaming is not supported in batches")
        model = params["model"]
        info = catalog.resolve(model)
        if info is not None and info.status == "retired":
            raise NotFoundError(f"requests.{i}.params.{retired_error(model, info).message}")
        if info is None and not forward_unknown:
            raise NotFoundError(f"requests.{i}.params.{unlisted_error(model).message}")
        if not (permits(workspace, model, info) and permits(key, model, info)):
            raise PermissionDeniedError(f"requests.{i}.params.model: {model} is not allowed for this key or "
                                        "its workspace")
    return len(requests)


def rewrite_results_url(batch: dict[str, Any], base_url: str) -> dict[str, Any]:
    if batch.get("results_url"):
        batch["results_url"] = f"{base_url}/v1/messages/batches/{batch['id']}/results"
    return batch


class BatchMeter:
    """Turns batch result lines into usage records (batch-discounted), once per request, idempotently.

    Prices with the catalog in force (the snapshot's), the family rule included; a result it cannot price is
    recorded as unpriced, and a line it cannot read (bad JSON, no usage) is logged with its batch id and
    custom_id and counted in ``steward_batch_results_unmetered``; the other lines are metered all the same.
    """

    def __init__(self, catalog: Callable[[], Catalog], journal: Journal, repo: BatchRepository,
                 capture: Callable[[BatchRecord, bytes, datetime], Awaitable[None]] | None = None,
                 settle: Callable[[str, Mapping[str, int], Mapping[str, Any] | None], Awaitable[None]] | None = None,
                 prepare: Callable[[str, Mapping[str, Any] | None], Awaitable[None]] | None = None) -> None:
        self._catalog = catalog
        self._journal = journal
        self._repo = repo
        self._capture = capture  # full audit: seal the results (stages/capture.BatchResultsCapture)
        self._settle = settle  # spend caps: the batch's hold becomes its real cost (dataplane/batch_budget.py)
        self._prepare = prepare  # spend caps: the counters started before the results are journaled

    def _skip(self, record: BatchRecord, custom_id: object, reason: str) -> None:
        BATCH_RESULTS_UNMETERED.labels(reason).inc()
        log.warning("batch %s result %r not metered: %s", record.id, custom_id, reason)

    def meter_line(self, record: BatchRecord, line: bytes, ended_at: datetime) -> tuple[str, int] | None:
        """Journal the usage of one results line (succeeded results only; others cost nothing).

        Returns (custom_id, cost in pico-USD) for a metered result, None otherwise."""
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            named = _CUSTOM_ID_IN_LINE.search(line)  # name the item when the torn line still shows it
            self._skip(record, named.group(1).decode() if named else None, "bad_json")
            return None
        if not isinstance(item, dict):
            self._skip(record, None, "bad_json")
            return None
        custom_id = item.get("custom_id")
        result = item.get("result")
        if not isinstance(result, dict) or result.get("type") != "succeeded":
            return None
        message = result.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
            self._skip(record, custom_id, "no_usage")
            return None
        metered = meter_message(message)
        model = metered.model or ""
        catalog = self._catalog()
        charged: int | None = None
        try:
            cost: int | None = to_picousd(price(catalog, model, metered.usage, at=ended_at, batch=True).total)
        except UnknownModelError:
            cost = None
            self._skip(record, custom_id, "unpriced")
            # Charged to the caps at the catalog's highest rates, as it was reserved (dataplane/stages/meter.py).
            charged = to_picousd(price(catalog, model, metered.usage, at=ended_at, batch=True, ceiling=True).total)
        self._journal.append({"usage": usage_row(
            row_id=f"{record.id}:{custom_id}", request_id=record.id, created_at=ended_at.isoformat(),
            org_id=record.org_id, workspace_id=record.workspace_id, api_key_id=record.api_key_id,
            user_id=record.user_id, tags=record.tags, endpoint="batch_result", model=model, batch_id=record.id,
            metered=metered, status=200, latency_ms=0, ttft_ms=None, cost_picousd=cost or 0,
            pricing_version=catalog.version if cost is not None else None, unpriced=cost is None,
            claude_code_session_id=None, service_tier="batch", charged_picousd=charged)})
        return (str(custom_id), cost if cost is not None else charged or 0)

    async def meter_batch(self, upstream: Upstream, record: BatchRecord, headers: Mapping[str, str]) -> bool:
        """Meter a batch whose processing ended; returns False if it is still running."""
        async with upstream.request("GET", f"/v1/messages/batches/{record.id}", headers) as response:
            body = await response.read()
        if response.status != 200:
            return False
        batch = orjson.loads(body)
        if batch.get("processing_status") != "ended":
            return False
        ended_at = _parse_time(batch.get("ended_at"))
        async with upstream.request("GET", f"/v1/messages/batches/{record.id}/results", headers) as response:
            if response.status != 200:
                return False
            data = await response.read()
        if self._prepare is not None:
            await self._prepare(record.id, record.budget_hold)
        costs: dict[str, int] = {}
        for line in data.splitlines():
            if line.strip() and (metered := self.meter_line(record, line, ended_at)) is not None:
                costs[metered[0]] = metered[1]
        if self._capture is not None:
            await self._capture(record, data, ended_at)
        await self._repo.mark(record.id, metered_at=datetime.now(UTC))
        if self._settle is not None:
            await self._settle(record.id, costs, record.budget_hold)
        return True


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.now(UTC)


async def run_batch_metering(meter: BatchMeter, upstream: Upstream, repo: BatchRepository,
                             headers: Mapping[str, str], interval: float,
                             retry_unrecorded: Callable[[], Awaitable[None]]) -> None:
    """Poll unmetered batches forever (the worker behind ``batch_meter_interval``); first write the rows of
    batches created while the database refused them (``BatchHandlers.retry_unrecorded``)."""
    while True:
        await pause(interval)
        try:
            await retry_unrecorded()
            records = await repo.unmetered()
        except Exception:  # fail-safe by design: the database is down; metering retries next round
            stop_if_cancelled()
            log.exception("batch metering round failed")
            continue
        for record in records:  # one bad batch never stops the others
            try:
                await meter.meter_batch(upstream, record, headers)
            except Exception:  # fail-safe by design: this batch retries next round, results stay upstream
                stop_if_cancelled()
                BATCH_METER_ERRORS.inc()
                log.exception("metering batch %s failed; retrying next round", record.id)


def batch_row(record: BatchRecord) -> dict[str, Any]:
    """A batch row as a journal record (``{"batch": ...}``, written by the shipper)."""
    return {"id": record.id, "org_id": record.org_id, "workspace_id": record.workspace_id,
            "api_key_id": record.api_key_id, "request_count": record.request_count,
            "created_at": record.created_at.isoformat(), "metered_at": None, "deleted_at": None,
            "user_id": record.user_id, "tags": record.tags, "budget_hold": record.budget_hold}


def new_batch_record(ctx: RequestContext, batch_id: str, count: int,
                     budget_hold: dict[str, Any] | None = None) -> BatchRecord:
    assert ctx.key is not None
    return BatchRecord(id=batch_id, org_id=ctx.key.org_id, workspace_id=ctx.key.workspace_id,
                       api_key_id=ctx.key.id, request_count=count, created_at=datetime.now(UTC),
                       metered_at=None, deleted_at=None, user_id=ctx.user_id, tags=ctx.tags,
                       budget_hold=budget_hold)
