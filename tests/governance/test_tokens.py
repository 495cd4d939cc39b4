"""The local input-token estimate: its arithmetic, its conservatism, and that odd shapes never raise."""

from __future__ import annotations

import timeit
from typing import Any

import pytest

from steward.governance.tokens import (
    BYTES_PER_TOKEN,
    IMAGE_TOKENS,
    MESSAGE_TOKENS,
    REQUEST_TOKENS,
    TOOLS_TOKENS,
    estimate_input_tokens,
)


def test_plain_text_message() -> None:
    # 3,000 ASCII bytes / 3 = 1,000 tokens, plus one message and the request overhead.
    body = {"messages": [{"role": "user", "content": "a" * 3_000}]}
    assert estimate_input_tokens(body) == 1_000 + MESSAGE_TOKENS + REQUEST_TOKENS


def test_rounds_up() -> None:
    body = {"system": "ab", "messages": []}
    assert estimate_input_tokens(body) == REQUEST_TOKENS + 1


def test_system_blocks_and_text_blocks() -> None:
    body = {"system": [{"type": "text", "text": "x" * 300}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "y" * 600}]}]}
    assert estimate_input_tokens(body) == 100 + 200 + MESSAGE_TOKENS + REQUEST_TOKENS


def test_image_is_a_fixed_amount() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 90_000}}
    body = {"messages": [{"role": "user", "content": [image]}]}
    assert estimate_input_tokens(body) == IMAGE_TOKENS + MESSAGE_TOKENS + REQUEST_TOKENS


def test_tools_tool_use_and_tool_result_are_counted() -> None:
    tool = {"name": "get_weather", "description": "Weather for a city", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}}}
    base = {"messages": [{"role": "user", "content": "hi"}]}
    with_tools = {**base, "tools": [tool]}
    assert estimate_input_tokens(with_tools) > estimate_input_tokens(base) + TOOLS_TOKENS
    turn = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather",
                                           "input": {"city": "x" * 3_000}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": [{"type": "text", "text": "y" * 3_000}]}]},
    ]
    assert estimate_input_tokens({"messages": turn}) >= 2_000


def test_non_ascii_counts_bytes() -> None:
    # 1,000 CJK characters are 3,000 UTF-8 bytes: about one token each, never a third of one.
    body = {"messages": [{"role": "user", "content": "漢" * 1_000}]}
    assert estimate_input_tokens(body) >= 1_000


def test_overestimates_english_at_four_chars_per_token() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 200
    body = {"messages": [{"role": "user", "content": text}]}
    assert estimate_input_tokens(body) >= len(text) / 4 * 1.2
    assert BYTES_PER_TOKEN == 3


def _deep(levels: int) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": "z"}
    for _ in range(levels):
        block = {"type": "tool_result", "tool_use_id": "t", "content": [block]}
    return block


@pytest.mark.parametrize(
    "body",
    [None, [], "text", {}, {"messages": None}, {"messages": "hi"}, {"messages": [None, 3, "x", []]},
     {"messages": [{"content": 5}]}, {"messages": [{"content": [None, 7, {"type": ["x"]}, {"type": None}]}]},
     {"system": {"weird": True}, "tools": "x"}, {"tools": [object()]},
     {"messages": [{"content": [{"type": "tool_use", "input": {1, 2}}]}]},
     {"messages": [{"content": [{"type": "document", "source": None}]}]},
     {"messages": [{"content": [_deep(5_000)]}]},
     {"messages": [{"content": ["\ud800 lone surrogate"]}]}],
)
def test_odd_shapes_never_raise(body: Any) -> None:
    assert estimate_input_tokens(body) >= 0


def test_typical_body_takes_microseconds() -> None:
    body = {"system": "You are helpful. " * 20, "tools": [{"name": "t", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user" if i % 2 == 0 else "assistant", "content": "Some words here. " * 30}
                         for i in range(10)]}
    seconds = min(timeit.repeat(lambda: estimate_input_tokens(body), number=1_000, repeat=3)) / 1_000
    assert seconds < 100e-6
