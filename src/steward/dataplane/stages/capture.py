"""Capture: for workspaces whose compliance groups demand ``audit_level: full``, seal the request and the
response with the organization's data key and journal them as a ``content`` record (ciphertext only).

Reads ``ctx.workspace.compliance``, ``ctx.payload`` (after Privacy: redacted text is what is stored) and the
response bytes the forwarder collects in ``ctx.extra["capture"]``; writes ``ctx.extra["content_sha256"]`` (the
audit event carries the hash, never the content). Never stores anything for a request that was refused before
it was forwarded. Cost on the hot path: one attribute check unless full audit applies; then one AES-GCM pass
and one journal write. The organization's key is in memory (the first request after a new key may wait for
the key ring to load it once).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from steward.compliance.content import KeyRing, response_content, seal_content
from steward.dataplane.context import RequestContext
from steward.errors import StewardError
from steward.workers.journal import Journal

log = logging.getLogger("steward.capture")


class Capture:
    """Seals full-audit content into the journal; a no-op for every other workspace."""

    def __init__(self, keys: KeyRing, journal: Journal) -> None:
        self._keys = keys
        self._journal = journal

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        ws = ctx.workspace
        if ws is None or ws.compliance is None or ws.compliance.audit_level != "full":
            return None
        ctx.extra["capture"] = []  # the forwarder appends the response bytes here
        if self._keys.get(ws.org_id) is None:
            return self._load(ctx, ws.org_id)
        return None

    async def _load(self, ctx: RequestContext, org_id: str) -> None:
        if await self._keys.ensure(org_id) is None:
            ctx.extra.pop("capture", None)
            # Full audit is required but the key cannot be used: refuse (500 api_error) rather than skip capture.
            raise StewardError(
                "This workspace's compliance group requires full audit logging, but the organization's data key "
                "cannot be opened with the gateway's master key (STEWARD_MASTER_KEY); the request was not sent.")

    def on_complete(self, ctx: RequestContext) -> None:
        chunks = ctx.extra.pop("capture", None)
        ws = ctx.workspace
        if chunks is None or ws is None or ws.compliance is None or (ctx.error is not None and not chunks):
            return
        key = self._keys.get(ws.org_id)
        if key is None:
            return
        sealed = seal_content(key, org_id=ws.org_id, workspace_id=ws.id, request_id=ctx.request_id,
                              started_at=ctx.started_at, retention_days=ws.compliance.retention_days,
                              request=ctx.payload, response=response_content(chunks, ctx.stream and ctx.status == 200))
        ctx.extra["content_sha256"] = sealed.content_sha256
        try:
            self._journal.append({"content": sealed.record})
        except OSError:
            log.critical("journal write failed for the content of %s", ctx.request_id, exc_info=True)
