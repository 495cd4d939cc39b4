"""A validated Messages request: the rules that need the model catalog, and the resolved value.

It owns model resolution (404 ``model: <id>``), per-model limits (max_tokens, thinking types,
prefill, effort, also per system turn) and tool_choice consistency. Shape checks are ``validate.py``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steward.errors import InvalidRequestError, NotFoundError
from steward.simulator.content import system_turn_efforts
from steward.simulator.models import ModelCatalog, ModelSpec
from steward.simulator.validate import output_schema

THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"


@dataclass(slots=True, frozen=True)
class MessageRequest:
    """Everything generation needs, resolved once."""

    body: dict[str, Any]
    model_name: str
    model: ModelSpec
    max_tokens: int
    stream: bool
    tools: tuple[dict[str, Any], ...]
    tool_choice: dict[str, Any] | None
    thinking: dict[str, Any] | None
    stop_sequences: tuple[str, ...]
    output_schema: Any
    inference_geo: str


def resolve_model(catalog: ModelCatalog, name: str) -> ModelSpec:
    """The servable model named ``name`` (id or alias); 404 ``not_found_error`` otherwise."""
    spec = catalog.servable(name)
    if spec is None:
        raise NotFoundError(f"model: {name}")
    return spec


def resolve_request(body: dict[str, Any], catalog: ModelCatalog) -> MessageRequest:
    """Apply the model-dependent rules to a structurally valid body."""
    model = resolve_model(catalog, body["model"])
    max_tokens: int = body["max_tokens"]
    if max_tokens > model.max_tokens:
        raise InvalidRequestError(
            f"max_tokens: {max_tokens} > {model.max_tokens}, which is the maximum allowed number of output "
            f"tokens for {model.id}")
    thinking = _thinking(body.get("thinking"), model, max_tokens)
    tools = tuple(body.get("tools") or ())
    choice = _tool_choice(body.get("tool_choice"), tools, thinking)
    _check_conversation(body, model)
    geo = body.get("inference_geo")
    return MessageRequest(
        body=body, model_name=body["model"], model=model, max_tokens=max_tokens,
        stream=bool(body.get("stream", False)), tools=tools, tool_choice=choice, thinking=thinking,
        stop_sequences=tuple(body.get("stop_sequences") or ()), output_schema=output_schema(body),
        inference_geo=geo if isinstance(geo, str) and geo else "global")


def _thinking(thinking: dict[str, Any] | None, model: ModelSpec, max_tokens: int) -> dict[str, Any] | None:
    if thinking is None or thinking["type"] == "disabled":
        return None
    if thinking["type"] == "enabled":
        if not model.thinking_enabled:
            raise InvalidRequestError(
                "thinking.type.enabled is not supported for this model. Use thinking.type.adaptive and "
                "output_config.effort to control thinking behavior.")
        if thinking["budget_tokens"] >= max_tokens:
            raise InvalidRequestError(
                f"`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                f"documentation at {THINKING_DOCS}")
    elif not model.thinking_adaptive:
        raise InvalidRequestError("thinking.type.adaptive is not supported for this model. Use "
                                  "thinking.type.enabled with budget_tokens instead.")
    return thinking


def _tool_choice(choice: dict[str, Any] | None, tools: tuple[dict[str, Any], ...],
                 thinking: dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    forced = choice["type"] in ("any", "tool")
    if forced and not tools:
        raise InvalidRequestError("tool_choice may only be specified while providing tools.")
    if choice["type"] == "tool" and not any(t.get("name") == choice["name"] for t in tools):
        raise InvalidRequestError(f"tool_choice.name: Tool '{choice['name']}' not found in tools")
    if forced and thinking is not None:
        raise InvalidRequestError("Thinking may not be enabled when tool_choice forces tool use.")
    return choice


def _check_conversation(body: dict[str, Any], model: ModelSpec) -> None:
    # Only a final assistant turn is a prefill: a conversation ending with a system turn (as Claude
    # Code's do) asks for a new assistant turn, whatever came before it.
    if body["messages"][-1]["role"] == "assistant" and not model.prefill:
        raise InvalidRequestError("This model does not support assistant message prefill. The conversation "
                                  "must end with a user message.")
    config = body.get("output_config")
    efforts = system_turn_efforts(body["messages"])
    if isinstance(config, dict) and config.get("effort") is not None:
        efforts.insert(0, str(config["effort"]))
    for effort in efforts:
        if not model.effort or (effort == "xhigh" and not model.xhigh_effort):
            raise InvalidRequestError(f"output_config.effort: '{effort}' is not supported by {model.id}")


SERVER_TOOL_PREFIXES = ("web_search_", "web_fetch_", "code_execution_", "tool_search_tool_")


def is_server_tool(tool: dict[str, Any]) -> bool:
    """A tool Anthropic runs (web search, web fetch, code execution, tool search)."""
    return str(tool.get("type", "")).startswith(SERVER_TOOL_PREFIXES)


def client_tools(tools: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """The tools the client runs: custom tools and Anthropic-defined client tools (bash, editor...)."""
    return [tool for tool in tools if not is_server_tool(tool)]


def web_search_tool(tools: tuple[dict[str, Any], ...]) -> dict[str, Any] | None:
    """The first web search server tool, if the request offers one."""
    for tool in tools:
        if str(tool.get("type", "")).startswith("web_search_"):
            return tool
    return None


def has_server_tools(tools: tuple[dict[str, Any], ...]) -> bool:
    """Whether any server tool is offered (then ``usage.server_tool_use`` is reported)."""
    return any(is_server_tool(tool) for tool in tools)
