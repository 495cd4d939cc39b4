"""Pipeline.run owns completion: exactly once, after the refusal is set, whatever the handler does."""

from __future__ import annotations

import pytest

from steward.dataplane.context import RequestContext
from steward.dataplane.http import ClientDisconnected
from steward.dataplane.pipeline import Pipeline
from steward.errors import InvalidRequestError, StewardError


class Completions:
    """A stage that remembers what each completion saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, StewardError | None]] = []

    def on_request(self, ctx: RequestContext) -> None:
        if ctx.headers.get("refuse"):
            raise InvalidRequestError("refused at admission")

    def on_complete(self, ctx: RequestContext) -> None:
        self.seen.append((ctx.status, ctx.error))


def _ctx(**headers: str) -> RequestContext:
    return RequestContext("req_run", "messages", 0.0, 0.0, dict(headers))


async def test_finish_completes_once_before_the_handler_ends() -> None:
    stage = Completions()
    ctx = _ctx()

    async def handler() -> None:
        ctx.status = 200
        ctx.finish()  # before the last byte
        assert stage.seen == [(200, None)]
        ctx.finish()

    await Pipeline([stage]).run(ctx, handler)
    assert stage.seen == [(200, None)]


async def test_a_refusal_is_recorded_then_raised() -> None:
    stage = Completions()
    ran: list[bool] = []

    async def handler() -> None:
        ran.append(True)

    with pytest.raises(InvalidRequestError):
        await Pipeline([stage]).run(_ctx(refuse="1"), handler)
    assert not ran and len(stage.seen) == 1 and stage.seen[0][0] == 400
    assert isinstance(stage.seen[0][1], InvalidRequestError)


async def test_an_unexpected_error_is_recorded_as_ours() -> None:
    stage = Completions()

    async def handler() -> None:
        raise KeyError("bug")

    with pytest.raises(StewardError) as raised:
        await Pipeline([stage]).run(_ctx(), handler)
    assert raised.value.status == 500 and stage.seen == [(500, raised.value)]


async def test_a_client_that_hung_up_is_recorded_as_499() -> None:
    stage = Completions()
    ctx = _ctx()

    async def prepare() -> None:
        raise ClientDisconnected

    async def handler() -> None:
        raise AssertionError("not reached")

    await Pipeline([stage]).run(ctx, handler, prepare)
    assert stage.seen == [(499, None)] and ctx.client_disconnected
