"""Deterministic "model output" for a validated request: content blocks, stop reason, token counts.

Output is made of pieces, one token each, so the JSON and streaming paths share one truth: a
block's text is the concatenation of its pieces and its output tokens are their number. The same
request always yields the same text (ids excepted). No I/O and no clocks here.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from steward.ids import new_id
from steward.simulator.content import last_turn_index
from steward.simulator.request import MessageRequest, client_tools, web_search_tool
from steward.simulator.schema import instance

PIECE = re.compile(r"\s*(?:\w{1,4}|[^\w\s])|\s+")
# ``[[sim-tool Read {"file_path": "/tmp/x"}]]`` in the final user text: call that client tool with that input
# (tests of real clients need a chosen tool call, as a real model would make when asked).
SIM_TOOL = re.compile(r"\[\[sim-tool ([A-Za-z0-9_-]{1,128})(?: (\{.*?\}))?\]\]")
SIM_INPUT = "__sim_input__"
_CLASSIC = ("Lorem", " ipsum", " dolor", " sit", " amet,", " consectetur", " adipiscing", " elit.")
_THINKING_OPENER = ("Let", " me", " think", " about", " how", " to", " answer", " this.")
_VOCAB = (
    "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua",
    "enim", "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi",
    "aliquip", "ex", "ea", "commodo", "consequat", "duis", "aute", "irure", "in", "reprehenderit",
    "voluptate", "velit", "esse", "cillum", "fugiat", "nulla", "pariatur", "excepteur", "sint", "occaecat",
    "cupidatat", "non", "proident", "sunt", "culpa", "qui", "officia", "deserunt", "mollit", "anim", "id",
    "est", "laborum",
)


def _make_sentences(count: int) -> tuple[tuple[str, ...], ...]:
    rng = random.Random(20251001)
    sentences = []
    for _ in range(count):
        words = [rng.choice(_VOCAB) for _ in range(rng.randint(6, 14))]
        words[0] = words[0].capitalize()
        if len(words) > 8:
            words[len(words) // 2] += ","
        words[-1] += "."
        sentences.append(tuple(" " + word for word in words))
    return tuple(sentences)


_SENTENCES = _make_sentences(64)


@dataclass(slots=True, frozen=True)
class OutBlock:
    """One output content block: the final JSON block and the pieces streamed as its deltas."""

    block: dict[str, Any]
    pieces: tuple[str, ...]
    tokens: int


@dataclass(slots=True, frozen=True)
class Generation:
    """The whole simulated answer."""

    blocks: tuple[OutBlock, ...]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int
    thinking_tokens: int
    web_search_requests: int


def lorem_pieces(count: int, seed: int, opener: tuple[str, ...] = _CLASSIC) -> list[str]:
    """``count`` one-token pieces of lorem ipsum, starting with ``opener``, varied by ``seed``."""
    pieces = list(opener[:count])
    index = seed
    while len(pieces) < count:
        pieces.extend(_SENTENCES[index % len(_SENTENCES)])
        index += 1
    return pieces[:count]


def split_pieces(text: str) -> list[str]:
    """Split any text into one-token pieces whose concatenation is ``text``."""
    return PIECE.findall(text)


def request_seed(request: MessageRequest) -> int:
    """A seed that depends on the model and the last turn with the system turns after it (never on ``stream``)."""
    messages = request.body["messages"]
    tail = messages[last_turn_index(messages):]
    seen = tail[0] if len(tail) == 1 else tail  # a lone last turn keeps the seed it always had
    return zlib.crc32(orjson.dumps(seen)) ^ zlib.crc32(request.model_name.encode())


def last_user_text(request: MessageRequest) -> str:
    """The text of the final user turn, trailing system turns aside (empty when it only carries tool results)."""
    messages = request.body["messages"]
    last = messages[last_turn_index(messages)]
    if last["role"] != "user":
        return ""
    content = last["content"]
    if isinstance(content, str):
        return content
    # Claude Code prepends ``<system-reminder>`` blocks listing its tools; they are context, not the user's ask.
    return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
                    and not str(b.get("text", "")).startswith("<system-reminder>"))


def generate(request: MessageRequest, text_tokens: int, thinking_tokens: int) -> Generation:
    """The simulated answer to ``request`` with ``text_tokens`` of prose (JSON output sizes itself)."""
    seed = request_seed(request)
    blocks: list[OutBlock] = []
    thinking_used = 0
    if request.thinking is not None:
        thinking = _thinking_block(request, thinking_tokens, seed)
        blocks.append(thinking)
        thinking_used = thinking.tokens
    choice = (request.tool_choice or {}).get("type", "auto")
    tool = _client_tool_to_call(request, choice)
    if tool is not None and choice in ("any", "tool"):
        blocks.append(_tool_use_block(tool, seed))
        return _finish(request, blocks, "tool_use", None, thinking_used, 0)
    searches = 0
    search = web_search_tool(request.tools) if choice != "none" else None
    if search is not None:
        blocks.extend(_web_search_blocks(request))
        searches = 1
    if tool is not None:
        blocks.append(_text_block(split_pieces(f"I'll use the {tool['name']} tool to help with this.")))
        blocks.append(_tool_use_block(tool, seed))
        return _finish(request, blocks, "tool_use", None, thinking_used, searches)
    remaining = request.max_tokens - sum(b.tokens for b in blocks)
    if remaining <= 0:
        return _finish(request, blocks, "max_tokens", None, thinking_used, searches)
    pieces = _answer_pieces(request, text_tokens, seed)
    emitted, stop_reason, stop_sequence, used = _apply_stops(pieces, remaining, request.stop_sequences)
    blocks.append(OutBlock({"type": "text", "text": "".join(emitted), "citations": None}, tuple(emitted), used))
    return _finish(request, blocks, stop_reason, stop_sequence, thinking_used, searches)


def _finish(request: MessageRequest, blocks: list[OutBlock], stop_reason: str, stop_sequence: str | None,
            thinking: int, searches: int) -> Generation:
    total = sum(b.tokens for b in blocks)
    if total > request.max_tokens:
        total, stop_reason, stop_sequence = request.max_tokens, "max_tokens", None
    return Generation(tuple(blocks), stop_reason, stop_sequence, total, thinking, searches)


def _answer_pieces(request: MessageRequest, text_tokens: int, seed: int) -> list[str]:
    if request.output_schema is not None:
        document = instance(request.output_schema, seed)
        return split_pieces(orjson.dumps(document).decode())
    return lorem_pieces(max(1, text_tokens), seed)


def _apply_stops(pieces: list[str], limit: int, stops: tuple[str, ...]) -> tuple[list[str], str, str | None, int]:
    emitted = pieces[:limit]
    text = "".join(emitted)
    found = [(text.find(stop), order, stop) for order, stop in enumerate(stops) if stop and stop in text]
    if found:
        position, _, stop = min(found)
        end = position + len(stop)
        kept: list[str] = []
        offset = 0
        used = 0
        for piece in emitted:
            if offset >= end:
                break
            used += 1
            if offset < position:
                kept.append(piece[: position - offset])
            offset += len(piece)
        return kept, "stop_sequence", stop, used
    reason = "max_tokens" if len(pieces) > limit else "end_turn"
    return emitted, reason, None, len(emitted)


def _text_block(pieces: list[str]) -> OutBlock:
    return OutBlock({"type": "text", "text": "".join(pieces), "citations": None}, tuple(pieces), len(pieces))


def _thinking_block(request: MessageRequest, wanted: int, seed: int) -> OutBlock:
    thinking = request.thinking or {}
    cap = thinking.get("budget_tokens", request.max_tokens - 1)
    count = max(1, min(wanted, cap, request.max_tokens - 1))
    pieces = lorem_pieces(count, seed + 1, _THINKING_OPENER)
    text = "".join(pieces)
    digest = hashlib.blake2b(text.encode(), digest_size=64).digest()
    signature = base64.b64encode(b"\x12" + digest * 3).decode()
    if thinking.get("display") == "omitted":
        text, pieces = "", []
    return OutBlock({"type": "thinking", "thinking": text, "signature": signature}, tuple(pieces), count)


def _client_tool_to_call(request: MessageRequest, choice: str) -> dict[str, Any] | None:
    tools = client_tools(request.tools)
    if not tools or choice == "none":
        return None
    if choice == "any":
        return tools[0]
    if choice == "tool":
        name = (request.tool_choice or {}).get("name")
        return next((t for t in tools if t.get("name") == name), None)
    text = last_user_text(request)
    asked = SIM_TOOL.search(text)
    if asked is not None:  # an explicit ``[[sim-tool NAME {input}]]``: that tool, with that input
        tool = next((t for t in tools if t.get("name") == asked.group(1)), None)
        try:
            arguments = orjson.loads(asked.group(2) or "{}")
        except orjson.JSONDecodeError:
            return tool  # a malformed input: made-up arguments, as for any other call
        return None if tool is None else {**tool, SIM_INPUT: arguments}
    text = text.lower()
    return next((t for t in tools if str(t.get("name", "")).lower() in text), None) if text else None


def _tool_use_block(tool: dict[str, Any], seed: int) -> OutBlock:
    arguments = tool[SIM_INPUT] if SIM_INPUT in tool else instance(tool.get("input_schema") or {"type": "object"}, seed)
    pieces = split_pieces(orjson.dumps(arguments).decode())
    block = {"type": "tool_use", "id": new_id("toolu"), "name": tool["name"], "input": arguments}
    return OutBlock(block, tuple(pieces), len(pieces))


def _web_search_blocks(request: MessageRequest) -> list[OutBlock]:
    words = last_user_text(request).split()[:8]
    query = " ".join(words) or "latest news"
    arguments = {"query": query}
    pieces = split_pieces(orjson.dumps(arguments).decode())
    use_id = new_id("srvtoolu")
    use = {"type": "server_tool_use", "id": use_id, "name": "web_search", "input": arguments}
    results = [
        {"type": "web_search_result", "url": f"https://example.com/search/{index}", "title": f"{query} ({index})",
         "encrypted_content": base64.b64encode(hashlib.sha256(f"{query}{index}".encode()).digest()).decode(),
         "page_age": f"{index + 1} days ago"}
        for index in range(3)
    ]
    result = {"type": "web_search_tool_result", "tool_use_id": use_id, "content": results}
    return [OutBlock(use, tuple(pieces), len(pieces)), OutBlock(result, (), 0)]
