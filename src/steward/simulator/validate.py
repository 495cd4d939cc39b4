"""Structural validation of Messages request bodies, with the real API's pydantic-style messages.

It owns field presence, types and ranges (``"max_tokens: Field required"``); rules that need the
model catalog live in ``request.py``. Every error raised here is a 400 ``invalid_request_error``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from steward.errors import InvalidRequestError
from steward.simulator.content import EFFORTS, check_messages

MESSAGE_FIELDS = frozenset({
    "model", "max_tokens", "messages", "system", "tools", "tool_choice", "thinking", "stream", "metadata",
    "temperature", "top_p", "top_k", "stop_sequences", "service_tier", "output_config", "output_format",
    "cache_control", "inference_geo", "container", "context_management", "mcp_servers", "speed",
    "fallbacks", "diagnostics", "billing_policy", "compaction", "fallback_credit_token", "thread",
})
"""Body fields of ``MessageCreateParams``, GA and beta (test_sdk_coverage.py checks them against the SDK).
``temperature``, ``top_p``, ``top_k`` and ``output_format`` left the SDK's types in 2.x but older clients
still send them, so they stay accepted."""
COUNT_FIELDS = frozenset({
    "model", "messages", "system", "tools", "tool_choice", "thinking", "cache_control", "output_config",
    "output_format", "speed", "context_management", "mcp_servers", "container", "billing_policy", "compaction",
})
"""Body fields of ``MessageCountTokensParams``, GA and beta."""
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TOOL_CHOICES = ("auto", "any", "tool", "none")


def _fail(message: str) -> InvalidRequestError:
    return InvalidRequestError(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``; anything else is a 400."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _fail(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _fail("The request body must be a JSON object.")
    return body


def check_message_body(body: dict[str, Any], prefix: str = "", *, count_tokens: bool = False) -> None:
    """Raise a 400 unless ``body`` is a well-formed Messages (or count_tokens) request."""
    allowed = COUNT_FIELDS if count_tokens else MESSAGE_FIELDS
    for name in body:
        if name not in allowed:
            raise _fail(f"{prefix}{name}: Extra inputs are not permitted")
    required = ("model", "messages") if count_tokens else ("model", "max_tokens", "messages")
    for name in required:
        if name not in body:
            raise _fail(f"{prefix}{name}: Field required")
    if not isinstance(body["model"], str):
        raise _fail(f"{prefix}model: Input should be a valid string")
    if not count_tokens:
        _check_max_tokens(body["max_tokens"], prefix)
        if "stream" in body and not isinstance(body["stream"], bool):
            raise _fail(f"{prefix}stream: Input should be a valid boolean")
        _check_scalars(body, prefix)
    check_messages(body["messages"], prefix)
    _check_system(body.get("system"), prefix)
    _check_tools(body.get("tools"), prefix)
    _check_tool_choice(body.get("tool_choice"), prefix)
    _check_thinking(body.get("thinking"), prefix)
    _check_output(body, prefix)


def _check_max_tokens(value: Any, prefix: str) -> None:
    if not _is_int(value):
        raise _fail(f"{prefix}max_tokens: Input should be a valid integer")
    if value < 1:
        raise _fail(f"{prefix}max_tokens: Input should be greater than or equal to 1")


def _check_scalars(body: dict[str, Any], prefix: str) -> None:
    _check_stops(body.get("stop_sequences"), prefix)
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise _fail(f"{prefix}{name}: Input should be a valid number")
        if value is not None and not 0 <= value <= 1:
            raise _fail(f"{prefix}{name}: Input should be less than or equal to 1")
    tier = body.get("service_tier")
    if tier is not None and tier not in ("auto", "standard_only"):
        raise _fail(f"{prefix}service_tier: Input should be 'auto' or 'standard_only'")
    _check_metadata(body.get("metadata"), prefix)
    geo = body.get("inference_geo")
    if geo is not None and not isinstance(geo, str):
        raise _fail(f"{prefix}inference_geo: Input should be a valid string")


def _check_stops(stops: Any, prefix: str) -> None:
    if stops is None:
        return
    if not isinstance(stops, list):
        raise _fail(f"{prefix}stop_sequences: Input should be a valid list")
    for index, stop in enumerate(stops):
        if not isinstance(stop, str):
            raise _fail(f"{prefix}stop_sequences.{index}: Input should be a valid string")


def _check_metadata(metadata: Any, prefix: str) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise _fail(f"{prefix}metadata: Input should be a valid dictionary")
    user_id = metadata.get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > 256):
        raise _fail(f"{prefix}metadata.user_id: String should have at most 256 characters")


def _check_system(system: Any, prefix: str) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _fail(f"{prefix}system: Input should be a valid string or a list of text blocks")
    for index, block in enumerate(system):
        where = f"{prefix}system.{index}"
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _fail(f"{where}.type: Input should be 'text'")
        if not isinstance(block.get("text"), str):
            raise _fail(f"{where}.text: Field required")


def _check_tools(tools: Any, prefix: str) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _fail(f"{prefix}tools: Input should be a valid list")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        where = f"{prefix}tools.{index}"
        if not isinstance(tool, dict):
            raise _fail(f"{where}: Input should be a valid dictionary")
        name = tool.get("name")
        if is_custom_tool(tool):
            _check_custom_tool(tool, f"{where}.custom")
        elif not isinstance(tool.get("type"), str) or not isinstance(name, str):
            raise _fail(f"{where}.name: Field required")
        if name in names:
            raise _fail(f"{prefix}tools: Tool names must be unique.")
        names.add(str(name))


def is_custom_tool(tool: dict[str, Any]) -> bool:
    """A client tool (with an ``input_schema``), as opposed to a typed server tool."""
    return tool.get("type") in (None, "custom")


def _check_custom_tool(tool: dict[str, Any], where: str) -> None:
    name = tool.get("name")
    if not isinstance(name, str):
        raise _fail(f"{where}.name: Field required")
    if not TOOL_NAME.match(name):
        raise _fail(f"{where}.name: String should match pattern '{TOOL_NAME.pattern}'")
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        raise _fail(f"{where}.input_schema: Field required")
    if schema.get("type") != "object":
        raise _fail(f"{where}.input_schema.type: Input should be 'object'")


def _check_tool_choice(choice: Any, prefix: str) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in TOOL_CHOICES:
        raise _fail(f"{prefix}tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if choice["type"] == "tool" and not isinstance(choice.get("name"), str):
        raise _fail(f"{prefix}tool_choice.tool.name: Field required")


def _check_thinking(thinking: Any, prefix: str) -> None:
    if thinking is None:
        return
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive", "disabled"):
        raise _fail(f"{prefix}thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'")
    if thinking["type"] != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if budget is None:
        raise _fail(f"{prefix}thinking.enabled.budget_tokens: Field required")
    if not _is_int(budget):
        raise _fail(f"{prefix}thinking.enabled.budget_tokens: Input should be a valid integer")
    if budget < 1024:
        raise _fail(f"{prefix}thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")


def _check_output(body: dict[str, Any], prefix: str) -> None:
    config = body.get("output_config")
    if config is not None:
        if not isinstance(config, dict):
            raise _fail(f"{prefix}output_config: Input should be a valid dictionary")
        effort = config.get("effort")
        if effort is not None and effort not in EFFORTS:
            raise _fail(f"{prefix}output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' "
                        "or 'max'")
        _check_format(config.get("format"), f"{prefix}output_config.format")
    _check_format(body.get("output_format"), f"{prefix}output_format")


def _check_format(fmt: Any, where: str) -> None:
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise _fail(f"{where}.type: Input should be 'json_schema'")
    if not isinstance(fmt.get("schema"), dict):
        raise _fail(f"{where}.schema: Field required")


def output_schema(body: dict[str, Any]) -> Any:
    """The JSON schema a structured-output request asks for, or None."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        fmt = body.get("output_format")
    return fmt.get("schema") if isinstance(fmt, dict) else None
