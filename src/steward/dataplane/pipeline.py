"""The fixed, explicit stage list every data-plane request runs through, and the one owner of its completion.

``Pipeline.run`` admits through the stages that need only headers (``reads_body = False``: authentication),
then reads the body (``prepare``), admits through the rest, runs the handler and completes exactly once: in a
``finally``, whatever happens. So an unauthenticated client never makes the gateway read (or hold) its body.
A handler that must record before its last byte (JSON relays, SSE on ``message_stop``) calls ``ctx.finish()``,
which ``run`` binds to this pipeline; later calls, and ``run``'s own, do nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from steward.dataplane.context import RequestContext
from steward.dataplane.http import ClientDisconnected
from steward.errors import ServiceUnavailableError, StewardError
from steward.storage.health import database_unavailable, describe

log = logging.getLogger("steward.pipeline")
Handler = Callable[[], Awaitable[None]]


class Stage(Protocol):
    # A stage whose class sets ``reads_body = False`` runs before the body is read (it sees headers only).
    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None: ...

    def on_complete(self, ctx: RequestContext) -> None: ...


class Pipeline:
    """Runs ``on_request`` in order (a StewardError refuses), and ``on_complete`` once, in order."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)
        door = 0  # the leading stages that need no body
        while door < len(self.stages) and getattr(self.stages[door], "reads_body", True) is False:
            door += 1
        self._door, self._rest = self.stages[:door], self.stages[door:]

    async def run(self, ctx: RequestContext, handler: Handler, prepare: Handler | None = None) -> None:
        """Admit on headers, prepare (read the body), admit the rest, handle; complete exactly once, before a
        refusal is answered.

        A refusal (``StewardError``) or an unexpected error (logged, then answered as a ``StewardError``) is
        set on ``ctx``, recorded, and raised for the caller to send; a client that hung up is recorded as 499.
        """
        ctx.finish = lambda: self._complete(ctx)
        try:
            await self._admit(ctx, self._door)
            if prepare is not None:
                await prepare()
            await self._admit(ctx, self._rest)
            ctx.handled = True
            await handler()
        except ClientDisconnected:
            ctx.client_disconnected = True
            ctx.status = 499
        except StewardError as exc:
            self._refused(ctx, exc)
            raise
        except Exception as exc:  # the last resort: never a bare 500 without our envelope and a record
            if database_unavailable(exc):  # an outage (batches, files read the database): retryable
                log.warning("%s %s while the database is unavailable: %s", ctx.endpoint, ctx.request_id,
                            describe(exc))
                error: StewardError = ServiceUnavailableError("The database is not answering; try again shortly.",
                                                              headers={"retry-after": "2"})
            else:
                log.exception("unhandled error in %s %s", ctx.endpoint, ctx.request_id)
                error = StewardError("Internal error in the gateway.")
            self._refused(ctx, error)
            raise error from exc
        finally:
            self._complete(ctx)

    def _refused(self, ctx: RequestContext, exc: StewardError) -> None:
        ctx.error = exc
        ctx.status = exc.status
        self._complete(ctx)

    @staticmethod
    async def _admit(ctx: RequestContext, stages: Sequence[Stage]) -> None:
        """Run these stages' admission; only stages that need I/O (limits) return an awaitable."""
        for stage in stages:
            pending = stage.on_request(ctx)
            if pending is not None:
                await pending

    def _complete(self, ctx: RequestContext) -> None:
        """Idempotent: the first call records, later calls do nothing."""
        if ctx.completed:
            return
        ctx.completed = True
        for stage in self.stages:
            try:
                stage.on_complete(ctx)
            except Exception:  # completion must reach every stage; a bug in one must not lose the record
                log.exception("stage %s failed to complete %s", type(stage).__name__, ctx.request_id)
