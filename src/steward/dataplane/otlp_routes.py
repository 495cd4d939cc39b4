"""The OTLP/HTTP receiver for Claude Code telemetry: ``POST /v1/metrics`` and ``POST /v1/logs``.

Runs after Authenticate (a workspace key in ``x-api-key`` or ``Authorization: Bearer``, from the snapshot) and
hands the body to ``reporting.otlp.OtlpIngester``, which decodes it off the event loop and writes one database
transaction. This is not the Messages hot path: one write per export (Claude Code exports every 5-60 s).
Answers 200 with an empty (or partial-success) Export*ServiceResponse in the request's encoding.
"""

from __future__ import annotations

from steward.asgi import Receive, Scope, Send
from steward.dataplane.context import RequestContext
from steward.dataplane.http import send_bytes
from steward.reporting.otlp import Exporter, OtlpIngester, media_type


class OtlpHandlers:
    """The two export endpoints; each records (``ctx.finish()``) before answering."""

    def __init__(self, ingester: OtlpIngester) -> None:
        self._ingester = ingester

    async def metrics(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        await self._export(ctx, send, logs=False)

    async def logs(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        await self._export(ctx, send, logs=True)

    async def _export(self, ctx: RequestContext, send: Send, *, logs: bool) -> None:
        assert ctx.key is not None
        content_type = media_type(ctx.headers.get("content-type"))
        exporter = Exporter(ctx.key.org_id, ctx.key.workspace_id, ctx.key.name)
        encoding = ctx.headers.get("content-encoding")
        ingest = self._ingester.logs if logs else self._ingester.metrics
        body = await ingest(exporter, ctx.body, content_type, encoding)
        ctx.status = 200
        ctx.finish()
        await send_bytes(send, 200, body, [(b"content-type", content_type.encode()),
                                           (b"request-id", ctx.request_id.encode())])
