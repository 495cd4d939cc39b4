"""The Messages engine: validate, count, apply the prompt cache, generate, and shape the ``Message``.

It is shared by ``/v1/messages`` (JSON and streaming), ``count_tokens`` and Message Batches, so
all three agree on tokens and usage. It does no I/O; the HTTP layer lives in ``app.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steward.errors import InvalidRequestError
from steward.ids import new_id
from steward.simulator.cache import CacheUsage, PromptCache
from steward.simulator.config import SimulatorConfig
from steward.simulator.generate import Generation, generate
from steward.simulator.models import ModelCatalog
from steward.simulator.request import MessageRequest, has_server_tools, resolve_model, resolve_request
from steward.simulator.tokens import count_prompt
from steward.simulator.validate import check_message_body, output_schema


@dataclass(slots=True, frozen=True)
class SimOptions:
    """Per-request overrides read from ``x-sim-*`` headers."""

    output_tokens: int | None = None
    thinking_tokens: int | None = None


@dataclass(slots=True, frozen=True)
class Completion:
    """One answered Messages request: what was asked, what was generated, and the input usage."""

    request: MessageRequest
    generation: Generation
    message_id: str
    input_tokens: int
    cache: CacheUsage


def header_int(headers: dict[str, str], name: str) -> int | None:
    """An integer ``x-sim-*`` header, or None when absent; garbage is a 400."""
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        raise InvalidRequestError(f"{name}: expected an integer, got {raw!r}") from None


def sim_options(headers: dict[str, str]) -> SimOptions:
    """The simulation overrides a request carries."""
    return SimOptions(header_int(headers, "x-sim-output-tokens"), header_int(headers, "x-sim-thinking-tokens"))


class MessageEngine:
    """Answers Messages requests against one catalog and one prompt cache."""

    __slots__ = ("_cache", "_catalog", "_config")

    def __init__(self, config: SimulatorConfig, catalog: ModelCatalog, cache: PromptCache) -> None:
        self._config = config
        self._catalog = catalog
        self._cache = cache

    def validate(self, body: dict[str, Any]) -> MessageRequest:
        """Shape and model rules of a Messages body (400/404 on failure)."""
        check_message_body(body)
        return resolve_request(body, self._catalog)

    def resolve(self, body: dict[str, Any]) -> MessageRequest:
        """Model rules only, for a body whose shape was already checked."""
        return resolve_request(body, self._catalog)

    def complete(self, request: MessageRequest, api_key: str | None, options: SimOptions) -> Completion:
        """Count, consult the cache and generate the answer to a validated request."""
        prompt = count_prompt(request.body, request.output_schema)
        if prompt.total > request.model.max_input_tokens:
            raise InvalidRequestError(
                f"prompt is too long: {prompt.total} tokens > {request.model.max_input_tokens} maximum")
        cache = self._cache.apply(f"{request.model.id}\x00{api_key or ''}", prompt)
        text_tokens = options.output_tokens
        if text_tokens is None:
            text_tokens = self._config.default_output_tokens
        thinking_tokens = options.thinking_tokens
        if thinking_tokens is None:
            thinking_tokens = self._config.default_thinking_tokens
        generation = generate(request, text_tokens, thinking_tokens)
        input_tokens = prompt.total - cache.read - cache.created
        return Completion(request, generation, new_id("msg"), input_tokens, cache)

    def count_tokens(self, body: dict[str, Any]) -> int:
        """``input_tokens`` of ``POST /v1/messages/count_tokens`` (cache-agnostic total)."""
        check_message_body(body, count_tokens=True)
        resolve_model(self._catalog, body["model"])
        return count_prompt(body, output_schema(body)).total


def usage(completion: Completion, service_tier: str = "standard") -> dict[str, Any]:
    """The final ``usage`` object of a completion."""
    generation = completion.generation
    server_tools = None
    if has_server_tools(completion.request.tools):
        server_tools = {"web_search_requests": generation.web_search_requests, "web_fetch_requests": 0}
    return {
        "input_tokens": completion.input_tokens,
        "cache_creation_input_tokens": completion.cache.created,
        "cache_read_input_tokens": completion.cache.read,
        "cache_creation": {"ephemeral_5m_input_tokens": completion.cache.created_5m,
                           "ephemeral_1h_input_tokens": completion.cache.created_1h},
        "output_tokens": generation.output_tokens,
        "server_tool_use": server_tools,
        "service_tier": service_tier,
        "inference_geo": completion.request.inference_geo,
        "output_tokens_details": {"thinking_tokens": generation.thinking_tokens},
    }


def message(completion: Completion, service_tier: str = "standard") -> dict[str, Any]:
    """The complete ``Message`` object the JSON path returns."""
    generation = completion.generation
    return {
        "id": completion.message_id,
        "type": "message",
        "role": "assistant",
        "model": completion.request.model_name,
        "content": [block.block for block in generation.blocks],
        "stop_reason": generation.stop_reason,
        "stop_sequence": generation.stop_sequence,
        "stop_details": None,
        "container": None,
        "usage": usage(completion, service_tier),
    }
