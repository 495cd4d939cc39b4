"""Usage as the Anthropic API reports it, read from a JSON Message or from the SSE events of a stream.

Owns turning the API's ``usage`` objects into a typed ``Usage`` and following a stream's cumulative counts.
It must not price anything (``pricing.py``) and must never raise on odd input: a field with the wrong type
counts as absent (zero), because the meter runs on every response, including broken ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MeteredResponse", "StreamMeter", "Usage", "meter_message", "usage_from_dict"]

_TOOL_BLOCK_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


@dataclass(slots=True, frozen=True)
class Usage:
    """Token and request counts of one response. ``output_tokens`` already includes thinking."""

    input_tokens: int = 0  # uncached input
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    output_tokens: int = 0  # includes thinking
    thinking_tokens: int = 0  # breakdown of output_tokens, never billed on its own
    web_search_requests: int = 0
    web_fetch_requests: int = 0
    code_execution_requests: int = 0
    service_tier: str | None = None
    inference_geo: str | None = None
    speed: str | None = None  # "fast" mode; reported, not yet priced

    @property
    def prompt_tokens(self) -> int:
        """Input plus cache writes plus cache reads: the size that selects a price band."""
        return self.input_tokens + self.cache_write_5m + self.cache_write_1h + self.cache_read


@dataclass(slots=True, frozen=True)
class MeteredResponse:
    """What the meter learned from one response: who served it, why it stopped, what it used."""

    usage: Usage
    model: str | None
    message_id: str | None
    stop_reason: str | None
    tools_used: tuple[str, ...]
    complete: bool


def usage_from_dict(usage: Mapping[str, Any]) -> Usage:
    """Read a Message's ``usage`` object (JSON responses, batch results, merged stream usage).

    The cache-write split prefers ``cache_creation.ephemeral_5m/1h_input_tokens``. Any part of
    ``cache_creation_input_tokens`` the breakdown does not cover (all of it when there is no breakdown) is
    counted as a 5-minute write, so no written token goes unbilled.
    """
    if not isinstance(usage, Mapping):
        return Usage()
    write_5m = write_1h = 0
    breakdown = usage.get("cache_creation")
    if isinstance(breakdown, Mapping):
        write_5m = _count(breakdown.get("ephemeral_5m_input_tokens"))
        write_1h = _count(breakdown.get("ephemeral_1h_input_tokens"))
    uncovered = _count(usage.get("cache_creation_input_tokens")) - write_5m - write_1h
    if uncovered > 0:
        write_5m += uncovered
    details = _mapping(usage.get("output_tokens_details"))
    tools = _mapping(usage.get("server_tool_use"))
    return Usage(
        input_tokens=_count(usage.get("input_tokens")),
        cache_write_5m=write_5m,
        cache_write_1h=write_1h,
        cache_read=_count(usage.get("cache_read_input_tokens")),
        output_tokens=_count(usage.get("output_tokens")),
        thinking_tokens=_count(details.get("thinking_tokens")),
        web_search_requests=_count(tools.get("web_search_requests")),
        web_fetch_requests=_count(tools.get("web_fetch_requests")),
        code_execution_requests=_count(tools.get("code_execution_requests")),
        service_tier=_text(usage.get("service_tier")),
        inference_geo=_text(usage.get("inference_geo")),
        speed=_text(usage.get("speed")),
    )


def meter_message(message: Mapping[str, Any]) -> MeteredResponse:
    """The same as a finished ``StreamMeter``, from a whole JSON Message."""
    if not isinstance(message, Mapping):
        return MeteredResponse(Usage(), None, None, None, (), complete=False)
    tools: list[str] = []
    content = message.get("content")
    if isinstance(content, list):
        for block in content:
            _collect_tool(block, tools)
    return MeteredResponse(
        usage=usage_from_dict(_mapping(message.get("usage"))),
        model=_text(message.get("model")),
        message_id=_text(message.get("id")),
        stop_reason=_text(message.get("stop_reason")),
        tools_used=tuple(tools),
        complete=True,
    )


class StreamMeter:
    """Follows one SSE stream. Fed the parsed ``data`` of events in order; cheap, never raises.

    ``message_delta`` usage is cumulative: each field keeps the last value seen and is never summed. Fields it
    carries (the real API repeats the input and cache counts there) override those of ``message_start``.
    A stream cut before ``message_delta`` still yields the ``message_start`` usage, with ``complete=False``.
    """

    __slots__ = ("_complete", "_message_id", "_model", "_stop_reason", "_tools", "_usage")

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self._model: str | None = None
        self._message_id: str | None = None
        self._stop_reason: str | None = None
        self._tools: list[str] = []
        self._complete = False

    def feed(self, event: Mapping[str, Any]) -> None:
        """Dispatch any event by its ``type``; events the meter does not need are ignored."""
        kind = event.get("type") if isinstance(event, Mapping) else None
        if kind == "message_start":
            self.on_message_start(event)
        elif kind == "content_block_start":
            self.on_content_block_start(event)
        elif kind == "message_delta":
            self.on_message_delta(event)
        elif kind == "message_stop":
            self.on_message_stop(event)

    def on_message_start(self, event: Mapping[str, Any]) -> None:
        message = _mapping(event.get("message")) if isinstance(event, Mapping) else {}
        self._model = _text(message.get("model")) or self._model
        self._message_id = _text(message.get("id")) or self._message_id
        self._merge(message.get("usage"))

    def on_content_block_start(self, event: Mapping[str, Any]) -> None:
        if isinstance(event, Mapping):
            _collect_tool(event.get("content_block"), self._tools)

    def on_message_delta(self, event: Mapping[str, Any]) -> None:
        if not isinstance(event, Mapping):
            return
        stop_reason = _text(_mapping(event.get("delta")).get("stop_reason"))
        if stop_reason is not None:
            self._stop_reason = stop_reason
        self._merge(event.get("usage"))

    def on_message_stop(self, event: Mapping[str, Any] | None = None) -> None:
        self._complete = True

    def result(self) -> MeteredResponse:
        """What has been seen so far; callable at any point, including after a cut stream."""
        return MeteredResponse(
            usage=usage_from_dict(self._usage),
            model=self._model,
            message_id=self._message_id,
            stop_reason=self._stop_reason,
            tools_used=tuple(self._tools),
            complete=self._complete,
        )

    def _merge(self, usage: Any) -> None:
        # Last value wins per field; a nested object (cache_creation, server_tool_use) is replaced whole,
        # which is right because its counts are cumulative too. Nulls do not erase a known value.
        if isinstance(usage, Mapping):
            for key, value in usage.items():
                if value is not None:
                    self._usage[key] = value


def _collect_tool(block: Any, tools: list[str]) -> None:
    if isinstance(block, Mapping) and _text(block.get("type")) in _TOOL_BLOCK_TYPES:
        name = _text(block.get("name"))
        if name is not None and name not in tools:
            tools.append(name)


def _count(value: Any) -> int:
    # bool is a subclass of int; a JSON true is not a token count.
    return value if type(value) is int and value > 0 else 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
