"""A fast, deliberately high local estimate of a Messages request's input tokens, for admission.

Owns the number that rate limits and budgets reserve before the upstream reports real usage. It must stay
CPU-cheap (no tokenizer, no network) and never raise on odd shapes; ``count_tokens`` is the exact path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["estimate_input_tokens"]

BYTES_PER_TOKEN = 3
IMAGE_TOKENS = 1_600
DOCUMENT_TOKENS = 3_200  # a base64/URL/file document whose text we cannot see: a few pages' worth
MESSAGE_TOKENS = 5  # role and turn markers
TOOLS_TOKENS = 400  # the tool-use system prompt Anthropic adds when tools are present (~350 documented)
REQUEST_TOKENS = 10
_MAX_DEPTH = 8  # deeper nesting is sized by its JSON length
_TEXT_FIELDS = {"text": "text", "thinking": "thinking", "redacted_thinking": "data"}


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """Estimated input tokens of a Messages request body, rounded up; never raises.

    Method: count the UTF-8 bytes of what the model reads (system, message text, tool_use names and inputs,
    tool_result content, thinking, tool definitions as JSON) and divide by 3, rounding up. English runs about
    3.5-4 bytes per token, and the newer tokenizer (Claude 4.7 and later) yields about 30 % more tokens for
    the same text, so 3 keeps the estimate slightly above the truth. Bytes rather than characters keep CJK
    text (3 bytes, about one token per character) from being under-counted. Fixed amounts are added for each
    image (1,600 tokens, a ~1.15-megapixel image), each document whose text is not in the body, each
    message, and the tool-use system prompt. Unknown blocks count as their JSON length. Costs microseconds
    for typical bodies.
    """
    if not isinstance(body, Mapping):
        return 0
    size = _content(body.get("system"), 0)  # in bytes; fixed costs are converted to bytes
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            size += MESSAGE_TOKENS * BYTES_PER_TOKEN
            if isinstance(message, Mapping):
                size += _content(message.get("content"), 0)
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        size += TOOLS_TOKENS * BYTES_PER_TOKEN + _json_size(tools)
    return REQUEST_TOKENS + -(-size // BYTES_PER_TOKEN)


def _content(content: Any, depth: int) -> int:
    """Bytes of a content field: a string or a list of blocks."""
    if isinstance(content, str):
        return _text_size(content)
    if isinstance(content, list):
        return sum(_block(block, depth + 1) for block in content)
    return 0 if content is None else _json_size(content)


def _block(block: Any, depth: int) -> int:
    if isinstance(block, str):
        return _text_size(block)
    if not isinstance(block, Mapping) or depth > _MAX_DEPTH:
        return _json_size(block)
    kind = block.get("type")
    text_field = _TEXT_FIELDS.get(kind) if isinstance(kind, str) else None
    if text_field is not None:
        return _text_field(block, text_field)
    if kind == "image":
        size = IMAGE_TOKENS * BYTES_PER_TOKEN
    elif kind in ("tool_use", "server_tool_use"):
        size = _text_field(block, "name") + _json_size(block.get("input"))
    elif kind == "tool_result":
        size = _content(block.get("content"), depth)
    elif kind == "document":
        size = _document(block, depth)
    else:
        size = _json_size(block)
    return size


def _document(block: Mapping[str, Any], depth: int) -> int:
    source = block.get("source")
    if isinstance(source, Mapping):
        if source.get("type") == "text":
            return _text_field(source, "data")
        if source.get("type") == "content":
            return _content(source.get("content"), depth)
    return DOCUMENT_TOKENS * BYTES_PER_TOKEN


def _text_field(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    return _text_size(value) if isinstance(value, str) else 0


def _text_size(text: str) -> int:
    # isascii() is a flag check on CPython strings, so the common case costs no encoding.
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _json_size(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except TypeError:  # orjson.JSONEncodeError: unserialisable or nested too deeply
        return 0
