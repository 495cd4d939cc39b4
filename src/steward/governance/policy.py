"""Governance policies: validate a document, layer organization -> workspace -> key, evaluate a request.

Pure (no I/O): the snapshot compiles documents once per config version, so a request costs a dict lookup and
``evaluate`` (a few precompiled regex matches and dict reads). The document format, rule names and layering
are described in docs/policies.md. One module over 300 lines on purpose: compile, layering and evaluation share
the rule names and field tables, and splitting them would scatter the one place that defines a rule.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from steward.governance.catalog import Catalog, ModelInfo
from steward.governance.pii import DETECTORS, PiiRules

__all__ = [
    "CompiledPolicy",
    "Compliance",
    "Decision",
    "EffectivePolicy",
    "compile_policy",
    "effective",
    "evaluate",
    "merge_compliance",
    "model_visible",
    "normalize_region",
    "resolve_model",
]

DEPRECATED_ACTIONS = ("allow", "warn", "refuse")
STRUCTURED = ("required", "allowed", "forbidden")
SERVER_TOOLS = frozenset({"web_search", "web_fetch", "code_execution", "tool_search_tool_regex",
                          "tool_search_tool_bm25", "mcp_toolset"})
# Anthropic-defined tools the client executes (their calls come back as tool_use blocks, like custom tools).
CLIENT_DEFINED_TOOLS = frozenset({"bash", "text_editor", "computer", "memory"})
# features.<field> -> kind of value it takes
FEATURES: Mapping[str, str] = MappingProxyType({
    "tools": "bool", "allowed_tools": "names", "server_tools": "bool_or_names", "structured_output": "structured",
    "thinking": "bool", "thinking_budget_max": "count", "max_tokens_max": "count", "max_input_tokens": "count",
    "require_user_id": "bool", "allowed_regions": "names"})
RULES = frozenset({"models.allow", "models.deny", "models.deprecated", "compliance.allowed_regions",
                   *(f"features.{name}" for name in FEATURES), *(f"pii.{name}" for name in DETECTORS)})
_DATED = re.compile(r"_\d{8}$")


@dataclass(slots=True, frozen=True)
class Decision:
    """One rule that refuses a request (``action`` "refuse") or would have (``action`` "shadow")."""

    rule: str
    action: str   # refuse | shadow
    status: int   # 403 forbidden model, feature or region; 400 a missing requirement or an exceeded cap
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "action": self.action, "status": self.status, "message": self.message}


@dataclass(slots=True, frozen=True)
class Compliance:
    """The restrictions of a workspace's compliance groups, merged strictest-wins."""

    group_ids: tuple[str, ...]
    retention_days: int | None
    require_encryption: bool
    allowed_regions: tuple[str, ...] | None
    audit_level: str
    legal_hold: bool


class GroupLike(Protocol):
    """What ``merge_compliance`` reads of a compliance group (a storage row or any look-alike)."""

    @property
    def id(self) -> str: ...

    @property
    def restrictions(self) -> Mapping[str, Any]: ...

    @property
    def legal_hold(self) -> bool: ...


def normalize_region(region: str) -> str:
    """An inference geo: ``us`` and ``global`` as they are; a cloud region such as ``us-east-1`` as ``us``."""
    return region.strip().lower().split("-", 1)[0]


def merge_compliance(groups: Iterable[GroupLike]) -> Compliance | None:
    """Strictest wins: shortest retention, any encryption, intersection of regions, full audit, any hold."""
    listed = sorted(groups, key=lambda g: g.id)
    if not listed:
        return None
    days: list[int] = []
    regions: set[str] | None = None
    encrypt = full = hold = False
    for group in listed:
        rules = group.restrictions or {}
        if isinstance(rules.get("data_retention_days"), int):
            days.append(int(rules["data_retention_days"]))
        encrypt = encrypt or bool(rules.get("require_encryption"))
        full = full or rules.get("audit_level") == "full"
        hold = hold or bool(group.legal_hold)
        if isinstance(rules.get("allowed_regions"), list):
            mine = {normalize_region(str(r)) for r in rules["allowed_regions"]}
            regions = mine if regions is None else regions & mine
    return Compliance(tuple(g.id for g in listed), min(days) if days else None, encrypt,
                      tuple(sorted(regions)) if regions is not None else None, "full" if full else "metadata", hold)


# --- compiling one document -------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class CompiledPolicy:
    """One scope's validated document."""

    document: Mapping[str, Any]
    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    deprecated: str | None = None
    features: Mapping[str, Any] = field(default_factory=dict)
    pii: Mapping[str, Any] | None = None
    shadow: frozenset[str] = frozenset()


def _fields(value: Any, where: str, known: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: must be an object")
    unknown = sorted(str(name) for name in set(value) - set(known))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
    return value


def _names(value: Any, where: str, *, empty: bool = True) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{where}: must be a list of non-empty strings")
    if not value and not empty:
        raise ValueError(f"{where}: must not be empty")
    return tuple(v.strip() for v in value)


def _feature(name: str, value: Any) -> Any:
    where, kind = f"features.{name}", FEATURES[name]
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"{where}: must be true or false")
    if kind == "count" and (type(value) is not int or value < 1):
        raise ValueError(f"{where}: must be a positive integer")
    if kind == "structured" and value not in STRUCTURED:
        raise ValueError(f"{where}: must be one of {', '.join(STRUCTURED)}")
    if kind == "names":
        value = _names(value, where)
        if name == "allowed_regions":
            value = tuple(normalize_region(v) for v in value)
    if kind == "bool_or_names" and not isinstance(value, bool):
        value = tuple(_DATED.sub("", v) for v in _names(value, where))
    return value


def _models(block: Any, catalog: Catalog) -> tuple[tuple[str, ...] | None, tuple[str, ...], dict[str, str],
                                                   str | None]:
    models = _fields(block, "models", ("allow", "deny", "aliases", "deprecated"))
    allow = _names(models["allow"], "models.allow") if "allow" in models else None
    deny = _names(models["deny"], "models.deny") if "deny" in models else ()
    aliases: dict[str, str] = {}
    for alias, target in _fields(models.get("aliases", {}), "models.aliases", models.get("aliases", {})).items():
        if not isinstance(target, str) or catalog.resolve(target) is None:
            raise ValueError(f"models.aliases.{alias}: {target!r} is not a model in the catalog")
        aliases[str(alias)] = target
    deprecated = models.get("deprecated")
    if deprecated is not None and deprecated not in DEPRECATED_ACTIONS:
        raise ValueError(f"models.deprecated: must be one of {', '.join(DEPRECATED_ACTIONS)}")
    return allow, deny, aliases, deprecated


def compile_policy(document: Mapping[str, Any], catalog: Catalog | None = None) -> CompiledPolicy:
    """Validate a policy document; ``ValueError`` names the field path of the first defect."""
    doc = _fields(document, "policy", ("models", "features", "pii", "shadow"))
    allow, deny, aliases, deprecated = _models(doc.get("models", {}), catalog or Catalog.load_default())
    features = {name: _feature(name, value)
                for name, value in _fields(doc.get("features", {}), "features", FEATURES).items()}
    shadow = frozenset(_names(doc.get("shadow", []), "shadow"))
    for rule in sorted(shadow - RULES):
        raise ValueError(f"shadow: {rule!r} is not a rule name (e.g. features.tools, models.deny, pii.email)")
    pii = doc.get("pii")
    if pii is not None:
        if not isinstance(pii, Mapping):
            raise ValueError("pii: must be an object")
        PiiRules.from_document(pii, shadow)  # validates; the layered rules are built by ``effective``
    return CompiledPolicy(MappingProxyType(dict(doc)), allow, deny, MappingProxyType(aliases), deprecated,
                          MappingProxyType(features), pii, shadow)


# --- layering ---------------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class _Patterns:
    regex: re.Pattern[str]
    patterns: tuple[str, ...]
    where: str


def _patterns(patterns: Iterable[str], where: str) -> _Patterns:
    listed = tuple(patterns)
    body = "|".join(f"(?:{fnmatch.translate(p)})" for p in listed) or "(?!)"
    return _Patterns(re.compile(body), listed, where)


@dataclass(slots=True, frozen=True)
class EffectivePolicy:
    """The policy in force for one workspace (or one key), layered and precompiled."""

    version: int
    where: str                                        # "in workspace 'marketing'"
    allow: tuple[_Patterns, ...] = ()                 # every level must admit the model
    deny: tuple[_Patterns, ...] = ()                  # no level may match it
    aliases: Mapping[str, str] = field(default_factory=dict)
    deprecated: str = "allow"
    features: Mapping[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (value, where it was set)
    pii_rules: PiiRules | None = None
    shadow: frozenset[str] = frozenset()
    compliance: Compliance | None = None
    default_region: str = "global"
    # requested model name -> its model decisions; they depend on nothing else, so each is computed once
    _model_decisions: dict[str, tuple[Decision, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def needs_input_tokens(self) -> bool:
        return "max_input_tokens" in self.features


def effective(org: CompiledPolicy | None, workspace: CompiledPolicy | None, key: CompiledPolicy | None,
              compliance: Compliance | None, *, version: int = 0, workspace_label: str = "in this workspace",
              key_label: str = "for this API key", extra_allow: Iterable[tuple[Iterable[str], str]] = ()
              ) -> EffectivePolicy:
    """Layer the scopes: deeper feature and PII fields replace shallower ones; every level's model lists apply.

    ``extra_allow`` adds allow lists (patterns, where) such as a workspace's ``allowed_models`` or a key's
    ``scopes.models``.
    """
    levels = [(p, key_label if p is key else workspace_label) for p in (org, workspace, key) if p is not None]
    allow = [_patterns(p.allow, where) for p, where in levels if p.allow is not None]
    allow += [_patterns(patterns, where) for patterns, where in extra_allow]
    deny = tuple(_patterns(p.deny, where) for p, where in levels if p.deny)
    aliases: dict[str, str] = {}
    features: dict[str, tuple[Any, str]] = {}
    pii: dict[str, Any] = {}
    detectors: dict[str, Any] = {}
    shadow: set[str] = set()
    deprecated = "allow"
    for policy, where in levels:
        aliases.update(policy.aliases)
        features.update({name: (value, where) for name, value in policy.features.items()})
        deprecated = policy.deprecated or deprecated
        shadow |= policy.shadow
        if policy.pii is not None:
            pii.update({k: v for k, v in policy.pii.items() if k != "detectors"})
            detectors.update(policy.pii.get("detectors") or {})
    if detectors:
        pii["detectors"] = detectors
    rules = PiiRules.from_document(pii, shadow) if pii else None
    # Plain dicts (not read-only proxies): they are read on every request and nothing writes them after this.
    return EffectivePolicy(version, workspace_label, tuple(allow), deny, aliases, deprecated, features, rules,
                           frozenset(shadow), compliance)


# --- evaluation -------------------------------------------------------------------------------------------


def resolve_model(policy: EffectivePolicy | None, catalog: Catalog, requested: str) -> tuple[str, ModelInfo | None]:
    """The model a request names after the scope's alias pinning, and what the catalog knows of it."""
    pinned = policy.aliases.get(requested, requested) if policy is not None else requested
    return pinned, catalog.resolve(pinned)


def _model_names(requested: str, info: ModelInfo | None, policy: EffectivePolicy) -> tuple[str, ...]:
    pinned = policy.aliases.get(requested)
    names = (requested,) if pinned is None else (requested, pinned)
    return names + ((info.id, *info.aliases) if info is not None else ())


def model_visible(policy: EffectivePolicy | None, info: ModelInfo) -> bool:
    """Whether the scope may use ``info`` at all (for ``GET /v1/models``): allow, deny and deprecated rules."""
    if policy is None:
        return True
    names = (info.id, *info.aliases)
    if any(not any(p.regex.match(n) for n in names) for p in policy.allow):
        return False
    if any(p.regex.match(n) for p in policy.deny for n in names):
        return False
    return not (info.status == "deprecated" and policy.deprecated == "refuse")


class _Out:
    """Collects decisions, marking the rules listed in ``shadow``."""

    def __init__(self, policy: EffectivePolicy) -> None:
        self.policy = policy
        self.found: list[Decision] = []

    def add(self, rule: str, status: int, what: str, where: str, how: str) -> None:
        action = "shadow" if rule in self.policy.shadow else "refuse"
        message = f"{rule}: {what} {where} (policy v{self.policy.version}); {how}"
        self.found.append(Decision(rule, action, status, message))


MODEL_CACHE_SIZE = 512  # bounds the memo: dated snapshot names make the set of resolvable names large


def _check_models(out: _Out, requested: str, info: ModelInfo | None) -> None:
    memo = out.policy._model_decisions
    cached = memo.get(requested)
    if cached is not None:
        out.found.extend(cached)
        return
    start = len(out.found)
    _model_rules(out, requested, info)
    if info is not None and len(memo) < MODEL_CACHE_SIZE:
        memo[requested] = tuple(out.found[start:])


def _model_rules(out: _Out, requested: str, info: ModelInfo | None) -> None:
    policy = out.policy
    names = _model_names(requested, info, policy)
    for level in policy.allow:
        if not any(level.regex.match(n) for n in names):
            out.add("models.allow", 403, f"model {requested!r} is not allowed", level.where,
                    f"use a model matching {', '.join(level.patterns) or 'nothing (no model is allowed)'}")
    for level in policy.deny:
        if not any(level.regex.match(n) for n in names):
            continue
        hit = next((p for p in level.patterns for n in names if fnmatch.fnmatchcase(n, p)), None)
        if hit is not None:
            out.add("models.deny", 403, f"model {requested!r} is denied (pattern {hit!r})", level.where,
                    "choose a model that no deny pattern matches")
    if info is not None and info.status == "deprecated" and policy.deprecated == "refuse":
        replacement = info.replacement
        how = f"use {replacement} instead" if replacement else "use a current model"
        retires = f", retiring on {info.retires_at.isoformat()}" if info.retires_at else ""
        out.add("models.deprecated", 403, f"model {requested!r} is deprecated{retires}, and deprecated models are "
                                          "not allowed", policy.where, how)


def _tools(payload: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(client tool names, server tool types without their date) of the request.

    Every way a request can make the model call tools counts, not only ``tools``: the MCP connector's
    top-level ``mcp_servers`` (server tool ``mcp_toolset``), a ``container`` (skills and code run in it: server
    tool ``code_execution``), and any Anthropic-defined tool type Steward does not know yet (by its undated type:
    a new server tool is governed, never waved through as a client tool). Only the client-executed
    Anthropic-defined tools (bash, text editor, computer use, memory) and custom tools are client tools."""
    client: list[str] = []
    server: list[str] = []
    tools = payload.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        base = _DATED.sub("", kind) if isinstance(kind, str) else None
        if base is None or base == "custom" or base in CLIENT_DEFINED_TOOLS:
            client.append(str(tool.get("name")))
        else:
            server.append(base)
    servers = payload.get("mcp_servers")
    if servers and "mcp_toolset" not in server:
        server.append("mcp_toolset")
    if payload.get("container") and "code_execution" not in server:
        server.append("code_execution")
    return client, server


def tool_models(payload: Mapping[str, Any]) -> list[str]:
    """Models a request names inside its tools (the advisor tool calls a model of its own): model rules apply."""
    tools = payload.get("tools")
    return [tool["model"] for tool in (tools if isinstance(tools, list) else ())
            if isinstance(tool, dict) and isinstance(tool.get("model"), str)]


def _check_tools(out: _Out, payload: Mapping[str, Any], features: Mapping[str, tuple[Any, str]]) -> None:
    client, server = _tools(payload)
    if not client and not server:
        return
    if "tools" in features and features["tools"][0] is False:
        out.add("features.tools", 403, "tool use is not allowed", features["tools"][1],
                'remove "tools" from the request')
    if "allowed_tools" in features and client:
        allowed, where = features["allowed_tools"]
        if extra := [n for n in client if n not in allowed]:
            out.add("features.allowed_tools", 403, f"tool {', '.join(map(repr, extra))} is not allowed", where,
                    f"use only these tools: {', '.join(allowed) or 'none'}")
    if "server_tools" in features and server:
        allowed, where = features["server_tools"]
        refused = server if allowed is False else [] if allowed is True else [t for t in server if t not in allowed]
        if refused:
            permitted = "none" if allowed is False else ", ".join(allowed) or "none"
            out.add("features.server_tools", 403, f"server tool {', '.join(map(repr, refused))} is not allowed",
                    where, f"remove it from \"tools\" (allowed server tools: {permitted})")


def _check_output_and_thinking(out: _Out, payload: Mapping[str, Any],
                               features: Mapping[str, tuple[Any, str]]) -> None:
    if "structured_output" in features:
        mode, where = features["structured_output"]
        config = payload.get("output_config")
        structured = (isinstance(config, dict) and config.get("format") is not None) or \
            payload.get("output_format") is not None
        if mode == "required" and not structured:
            out.add("features.structured_output", 400, "structured output is required", where,
                    'add output_config.format ({"type": "json_schema", "schema": ...})')
        elif mode == "forbidden" and structured:
            out.add("features.structured_output", 403, "structured output is not allowed", where,
                    "remove output_config.format and output_format")
    thinking = payload.get("thinking")
    enabled = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    if enabled and "thinking" in features and features["thinking"][0] is False:
        out.add("features.thinking", 403, "extended thinking is not allowed", features["thinking"][1],
                'remove "thinking" or set {"type": "disabled"}')
    if enabled and "thinking_budget_max" in features and isinstance(thinking, dict):
        cap, where = features["thinking_budget_max"]
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and budget > cap:
            out.add("features.thinking_budget_max", 400, f"thinking.budget_tokens {budget} is above the cap of "
                                                         f"{cap}", where, f"set budget_tokens to {cap} or less")


def _check_limits(out: _Out, payload: Mapping[str, Any], features: Mapping[str, tuple[Any, str]],
                  input_tokens: int) -> None:
    if "max_tokens_max" in features:
        cap, where = features["max_tokens_max"]
        asked = payload.get("max_tokens")
        if isinstance(asked, int) and asked > cap:
            out.add("features.max_tokens_max", 400, f"max_tokens {asked} is above the cap of {cap}", where,
                    f"set max_tokens to {cap} or less")
    if "max_input_tokens" in features:
        cap, where = features["max_input_tokens"]
        if input_tokens > cap:
            out.add("features.max_input_tokens", 400, f"the input (about {input_tokens} tokens) is above the cap "
                                                      f"of {cap} tokens", where, "send a shorter prompt")
    if "require_user_id" in features and features["require_user_id"][0] is True:
        metadata = payload.get("metadata")
        if not (isinstance(metadata, dict) and metadata.get("user_id")):
            out.add("features.require_user_id", 400, "metadata.user_id is required", features["require_user_id"][1],
                    'add "metadata": {"user_id": "<an id for the end user>"}')


def _check_regions(out: _Out, payload: Mapping[str, Any], features: Mapping[str, tuple[Any, str]]) -> None:
    geo = payload.get("inference_geo")
    region = normalize_region(geo) if isinstance(geo, str) and geo else out.policy.default_region
    if "allowed_regions" in features:
        allowed, where = features["allowed_regions"]
        if region not in allowed:
            out.add("features.allowed_regions", 403, f"inference region {region!r} is not allowed", where,
                    f"set inference_geo to one of {', '.join(allowed) or 'none'}")
    compliance = out.policy.compliance
    if compliance is not None and compliance.allowed_regions is not None and region not in compliance.allowed_regions:
        out.add("compliance.allowed_regions", 403, f"inference region {region!r} is outside the workspace's "
                                                   "compliance groups", out.policy.where,
                f"set inference_geo to one of {', '.join(compliance.allowed_regions) or 'none'}")


def evaluate(policy: EffectivePolicy, payload: Mapping[str, Any], *, model_info: ModelInfo | None,
             input_tokens: int = 0, models_only: bool = False) -> list[Decision]:
    """Every rule that refuses (or, in shadow mode, would refuse) this Messages API body."""
    out = _Out(policy)
    requested = payload.get("model")
    _check_models(out, requested if isinstance(requested, str) else "", model_info)
    for model in tool_models(payload):  # a tool's own model (advisor) passes the same allow and deny rules
        _model_rules(out, model, None)
    if not models_only:
        features = policy.features
        if features:
            _check_tools(out, payload, features)
            _check_output_and_thinking(out, payload, features)
            _check_limits(out, payload, features, input_tokens)
        _check_regions(out, payload, features)
    return out.found
