"""Capture: for workspaces whose compliance groups demand ``audit_level: full``, seal the request and the
response with the organization's data key and journal them as a ``content`` record (ciphertext only).

Reads ``ctx.workspace.compliance``, ``ctx.payload`` (after Privacy: redacted text is what is stored) and the
response bytes the forwarder collects in ``ctx.capture``; writes ``ctx.content_sha256`` (the
audit event carries the hash, never the content). Never stores anything for a request that was refused before
it was forwarded. Cost on the hot path: one attribute check unless full audit applies; then one AES-GCM pass
and one journal write. The organization's key is in memory (the first request after a new key may wait for
the key ring to load it once).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import datetime

import orjson

from steward.compliance.content import KeyRing, response_content, seal_content
from steward.dataplane.context import RequestContext
from steward.dataplane.records import audit_event
from steward.dataplane.snapshot import SnapshotStore, WorkspaceEntry
from steward.errors import StewardError
from steward.storage.models import BatchRecord
from steward.workers.journal import Journal

log = logging.getLogger("steward.capture")


def full_audit(ws: WorkspaceEntry | None) -> bool:
    return ws is not None and ws.compliance is not None and ws.compliance.audit_level == "full"


class Capture:
    """Seals full-audit content into the journal; a no-op for every other workspace.

    ``endpoints`` narrows it (the batches pipeline captures ``batches.create`` only: the request items and
    the batch object; polling calls carry no content)."""

    def __init__(self, keys: KeyRing, journal: Journal, *, endpoints: frozenset[str] | None = None) -> None:
        self._keys = keys
        self._journal = journal
        self._endpoints = endpoints

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        ws = ctx.workspace
        if not full_audit(ws) or (self._endpoints is not None and ctx.endpoint not in self._endpoints):
            return None
        assert ws is not None
        ctx.capture = []  # the forwarder appends the response bytes here
        if self._keys.get(ws.org_id) is None:
            return self._load(ctx, ws.org_id)
        return None

    async def _load(self, ctx: RequestContext, org_id: str) -> None:
        if await self._keys.ensure(org_id) is None:
            ctx.capture = None
            # Full audit is required but the key cannot be used: refuse (500 api_error) rather than skip capture.
            raise StewardError(
                "This workspace's compliance group requires full audit logging, but the organization's data key "
                "cannot be opened with the gateway's master key (STEWARD_MASTER_KEY); the request was not sent.")

    def on_complete(self, ctx: RequestContext) -> None:
        chunks, ctx.capture = ctx.capture, None
        ws = ctx.workspace
        if chunks is None or ws is None or ws.compliance is None or (ctx.error is not None and not chunks):
            return
        key = self._keys.get(ws.org_id)
        if key is None:
            return
        sealed = seal_content(key, org_id=ws.org_id, workspace_id=ws.id, request_id=ctx.request_id,
                              started_at=ctx.started_at, retention_days=ws.compliance.retention_days,
                              request=ctx.payload, response=response_content(chunks, ctx.stream and ctx.status == 200))
        ctx.content_sha256 = sealed.content_sha256
        try:
            self._journal.append({"content": sealed.record})
        except OSError:
            log.critical("journal write failed for the content of %s", ctx.request_id, exc_info=True)


class BatchResultsCapture:
    """Full audit for Message Batches' results: when the batch meter reads a full-audit workspace's results,
    they are sealed as one content record (request id ``<batch id>:results``) and an audit event
    ``batch.results`` carries its hash, so the audit chain covers it. The batch's request items are sealed at
    creation by ``Capture`` on the batches pipeline."""

    def __init__(self, keys: KeyRing, journal: Journal, snapshots: SnapshotStore) -> None:
        self._keys = keys
        self._journal = journal
        self._snapshots = snapshots

    async def __call__(self, record: BatchRecord, data: bytes, ended_at: datetime) -> None:
        ws = self._snapshots.current.workspaces.get(record.workspace_id)
        if ws is None or not full_audit(ws):
            return
        assert ws.compliance is not None
        key = self._keys.get(ws.org_id) or await self._keys.ensure(ws.org_id)
        if key is None:
            log.critical("batch %s: results not stored: the data key cannot be opened (STEWARD_MASTER_KEY)",
                         record.id)
            return
        items = []
        for line in data.splitlines():
            if line.strip():
                try:
                    items.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    items.append(line.decode("utf-8", "replace"))
        request_id = f"{record.id}:results"
        # Fixed ids: if the results are metered twice (the background meter and a client's download racing),
        # the shipper's insert-or-ignore keeps one content row and one audit event.
        sealed = seal_content(key, org_id=ws.org_id, workspace_id=ws.id, request_id=request_id,
                              started_at=ended_at.timestamp(), retention_days=ws.compliance.retention_days,
                              request=None, response=items, content_id=f"content_{record.id}:results")
        audit = audit_event("batch.results", event_id=f"activity_{record.id}:results",
                            created_at=ended_at.isoformat(), decision="allowed", reason=None, org_id=ws.org_id,
                            request_id=request_id, workspace_id=ws.id, api_key_id=record.api_key_id,
                            actor=record.api_key_id,
                            data={"batch_id": record.id, "items": len(items), "content_sha256": sealed.content_sha256})
        try:
            self._journal.append({"content": sealed.record, "audit": audit})
        except OSError:
            log.critical("journal write failed for the results content of batch %s", record.id, exc_info=True)
