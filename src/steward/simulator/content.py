"""What the ``messages`` array may hold: roles, the content block types of each role, and their shape checks.

The vocabularies are the SDK 2.17 request types, GA and beta together, because Claude Code posts to
``/v1/messages?beta=true`` and the simulator must never be stricter than the API: ``BetaContentBlockParam``
for user and assistant turns, ``BetaSystemMessageParam`` for ``role: "system"`` turns and
``ToolResultBlockParam.Content`` inside tool results. tests/simulator/test_sdk_coverage.py derives them from
the installed SDK, so a release that adds a type fails a test. Shape only; nothing here needs the catalog.
"""

from __future__ import annotations

from typing import Any

from steward.errors import InvalidRequestError

ROLES = ("user", "assistant", "system")
MESSAGE_BLOCK_TYPES = (
    "text", "image", "document", "search_result", "thinking", "redacted_thinking", "tool_use", "tool_result",
    "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "advisor_tool_result",
    "code_execution_tool_result", "bash_code_execution_tool_result", "text_editor_code_execution_tool_result",
    "tool_search_tool_result", "mcp_tool_use", "mcp_tool_result", "container_upload", "compaction",
    "tool_addition", "tool_removal", "mcp_tool_listing", "fallback",
)
"""Blocks of a user or assistant turn (``BetaContentBlockParam``; the GA union is a subset)."""
SYSTEM_BLOCK_TYPES = ("text", "tool_addition", "tool_removal")
"""Blocks of a ``role: "system"`` turn: text (GA), plus the tool changes of the beta type."""
TOOL_RESULT_BLOCK_TYPES = ("text", "image", "search_result", "document", "tool_reference", "browser_state")
"""Blocks inside a ``tool_result``'s ``content`` list."""
TURN_FIELDS = frozenset({"role", "content"})
SYSTEM_MESSAGE_FIELDS = frozenset({"role", "content", "clear_at", "output_config"})
CLEAR_AT = ("next_user_message", "never")
EFFORTS = ("low", "medium", "high", "xhigh", "max")


def _fail(message: str) -> InvalidRequestError:
    return InvalidRequestError(message)


def _tag_error(where: str, tag: Any, discriminator: str, expected: tuple[str, ...]) -> InvalidRequestError:
    # The wording of pydantic's discriminated-union error, which is what the API answers.
    tags = ", ".join(f"'{name}'" for name in expected)
    return _fail(f"{where}: Input tag '{tag}' found using '{discriminator}' does not match any of the "
                 f"expected tags: {tags}")


def check_messages(messages: Any, prefix: str) -> None:
    """Raise a 400 unless ``messages`` is a non-empty list of well-formed user, assistant and system turns."""
    if not isinstance(messages, list):
        raise _fail(f"{prefix}messages: Input should be a valid list")
    if not messages:
        raise _fail(f"{prefix}messages: at least one message is required")
    last = len(messages) - 1
    for index, message in enumerate(messages):
        where = f"{prefix}messages.{index}"
        if not isinstance(message, dict):
            raise _fail(f"{where}: Input should be a valid dictionary")
        if "role" not in message:
            raise _fail(f"{where}.role: Field required")
        role = message["role"]
        if role not in ROLES:
            raise _tag_error(where, role, "role", ROLES)
        if role == "system":
            _check_system_message(message, where)
            continue
        for name in message:
            if name not in TURN_FIELDS:
                raise _fail(f"{where}.{name}: Extra inputs are not permitted")
        if "content" not in message:
            raise _fail(f"{where}.content: Field required")
        content = message["content"]
        _check_content(content, f"{where}.content", MESSAGE_BLOCK_TYPES)
        if not content and not (index == last and role == "assistant"):
            raise _fail(f"{where}: all messages must have non-empty content except for the optional "
                        "final assistant message")


def _check_system_message(message: dict[str, Any], where: str) -> None:
    for name in message:
        if name not in SYSTEM_MESSAGE_FIELDS:
            raise _fail(f"{where}.{name}: Extra inputs are not permitted")
    clear_at = message.get("clear_at")
    if clear_at is not None and clear_at not in CLEAR_AT:
        raise _fail(f"{where}.clear_at: Input should be 'next_user_message' or 'never'")
    configured = _check_turn_output_config(message.get("output_config"), f"{where}.output_config")
    content = message.get("content")
    if content is not None:
        _check_content(content, f"{where}.content", SYSTEM_BLOCK_TYPES)
    if not content and not configured:
        raise _fail(f"{where}: a system message must have non-empty content or output_config")


def _check_turn_output_config(config: Any, where: str) -> bool:
    """Check a system turn's ``output_config``; whether it sets anything."""
    if config is None:
        return False
    if not isinstance(config, dict):
        raise _fail(f"{where}: Input should be a valid dictionary")
    for name in config:
        if name != "effort":
            raise _fail(f"{where}.{name}: Extra inputs are not permitted")
    effort = config.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise _fail(f"{where}.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
    return effort is not None


def _check_content(content: Any, where: str, kinds: tuple[str, ...]) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(f"{where}: Input should be a valid string or a list of content blocks")
    for index, block in enumerate(content):
        _check_block(block, f"{where}.{index}", kinds)


def _check_block(block: Any, where: str, kinds: tuple[str, ...]) -> None:
    if not isinstance(block, dict):
        raise _fail(f"{where}: Input should be a valid dictionary")
    kind = block.get("type")
    if not isinstance(kind, str):
        raise _fail(f"{where}.type: Field required")
    if kind not in kinds:
        raise _tag_error(where, kind, "type", kinds)
    if kind == "text" and not isinstance(block.get("text"), str):
        raise _fail(f"{where}.text.text: Field required")
    if kind == "text" and not block["text"]:
        raise _fail(f"{where.partition('.content')[0]}: text content blocks must be non-empty")
    if kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise _fail(f"{where}.tool_result.tool_use_id: Field required")
        inner = block.get("content")
        if inner is not None:
            _check_content(inner, f"{where}.tool_result.content", TOOL_RESULT_BLOCK_TYPES)
    if kind == "tool_use" and not isinstance(block.get("input"), dict):
        raise _fail(f"{where}.tool_use.input: Input should be a valid dictionary")


def system_turn_efforts(messages: list[dict[str, Any]]) -> list[str]:
    """The ``output_config.effort`` values set by system turns (checked against the model like the top level)."""
    efforts: list[str] = []
    for message in messages:
        config = message.get("output_config") if message.get("role") == "system" else None
        if isinstance(config, dict) and config.get("effort") is not None:
            efforts.append(str(config["effort"]))
    return efforts


def cleared_system_turns(messages: list[dict[str, Any]]) -> set[int]:
    """Indexes of system turns with ``clear_at: "next_user_message"`` that a later user turn hides."""
    hidden: set[int] = set()
    user_after = False
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        role = message.get("role")
        if role == "user":
            user_after = True
        elif role == "system" and user_after and message.get("clear_at") == "next_user_message":
            hidden.add(index)
    return hidden


def last_turn_index(messages: list[dict[str, Any]]) -> int:
    """Index of the last user or assistant turn (system turns that follow it steer the answer to it)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") != "system":
            return index
    return len(messages) - 1
