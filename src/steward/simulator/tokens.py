"""Deterministic, cheap token counting of a Messages prompt, split into cacheable segments.

Text costs about one token per four characters (at least one per word); images and PDFs cost a
fixed amount. Segments follow the order the prompt cache sees: tools, system, messages (system turns too;
one that a later user turn cleared costs nothing). This module must stay O(length) with C-speed string
scans only: it runs on every simulated request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from steward.errors import InvalidRequestError
from steward.simulator.content import cleared_system_turns

BASE_TOKENS = 3
MESSAGE_TOKENS = 4
TOOLS_PREAMBLE_TOKENS = 120
TOOL_TOKENS = 8
SERVER_TOOL_TOKENS = 100
IMAGE_TOKENS = 1_600
DOCUMENT_TOKENS = 1_500
OUTPUT_FORMAT_TOKENS = 12
MAX_CACHE_BREAKPOINTS = 4
TTLS = ("5m", "1h")


@dataclass(slots=True, frozen=True)
class Segment:
    """One tool, system block or message block: its tokens, what the cache hashes, and its marker."""

    tokens: int
    payload: Any
    ttl: str | None = None


@dataclass(slots=True, frozen=True)
class PromptTokens:
    """Token count of a whole prompt; ``total`` is what ``count_tokens`` answers."""

    total: int
    segments: tuple[Segment, ...]
    marked: bool


def text_tokens(text: str) -> int:
    """Tokens of a text: ~4 characters per token, never fewer than the number of words."""
    if not text:
        return 0
    words = text.count(" ") + text.count("\n") + 1
    return max(words, (len(text) + 3) // 4)


def json_tokens(value: Any) -> int:
    """Tokens of a JSON value as compact JSON text."""
    return text_tokens(orjson.dumps(value).decode())


def content_tokens(content: Any) -> int:
    """Tokens of a ``content`` field: a string or a list of blocks."""
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        return sum(block_tokens(block) for block in content if isinstance(block, dict))
    return 0


def block_tokens(block: dict[str, Any]) -> int:
    """Tokens of one input content block."""
    kind = block.get("type")
    if kind == "text":
        return text_tokens(str(block.get("text", "")))
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "document":
        return _document_tokens(block)
    if kind in ("tool_use", "server_tool_use"):
        return text_tokens(str(block.get("name", ""))) + json_tokens(block.get("input", {})) + 4
    if kind == "tool_result":
        return content_tokens(block.get("content")) + 4
    if kind in ("thinking", "redacted_thinking"):
        # Thinking from earlier turns is stripped before the model sees it and is not billed.
        return 0
    return json_tokens(block)


def _document_tokens(block: dict[str, Any]) -> int:
    source = block.get("source")
    if isinstance(source, dict):
        if source.get("type") == "text":
            return text_tokens(str(source.get("data", ""))) + 10
        if source.get("type") == "content":
            return content_tokens(source.get("content")) + 10
    return DOCUMENT_TOKENS


def tool_tokens(tool: dict[str, Any]) -> int:
    """Tokens of one tool definition (custom tools by their JSON, server tools at a fixed cost)."""
    kind = tool.get("type")
    if kind is None or kind == "custom" or "input_schema" in tool:
        return (text_tokens(str(tool.get("name", ""))) + text_tokens(str(tool.get("description", "")))
                + json_tokens(tool.get("input_schema", {})) + TOOL_TOKENS)
    return SERVER_TOOL_TOKENS


def marker_ttl(item: Any) -> str | None:
    """The ttl of an item's ``cache_control`` marker, or None when unmarked."""
    if not isinstance(item, dict):
        return None
    control = item.get("cache_control")
    if control is None:
        return None
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise InvalidRequestError("cache_control.type: Input should be 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if ttl not in TTLS:
        raise InvalidRequestError("cache_control.ttl: Input should be '5m' or '1h'")
    return str(ttl)


def count_prompt(body: dict[str, Any], output_schema: Any = None) -> PromptTokens:
    """Segments and total tokens of the prompt in ``body`` (tools, system, output schema, messages)."""
    segments: list[Segment] = []
    for index, tool in enumerate(body.get("tools") or ()):
        preamble = TOOLS_PREAMBLE_TOKENS if index == 0 else 0
        segments.append(Segment(tool_tokens(tool) + preamble, ("tool", tool), marker_ttl(tool)))
    system = body.get("system")
    if isinstance(system, str) and system:
        segments.append(Segment(text_tokens(system), ("system", system)))
    elif isinstance(system, list):
        segments.extend(Segment(block_tokens(b), ("system", b), marker_ttl(b)) for b in system)
    if output_schema is not None:
        segments.append(Segment(json_tokens(output_schema) + OUTPUT_FORMAT_TOKENS, ("format", output_schema)))
    messages = body.get("messages") or []
    hidden = cleared_system_turns(messages)
    for index, message in enumerate(messages):
        _message_segments(message, segments, shown=index not in hidden)
    if body.get("cache_control") is not None and segments:
        ttl = marker_ttl(body)
        last = segments[-1]
        if last.ttl is None:
            segments[-1] = Segment(last.tokens, last.payload, ttl)
    marked = _check_markers(segments)
    return PromptTokens(BASE_TOKENS + sum(s.tokens for s in segments), tuple(segments), marked)


def _message_segments(message: dict[str, Any], out: list[Segment], *, shown: bool = True) -> None:
    role = message.get("role")
    # A system turn is tagged apart from the top-level system prompt so the cache never confuses the two;
    # one cleared by a later user turn stays in the prefix (and keeps its marker) but costs nothing.
    tag_name = "system_turn" if role == "system" else role
    scale = 1 if shown else 0
    content = message.get("content")
    if isinstance(content, str):
        out.append(Segment(scale * (MESSAGE_TOKENS + text_tokens(content)), (tag_name, content)))
        return
    blocks = [b for b in content or () if isinstance(b, dict)]
    if not blocks:
        out.append(Segment(scale * MESSAGE_TOKENS, (tag_name,)))
        return
    for index, block in enumerate(blocks):
        overhead = MESSAGE_TOKENS if index == 0 else 0
        tag = tag_name if index == 0 else None
        out.append(Segment(scale * (block_tokens(block) + overhead), (tag, block), marker_ttl(block)))


def _check_markers(segments: list[Segment]) -> bool:
    ttls = [s.ttl for s in segments if s.ttl is not None]
    if len(ttls) > MAX_CACHE_BREAKPOINTS:
        raise InvalidRequestError(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {len(ttls)}.")
    if "5m" in ttls and "1h" in ttls[ttls.index("5m"):]:
        raise InvalidRequestError(
            "cache_control: a block with ttl='1h' must not come after a block with ttl='5m'.")
    return bool(ttls)
