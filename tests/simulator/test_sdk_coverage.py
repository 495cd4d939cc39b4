"""The simulator accepts every field, role and content block type the installed SDK's request types allow.

The lists are read from the SDK (GA and beta types, since Claude Code posts to ``?beta=true``), so the next
release that adds one fails here rather than in the hands of users; unknown ones get the API's 400.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import typing
from collections.abc import Callable
from typing import Any

import anthropic
import pydantic
import pytest
from anthropic.resources.beta.messages import Messages as BetaMessages
from anthropic.resources.messages import Messages
from anthropic.types import (
    assistant_message_param,
    content_block_param,
    message_count_tokens_params,
    message_create_params,
    message_param,
    system_message_param,
    tool_result_block_param,
    user_message_param,
)
from anthropic.types.beta import (
    beta_assistant_message_param,
    beta_content_block_param,
    beta_message_param,
    beta_system_message_param,
    beta_tool_result_block_param,
    beta_user_message_param,
)
from anthropic.types.beta import message_count_tokens_params as beta_count_params
from anthropic.types.beta import message_create_params as beta_create_params

from steward.simulator.content import (
    MESSAGE_BLOCK_TYPES,
    ROLES,
    SYSTEM_BLOCK_TYPES,
    SYSTEM_MESSAGE_FIELDS,
    TOOL_RESULT_BLOCK_TYPES,
    TURN_FIELDS,
)
from steward.simulator.validate import COUNT_FIELDS, MESSAGE_FIELDS


def declared(typed: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(typed.__mro__):
        merged.update(getattr(klass, "__annotations__", {}))
    return merged


def literals(annotation: Any) -> set[str]:
    """The string literals of an annotation (the SDK's are forward references: ``Required[Literal['text']]``)."""
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        return set(re.findall(r"""['"]([\w-]+)['"]""", annotation))
    found = {arg for arg in typing.get_args(annotation) if isinstance(arg, str)}
    for arg in typing.get_args(annotation):
        if not isinstance(arg, str):
            found |= literals(arg)
    return found


def tags(union: Any, field: str = "type") -> set[str]:
    """Every value of the discriminator ``field`` across a union of TypedDicts and models, recursively."""
    if typing.get_origin(union) is not None:
        return set().union(*(tags(arg, field) for arg in typing.get_args(union)))
    if isinstance(union, type) and issubclass(union, pydantic.BaseModel):
        info = union.model_fields.get(field)
        return literals(info.annotation) if info is not None else set()
    if isinstance(union, type):
        annotation = declared(union).get(field)
        return literals(annotation) if annotation is not None else set()
    return set()


def body_keys(method: Callable[..., Any]) -> set[str]:
    """The keys of the ``body={...}`` the SDK method posts (its other parameters travel as headers)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "body":
            for literal in ast.walk(node.value):
                if isinstance(literal, ast.Dict):
                    keys |= {str(k.value) for k in literal.keys if isinstance(k, ast.Constant)}
    return keys


def header_params(method: Callable[..., Any]) -> set[str]:
    """Parameters the SDK method sends as ``anthropic-*`` headers."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and str(key.value).startswith("anthropic-"):
                    names |= {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
    return names


def sdk_body_fields(params: type, method: Callable[..., Any]) -> set[str]:
    fields = set(declared(params))
    sent = body_keys(method)
    headers = fields - sent
    # Whatever the method does not put in the body must be one of its headers, or this test is blind.
    assert headers <= header_params(method), headers - header_params(method)
    return fields - headers


def test_the_sdk_is_the_one_these_lists_were_built_from() -> None:
    assert anthropic.__version__ >= "2.17"


def test_message_fields_cover_the_sdk() -> None:
    wanted = (sdk_body_fields(message_create_params.MessageCreateParamsBase, Messages.create)
              | sdk_body_fields(beta_create_params.MessageCreateParamsBase, BetaMessages.create) | {"stream"})
    assert wanted - MESSAGE_FIELDS == set()


def test_count_tokens_fields_cover_the_sdk() -> None:
    wanted = (sdk_body_fields(message_count_tokens_params.MessageCountTokensParams, Messages.count_tokens)
              | sdk_body_fields(beta_count_params.MessageCountTokensParams, BetaMessages.count_tokens))
    assert wanted - COUNT_FIELDS == set()


def sdk_message_block_types() -> set[str]:
    return tags(content_block_param.ContentBlockParam) | tags(beta_content_block_param.BetaContentBlockParam)


def test_roles_and_turn_fields_cover_the_sdk() -> None:
    assert tags(message_param.MessageParam, "role") | tags(beta_message_param.BetaMessageParam, "role") == set(ROLES)
    turns: tuple[Any, ...] = (user_message_param.UserMessageParam, assistant_message_param.AssistantMessageParam,
                 beta_user_message_param.BetaUserMessageParam,
                 beta_assistant_message_param.BetaAssistantMessageParam)
    for turn in turns:
        assert set(declared(turn)) <= TURN_FIELDS
    system_turns: tuple[Any, ...] = (system_message_param.SystemMessageParam,
                                     beta_system_message_param.BetaSystemMessageParam)
    for turn in system_turns:
        assert set(declared(turn)) <= SYSTEM_MESSAGE_FIELDS


def test_block_types_cover_the_sdk() -> None:
    assert len(sdk_message_block_types()) > 20  # the extraction itself works
    assert sdk_message_block_types() - set(MESSAGE_BLOCK_TYPES) == set()
    system = set[str]().union(*(
        tags(typing.get_type_hints(turn)["content"])
        for turn in (system_message_param.SystemMessageParam, beta_system_message_param.BetaSystemMessageParam)))
    assert "text" in system and system - set(SYSTEM_BLOCK_TYPES) == set()
    inner = tags(tool_result_block_param.Content) | tags(beta_tool_result_block_param.Content)
    assert inner - set(TOOL_RESULT_BLOCK_TYPES) == set()


REQUIRED_PARTS: dict[str, dict[str, Any]] = {
    "text": {"text": "some text"},
    "tool_use": {"id": "toolu_01", "name": "f", "input": {}},
    "tool_result": {"tool_use_id": "toolu_01", "content": "ok"},
}


@pytest.mark.parametrize("kind", sorted(sdk_message_block_types()))
def test_every_sdk_block_type_is_accepted(client: anthropic.Anthropic, kind: str) -> None:
    block = {"type": kind, **REQUIRED_PARTS.get(kind, {})}
    body = {"model": "claude-opus-5-5", "max_tokens": 20,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, block]}]}
    assert client.post("/v1/messages", body=body, cast_to=object)


@pytest.mark.parametrize("kind", sorted(tags(beta_tool_result_block_param.Content)))
def test_every_sdk_tool_result_block_type_is_accepted(client: anthropic.Anthropic, kind: str) -> None:
    inner = {"type": kind, **REQUIRED_PARTS.get(kind, {})}
    result = {"type": "tool_result", "tool_use_id": "toolu_01", "content": [inner]}
    body = {"model": "claude-opus-5-5", "max_tokens": 20, "messages": [{"role": "user", "content": [result]}]}
    assert client.post("/v1/messages", body=body, cast_to=object)


UNKNOWN: list[tuple[list[dict[str, Any]], str]] = [
    ([{"role": "user", "content": [{"type": "bogus"}]}],
     "messages.0.content.0: Input tag 'bogus' found using 'type' does not match any of the expected tags: "
     "'text', 'image', 'document', "),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [{"type": "bogus"}]}],
     "messages.1.content.0: Input tag 'bogus' found using 'type'"),
    ([{"role": "user", "content": "Hi"}, {"role": "system", "content": [{"type": "bogus"}]}],
     "messages.1.content.0: Input tag 'bogus' found using 'type' does not match any of the expected tags: "
     "'text', 'tool_addition', 'tool_removal'"),
    ([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "tool_use"}]}]}],
     "messages.0.content.0.tool_result.content.0: Input tag 'tool_use' found using 'type' does not match any of "
     "the expected tags: 'text', 'image', 'search_result', 'document', 'tool_reference', 'browser_state'"),
]


@pytest.mark.parametrize(("messages", "message"), UNKNOWN, ids=["user", "assistant", "system", "tool_result"])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_unknown_block_types_are_refused(client: anthropic.Anthropic, messages: list[dict[str, Any]],
                                         message: str, path: str) -> None:
    body: dict[str, Any] = {"model": "claude-opus-5-5", "messages": messages}
    if path == "/v1/messages":
        body["max_tokens"] = 20
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.post(path, body=body, cast_to=object)
    error: Any = caught.value.body
    assert error["error"]["type"] == "invalid_request_error" and error["error"]["message"].startswith(message)
