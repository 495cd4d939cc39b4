"""count_tokens and prompt caching: totals agree with usage; creation, reads, ttls, lookback, bounds."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from steward.simulator.cache import PromptCache
from steward.simulator.tokens import count_prompt, text_tokens

MODEL = "claude-haiku-4-5"
LONG = "The quick brown fox jumps over the lazy dog. " * 200  # ~2,250 tokens
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}


def total_input(usage: anthropic.types.Usage) -> int:
    return usage.input_tokens + (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)


def cached_system(ttl: str = "5m") -> list[dict[str, Any]]:
    return [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": ttl}}]


def test_text_tokens_heuristic() -> None:
    assert text_tokens("") == 0
    assert text_tokens("Hello") == 2
    assert text_tokens("a b c d e f") == 6  # never fewer than the words
    assert 2000 < text_tokens(LONG) < 2600


PROMPTS: dict[str, dict[str, Any]] = {
    "plain": {"messages": [{"role": "user", "content": "Hello"}]},
    "rich": {
        "system": "You are terse.",
        "tools": [{"name": "f", "description": "does f", "input_schema": {"type": "object", "properties": {}}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Look"}, IMAGE]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "done"}]},
        ],
    },
    "cached": {"system": cached_system(), "messages": [{"role": "user", "content": "Hello"}]},
}


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_count_tokens_equals_total_input_usage(client: anthropic.Anthropic, name: str) -> None:
    prompt = PROMPTS[name]
    counted = client.messages.count_tokens(model=MODEL, **prompt).input_tokens
    for _ in range(2):  # the second "cached" call reads instead of writing; the total is the same
        message = client.messages.create(model=MODEL, max_tokens=50, **prompt)
        assert total_input(message.usage) == counted


def test_image_costs_a_fixed_amount(client: anthropic.Anthropic) -> None:
    with_image = client.messages.count_tokens(model=MODEL, messages=PROMPTS["rich"]["messages"][:1])
    text_only = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Look"}])
    assert with_image.input_tokens - text_only.input_tokens == 1600


def test_cache_write_then_read(client: anthropic.Anthropic) -> None:
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "write then read"}]
    system = [{"type": "text", "text": LONG + " v1", "cache_control": {"type": "ephemeral"}}]
    first = client.messages.create(model=MODEL, max_tokens=20, system=system, messages=messages)
    second = client.messages.create(model=MODEL, max_tokens=20, system=system, messages=messages)
    written = first.usage.cache_creation_input_tokens
    assert written is not None and written > 1024 and first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == written
    assert second.usage.cache_read_input_tokens == written and second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == first.usage.input_tokens > 0


def test_cache_is_per_api_key_and_model(client: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": LONG + " v2", "cache_control": {"type": "ephemeral"}}]
    params: dict[str, Any] = {"max_tokens": 20, "system": system, "messages": [{"role": "user", "content": "x"}]}
    client.messages.create(model=MODEL, **params)
    other_key = client.with_options(api_key="sk-ant-other").messages.create(model=MODEL, **params)
    assert other_key.usage.cache_read_input_tokens == 0
    dated = client.messages.create(model="claude-haiku-4-5-20251001", **params)
    assert dated.usage.cache_read_input_tokens == total_input(dated.usage) - dated.usage.input_tokens
    other_model = client.messages.create(model="claude-sonnet-4-6", **params)
    assert other_model.usage.cache_read_input_tokens == 0


def test_one_hour_and_five_minute_split(client: anthropic.Anthropic) -> None:
    tools = [{"name": "t", "description": LONG, "input_schema": {"type": "object", "properties": {}},
              "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    system = [{"type": "text", "text": LONG + " v3", "cache_control": {"type": "ephemeral", "ttl": "5m"}}]
    message = client.messages.create(model=MODEL, max_tokens=20, tools=tools, system=system,
                                     messages=[{"role": "user", "content": "x"}])
    creation = message.usage.cache_creation
    assert creation is not None and creation.ephemeral_1h_input_tokens > 1024
    assert creation.ephemeral_5m_input_tokens > 1024
    assert message.usage.cache_creation_input_tokens == (creation.ephemeral_1h_input_tokens
                                                         + creation.ephemeral_5m_input_tokens)


def test_short_prefixes_are_not_cached(client: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "short", "cache_control": {"type": "ephemeral"}}]
    message = client.messages.create(model=MODEL, max_tokens=20, system=system,
                                     messages=[{"role": "user", "content": "x"}])
    assert message.usage.cache_creation_input_tokens == 0 and message.usage.cache_read_input_tokens == 0


def test_conversation_reads_the_previous_turn(client: anthropic.Anthropic) -> None:
    marker = {"type": "ephemeral"}
    turn1: list[Any] = [{"role": "user", "content": [{"type": "text", "text": LONG + " v4", "cache_control": marker}]}]
    first = client.messages.create(model=MODEL, max_tokens=20, messages=turn1)
    turn2 = [{"role": "user", "content": [{"type": "text", "text": LONG + " v4"}]},
             {"role": "assistant", "content": first.content},
             {"role": "user", "content": [{"type": "text", "text": "more", "cache_control": marker}]}]
    second = client.messages.create(model=MODEL, max_tokens=20, messages=turn2)
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert (second.usage.cache_creation_input_tokens or 0) > 0


def test_top_level_cache_control(client: anthropic.Anthropic) -> None:
    params: dict[str, Any] = {"model": MODEL, "max_tokens": 20, "cache_control": {"type": "ephemeral"},
                              "messages": [{"role": "user", "content": LONG + " v5"}]}
    first = client.messages.create(**params)
    second = client.messages.create(**params)
    assert (first.usage.cache_creation_input_tokens or 0) > 1024
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


def test_invalid_breakpoints_are_rejected(client: anthropic.Anthropic) -> None:
    marked = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
        client.messages.create(model=MODEL, max_tokens=20, system=[marked] * 5,
                               messages=[{"role": "user", "content": "x"}])
    late_hour = {"type": "text", "text": "y", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    with pytest.raises(anthropic.BadRequestError, match="ttl='1h'"):
        client.messages.create(model=MODEL, max_tokens=20, system=[marked, late_hour],
                               messages=[{"role": "user", "content": "x"}])


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def prompt(text: str, ttl: str = "5m") -> Any:
    body = {"system": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}],
            "messages": [{"role": "user", "content": "x"}]}
    return count_prompt(body)


def test_entries_expire_and_reads_refresh_the_ttl() -> None:
    clock = FakeClock()
    cache = PromptCache(min_tokens=10, max_entries=100, clock=clock)
    assert cache.apply("k", prompt(LONG)).created_5m > 0
    clock.now = 290.0
    assert cache.apply("k", prompt(LONG)).read > 0  # refreshed until 590
    clock.now = 580.0
    assert cache.apply("k", prompt(LONG)).read > 0
    clock.now = 1000.0
    assert cache.apply("k", prompt(LONG)).read == 0
    assert cache.apply("k", prompt(LONG + "!", "1h")).created_1h > 0
    clock.now = 1000.0 + 3000.0
    assert cache.apply("k", prompt(LONG + "!", "1h")).read > 0


def test_cache_memory_is_bounded() -> None:
    cache = PromptCache(min_tokens=10, max_entries=3, clock=FakeClock())
    for index in range(5):
        cache.apply("k", prompt(f"{LONG} {index}"))
    assert len(cache) == 3
    assert cache.apply("k", prompt(f"{LONG} 0")).read == 0  # evicted
    assert cache.apply("k", prompt(f"{LONG} 4")).read > 0
