"""Every error class renders Anthropic's envelope with its own status and type, in JSON and as SSE."""

from __future__ import annotations

import orjson
import pytest

from steward.errors import ALL_ERRORS, StewardError, render_error, render_sse_error

ANTHROPIC_TYPES = {"invalid_request_error", "authentication_error", "permission_error", "not_found_error",
                   "conflict_error", "request_too_large", "rate_limit_error", "api_error", "timeout_error",
                   "overloaded_error", "billing_error"}


def test_every_subclass_is_listed() -> None:
    def walk(cls: type[StewardError]) -> set[type[StewardError]]:
        return {cls}.union(*(walk(sub) for sub in cls.__subclasses__()))
    assert {c for c in walk(StewardError) if c.__module__ == "steward.errors"} == set(ALL_ERRORS)


@pytest.mark.parametrize("cls", ALL_ERRORS)
def test_json_envelope(cls: type[StewardError]) -> None:
    body = orjson.loads(render_error(cls("something went wrong"), "req_123"))
    assert body == {"type": "error", "error": {"type": cls.error_type, "message": "something went wrong"},
                    "request_id": "req_123"}
    assert cls.error_type in ANTHROPIC_TYPES
    assert 400 <= cls.status <= 599


@pytest.mark.parametrize("cls", ALL_ERRORS)
def test_sse_event(cls: type[StewardError]) -> None:
    raw = render_sse_error(cls("cut"), "req_1")
    assert raw.startswith(b"event: error\ndata: ") and raw.endswith(b"\n\n")
    data = orjson.loads(raw.split(b"data: ", 1)[1])
    assert data == {"type": "error", "error": {"type": cls.error_type, "message": "cut"}}


def test_status_comes_from_the_class_not_the_message() -> None:
    from steward.errors import RateLimitError

    assert RateLimitError("invalid request").status == 429
