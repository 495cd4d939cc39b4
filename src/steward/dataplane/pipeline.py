"""The fixed, explicit stage list every data-plane request runs through."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Protocol

from steward.dataplane.context import RequestContext

log = logging.getLogger("steward.pipeline")


class Stage(Protocol):
    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None: ...

    def on_complete(self, ctx: RequestContext) -> None: ...


class Pipeline:
    """Runs ``on_request`` in order (a StewardError refuses), and ``on_complete`` once, in order."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)

    async def admit(self, ctx: RequestContext) -> None:
        """Run every stage's admission; only stages that need I/O (limits) return an awaitable."""
        for stage in self.stages:
            pending = stage.on_request(ctx)
            if pending is not None:
                await pending

    def complete(self, ctx: RequestContext) -> None:
        """Idempotent: the first call records, later calls do nothing."""
        if ctx.completed:
            return
        ctx.completed = True
        for stage in self.stages:
            try:
                stage.on_complete(ctx)
            except Exception:  # completion must reach every stage; a bug in one must not lose the record
                log.exception("stage %s failed to complete %s", type(stage).__name__, ctx.request_id)
