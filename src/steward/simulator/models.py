"""The simulated model catalog: ids, aliases, limits, lifecycle and capabilities (checked 2026-11-29).

It owns what ``/v1/models`` lists and which names ``/v1/messages`` accepts; it holds no prices
(billing is the gateway's business) and never changes at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, frozen=True)
class ModelSpec:
    """One model as the simulator serves it."""

    id: str
    display_name: str
    created_at: str
    line: str
    max_input_tokens: int = 1_000_000
    max_tokens: int = 128_000
    aliases: tuple[str, ...] = ()
    lifecycle: str = "active"
    deprecated_at: str | None = None
    retires_at: str | None = None
    thinking_enabled: bool = False
    """Accepts ``thinking: {type: "enabled", budget_tokens}`` (4.6 and earlier)."""
    thinking_adaptive: bool = True
    """Accepts ``thinking: {type: "adaptive"}`` (4.6 and later)."""
    prefill: bool = False
    """Accepts a conversation ending with an assistant turn (4.5 and earlier)."""
    effort: bool = True
    xhigh_effort: bool = True


def _legacy(model_id: str, alias: str, name: str, created: str, **kw: Any) -> ModelSpec:
    return ModelSpec(model_id, name, created, kw.pop("line"), max_input_tokens=200_000, max_tokens=64_000,
                     aliases=(alias,), thinking_enabled=True, thinking_adaptive=False, prefill=True,
                     xhigh_effort=False, **kw)


CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec("claude-fable-5-2", "Claude Fable 5.2", "2026-11-10T00:00:00Z", "fable"),
    ModelSpec("claude-mythos-5-2", "Claude Mythos 5.2", "2026-11-10T00:00:00Z", "mythos"),
    ModelSpec("claude-haiku-5-5", "Claude Haiku 5.5", "2026-10-20T00:00:00Z", "haiku", max_tokens=64_000),
    ModelSpec("claude-sonnet-5-5", "Claude Sonnet 5.5", "2026-10-06T00:00:00Z", "sonnet"),
    ModelSpec("claude-fable-5-1", "Claude Fable 5.1", "2026-09-15T00:00:00Z", "fable"),
    ModelSpec("claude-opus-5-5", "Claude Opus 5.5", "2026-09-01T00:00:00Z", "opus"),
    ModelSpec("claude-mythos-5-1", "Claude Mythos 5.1", "2026-08-18T00:00:00Z", "mythos"),
    ModelSpec("claude-sonnet-5", "Claude Sonnet 5", "2026-07-21T00:00:00Z", "sonnet"),
    ModelSpec("claude-fable-5", "Claude Fable 5", "2026-06-23T00:00:00Z", "fable"),
    ModelSpec("claude-mythos-5", "Claude Mythos 5", "2026-06-23T00:00:00Z", "mythos"),
    ModelSpec("claude-opus-5", "Claude Opus 5", "2026-06-02T00:00:00Z", "opus"),
    ModelSpec("claude-opus-4-8", "Claude Opus 4.8", "2026-05-12T00:00:00Z", "opus"),
    ModelSpec("claude-opus-4-7", "Claude Opus 4.7", "2026-04-16T00:00:00Z", "opus"),
    ModelSpec("claude-mythos-preview", "Claude Mythos Preview", "2026-04-07T00:00:00Z", "mythos",
              lifecycle="retired", deprecated_at="2026-05-12T00:00:00Z", retires_at="2026-06-30T00:00:00Z"),
    ModelSpec("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17T00:00:00Z", "sonnet", max_tokens=64_000,
              thinking_enabled=True, xhigh_effort=False),
    ModelSpec("claude-opus-4-6", "Claude Opus 4.6", "2026-02-05T00:00:00Z", "opus",
              thinking_enabled=True, xhigh_effort=False),
    _legacy("claude-opus-4-5-20251101", "claude-opus-4-5", "Claude Opus 4.5", "2025-11-24T00:00:00Z",
            line="opus", lifecycle="deprecated", deprecated_at="2026-07-22T00:00:00Z",
            retires_at="2027-01-22T00:00:00Z"),
    _legacy("claude-haiku-4-5-20251001", "claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-15T00:00:00Z",
            line="haiku", effort=False),
    _legacy("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z",
            line="sonnet", effort=False, lifecycle="deprecated", deprecated_at="2026-05-29T00:00:00Z",
            retires_at="2026-11-30T00:00:00Z"),
)


def _supported(flag: bool) -> dict[str, bool]:
    return {"supported": flag}


def capabilities(spec: ModelSpec) -> dict[str, Any]:
    """The ``capabilities`` object of ``ModelInfo`` derived from the spec's flags."""
    yes = _supported(True)
    thinking_types = {"adaptive": _supported(spec.thinking_adaptive), "between_tools": _supported(False),
                      "disabled": yes, "enabled": _supported(spec.thinking_enabled)}
    effort: dict[str, Any] = {level: _supported(spec.effort) for level in ("low", "medium", "high", "max")}
    effort["supported"] = spec.effort
    effort["xhigh"] = _supported(spec.xhigh_effort)
    return {
        "batch": yes, "citations": yes, "code_execution": yes, "image_input": yes, "pdf_input": yes,
        "structured_outputs": yes,
        "context_management": {"supported": True, "clear_thinking_20251015": yes,
                               "clear_tool_uses_20250919": yes, "compact_20260112": _supported(False)},
        "effort": effort,
        "server_tools": {"supported": True, "code_execution": yes, "web_search": yes},
        "thinking": {"supported": True, "types": thinking_types},
    }


def model_info(spec: ModelSpec) -> dict[str, Any]:
    """The ``ModelInfo`` JSON object for one model."""
    return {
        "type": "model", "id": spec.id, "display_name": spec.display_name, "created_at": spec.created_at,
        "max_input_tokens": spec.max_input_tokens, "max_tokens": spec.max_tokens, "line": spec.line,
        "lifecycle": spec.lifecycle, "deprecated_at": spec.deprecated_at, "retires_at": spec.retires_at,
        "capabilities": capabilities(spec),
    }


def extra_spec(model_id: str) -> ModelSpec:
    """A current-generation model for an id given in ``SimulatorConfig.extra_models`` (``claude-opus-6``: line
    ``opus``, "Claude Opus 6", released 2026-12-01)."""
    words = model_id.split("-")
    line = words[1] if len(words) > 1 and words[0] == "claude" else words[0]
    name = " ".join([w.title() for w in words[:2]] + [".".join(words[2:])]).strip()
    return ModelSpec(model_id, name, "2026-12-01T00:00:00Z", line)


class ModelCatalog:
    """Name resolution and listing over an immutable set of models (newest first)."""

    __slots__ = ("_by_name", "_infos", "specs")

    def __init__(self, specs: tuple[ModelSpec, ...] = CATALOG, extra: tuple[str, ...] = ()) -> None:
        specs = specs + tuple(extra_spec(model_id) for model_id in extra)
        self.specs = tuple(sorted(specs, key=lambda s: s.created_at, reverse=True))
        self._by_name: dict[str, ModelSpec] = {}
        for spec in self.specs:
            self._by_name[spec.id] = spec
            for alias in spec.aliases:
                self._by_name[alias] = spec
        self._infos = {spec.id: model_info(spec) for spec in self.specs}

    def resolve(self, name: str) -> ModelSpec | None:
        """The model an id or alias names, or None when unknown."""
        return self._by_name.get(name)

    def servable(self, name: str) -> ModelSpec | None:
        """The model a Messages request may use: known and not retired."""
        spec = self._by_name.get(name)
        if spec is None or spec.lifecycle == "retired":
            return None
        return spec

    def info(self, spec: ModelSpec) -> dict[str, Any]:
        """The precomputed ``ModelInfo`` object (do not mutate)."""
        return self._infos[spec.id]
