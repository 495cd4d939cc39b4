"""HTTP handlers for /v1/messages/batches/* (create, list, get, cancel, delete, results).

Create reserves the batch's worst case against the spend caps (dataplane/batch_budget.py) before the upstream
sees it, and releases the reservation if the upstream refuses; a created batch whose row cannot be written is
logged, counted and kept for the metering worker, so that it is still metered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from steward.asgi import Receive, Scope, Send
from steward.dataplane.batch_budget import BatchBudget
from steward.dataplane.batch_policy import BatchPolicy
from steward.dataplane.batches import BatchMeter, batch_row, check_batch_body, new_batch_record, rewrite_results_url
from steward.dataplane.context import RequestContext
from steward.dataplane.forward import response_headers, upstream_headers
from steward.dataplane.http import query_params, send_bytes, send_json
from steward.dataplane.snapshot import SnapshotStore
from steward.dataplane.stages.privacy import OFFLOAD_BYTES
from steward.dataplane.stages.validate import parse_json_object, parse_tags
from steward.dataplane.upstream import Upstream
from steward.errors import InvalidRequestError, NotFoundError, RateLimitError
from steward.governance.catalog import Catalog
from steward.governance.limit_rules import BATCH_GROUP, QUEUED_REQUESTS
from steward.metrics import BATCHES_UNRECORDED
from steward.storage.models import BatchRecord
from steward.storage.repositories.batches import BatchRepository
from steward.tasks import stop_if_cancelled

Action = Callable[[RequestContext, Scope, Receive, Send], Awaitable[None]]
log = logging.getLogger("steward.batches")


def base_url(scope: Scope, headers: dict[str, str], public_url: str | None = None) -> str:
    """Where clients reach Steward (for links they will follow, such as results_url): ``STEWARD_PUBLIC_URL`` when
    set, else the URL this client used (its Host header: fine for one client, not for links shared or stored)."""
    if public_url:
        return public_url.rstrip("/")
    host = headers.get("host") or "{}:{}".format(*scope.get("server") or ("127.0.0.1", 80))
    scheme = headers.get("x-forwarded-proto") or scope.get("scheme", "http")
    return f"{scheme}://{host}"


class BatchHandlers:
    def __init__(self, upstream: Upstream, repo: BatchRepository, catalog: Callable[[], Catalog],
                 meter: BatchMeter, forwarded_headers: tuple[str, ...],
                 snapshots: SnapshotStore, policy: BatchPolicy | None = None, *, budget: BatchBudget | None = None,
                 forward_unknown: bool = True, journal: Callable[[dict[str, Any]], None] | None = None,
                 public_url: str | None = None) -> None:
        self._public_url = public_url
        self._journal = journal  # a batch row the database refuses is journaled, so the shipper writes it
        self._budget = budget  # spend caps: a batch reserves its worst case (dataplane/batch_budget.py)
        self._forward_unknown = forward_unknown  # STEWARD_UNKNOWN_MODELS=forward
        self._unrecorded: list[BatchRecord] = []
        self._snapshots = snapshots
        self._policy = policy
        self._upstream = upstream
        self._repo = repo
        self._catalog = catalog
        self._meter = meter
        self._forwarded = forwarded_headers

    def route(self, method: str, path: str) -> tuple[str, Action] | None:
        parts = path[len("/v1/messages/batches/"):].split("/")
        if len(parts) == 1 and parts[0]:
            return {"GET": ("batches.get", self.get), "DELETE": ("batches.delete", self.delete)}.get(method)
        if len(parts) == 2 and parts[1] == "cancel" and method == "POST":
            return "batches.cancel", self.cancel
        if len(parts) == 2 and parts[1] == "results" and method == "GET":
            return "batches.results", self.results
        return None

    async def _owned(self, ctx: RequestContext, scope: Scope) -> BatchRecord:
        batch_id = scope["path"][len("/v1/messages/batches/"):].split("/")[0]
        record = await self._repo.get(batch_id)
        if record is None or ctx.key is None or record.workspace_id != ctx.key.workspace_id \
                or record.deleted_at is not None:
            raise NotFoundError(f"message_batch: {batch_id} not found")
        return record

    async def _relay_json(self, ctx: RequestContext, scope: Scope, send: Send, method: str, path: str,
                          body: bytes | None = None) -> dict[str, Any] | None:
        async with self._upstream.request(method, path, upstream_headers(ctx, self._forwarded), body) as resp:
            data = await resp.read()
        ctx.status = resp.status
        ctx.upstream_request_id = resp.headers.get("request-id")
        parsed: dict[str, Any] | None = None
        if resp.status == 200:
            parsed = orjson.loads(data)
            if isinstance(parsed, dict) and parsed.get("type") == "message_batch":
                data = orjson.dumps(rewrite_results_url(parsed, base_url(scope, ctx.headers, self._public_url)))
        ctx.finish()
        await send_bytes(send, resp.status, data, response_headers(ctx, resp))
        return parsed

    async def create(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        ctx.tags = parse_tags(ctx.headers.get("x-steward-tags"))
        payload = parse_json_object(ctx.body)
        count = check_batch_body(payload, self._catalog(), ctx.workspace, ctx.key,
                                 forward_unknown=self._forward_unknown)
        if self._policy is not None and len(ctx.body) > OFFLOAD_BYTES:  # thousands of items: keep the loop free
            await asyncio.get_running_loop().run_in_executor(None, self._policy.apply, ctx, payload)
        elif self._policy is not None:
            self._policy.apply(ctx, payload)
        await self._check_queue(ctx, count)
        hold = await self._budget.reserve(ctx, payload) if self._budget is not None else None
        try:
            headers = upstream_headers(ctx, self._forwarded)
            async with self._upstream.request("POST", "/v1/messages/batches", headers, ctx.body) as resp:
                data = await resp.read()
            batch = orjson.loads(data) if resp.status == 200 else None
        except BaseException:
            if self._budget is not None:
                await self._budget.release(hold)
            raise
        ctx.status = resp.status
        if (captured := ctx.capture) is not None:  # full audit: the items as sent, and the answer
            ctx.payload = payload
            captured.append(data)
        if self._budget is not None:
            if batch is None:
                await self._budget.release(hold)
            else:
                self._budget.keep(batch["id"], hold)
        if batch is not None:
            await self._record(new_batch_record(ctx, batch["id"], count, hold.to_json() if hold else None))
            data = orjson.dumps(rewrite_results_url(batch, base_url(scope, ctx.headers, self._public_url)))
        ctx.finish()
        await send_bytes(send, resp.status, data, response_headers(ctx, resp))

    async def _record(self, record: BatchRecord) -> None:
        """Write the batch's row; if the database refuses, keep it for the metering worker to write later.

        The upstream has created (and will bill) the batch, so the client gets its id either way: the row is
        journaled (the shipper writes it, surviving a crash of this process) and kept for the metering worker."""
        try:
            await self._repo.add(record)
        except Exception:  # fail-safe by design: the batch exists upstream and must still be metered
            BATCHES_UNRECORDED.inc()
            log.exception("batch %s was created upstream but its row could not be written; journaled and "
                          "retried by the metering worker", record.id)
            self._unrecorded.append(record)
            if self._journal is not None:
                try:
                    self._journal({"batch": batch_row(record)})
                except OSError:
                    log.exception("batch %s: journaling its row failed too", record.id)

    async def retry_unrecorded(self) -> None:
        """Write the rows kept by ``_record`` (a row the shipper wrote first is left as it is); those that fail
        again stay for the next round, and the metering round goes on with the batches already recorded."""
        pending, self._unrecorded = self._unrecorded, []
        for i, record in enumerate(pending):
            try:
                await self._repo.add(record)
                log.warning("batch %s: its row is now written and it will be metered", record.id)
            except Exception:  # fail-safe by design: the database still refuses; kept for the next round
                stop_if_cancelled()
                self._unrecorded.extend(pending[i:])
                log.exception("batch %s: its row still cannot be written; retrying next round", record.id)
                return

    async def _check_queue(self, ctx: RequestContext, count: int) -> None:
        """Queued-requests limits of the batch group: requests in unfinished batches plus these ones."""
        key = ctx.key
        if key is None:
            return
        limits = self._snapshots.current.limits
        for level, scope_id, narrowing in (("organization", key.org_id, {}),
                                           ("workspace", key.workspace_id, {"workspace_id": key.workspace_id}),
                                           ("key", key.id, {"api_key_id": key.id})):
            for limit_type, value in limits.get((level, scope_id, BATCH_GROUP), ()):
                if limit_type != QUEUED_REQUESTS:
                    continue
                queued = await self._repo.queued_requests(key.org_id, **narrowing)
                if queued + count > value:
                    raise RateLimitError(
                        f"This batch would bring the {level}'s queued batch requests to {queued + count}, over "
                        f"its limit of {value}; wait for running batches to end.", headers={"retry-after": "60"})

    async def list(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        query = query_params(scope)
        raw_limit = query.get("limit", "20")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            raise InvalidRequestError("limit: Input should be an integer between 1 and 1000")
        limit = int(raw_limit)
        assert ctx.key is not None
        rows = await self._repo.page(ctx.key.workspace_id, limit=limit, before_id=query.get("before_id"),
                                     after_id=query.get("after_id"))
        more = len(rows) > limit
        rows = rows[:limit]
        headers = upstream_headers(ctx, self._forwarded)
        batches = await asyncio.gather(*(self._fetch(r.id, headers) for r in rows))
        base = base_url(scope, ctx.headers, self._public_url)
        data = [rewrite_results_url(b, base) for b in batches if b is not None]
        ctx.status = 200
        ctx.finish()
        await send_json(send, 200, {"data": data, "has_more": more,
                                    "first_id": data[0]["id"] if data else None,
                                    "last_id": data[-1]["id"] if data else None}, ctx.request_id)

    async def _fetch(self, batch_id: str, headers: dict[str, str]) -> dict[str, Any] | None:
        async with self._upstream.request("GET", f"/v1/messages/batches/{batch_id}", headers) as resp:
            data = await resp.read()
        return orjson.loads(data) if resp.status == 200 else None

    async def get(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        record = await self._owned(ctx, scope)
        await self._relay_json(ctx, scope, send, "GET", f"/v1/messages/batches/{record.id}")

    async def cancel(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        record = await self._owned(ctx, scope)
        await self._relay_json(ctx, scope, send, "POST", f"/v1/messages/batches/{record.id}/cancel")

    async def delete(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        record = await self._owned(ctx, scope)
        if record.metered_at is None:  # a deleted batch is never metered later: meter (and settle) it now
            await self._meter.meter_batch(self._upstream, record, upstream_headers(ctx, self._forwarded))
        parsed = await self._relay_json(ctx, scope, send, "DELETE", f"/v1/messages/batches/{record.id}")
        if parsed is not None:
            await self._repo.mark(record.id, deleted_at=datetime.now(UTC))

    async def results(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        record = await self._owned(ctx, scope)
        if record.metered_at is None:
            await self._meter.meter_batch(self._upstream, record, upstream_headers(ctx, self._forwarded))
        path = f"/v1/messages/batches/{record.id}/results"
        async with self._upstream.request("GET", path, upstream_headers(ctx, self._forwarded)) as resp:
            ctx.status = resp.status
            ctx.upstream_request_id = resp.headers.get("request-id")
            ctx.finish()
            await send({"type": "http.response.start", "status": resp.status,
                        "headers": response_headers(ctx, resp)})
            async for chunk in resp.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
