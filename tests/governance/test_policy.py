"""The policy engine: document validation with field paths, layering, and every rule allowed and refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from steward.governance.catalog import Catalog
from steward.governance.policy import (
    CompiledPolicy,
    Decision,
    compile_policy,
    effective,
    evaluate,
    merge_compliance,
    model_visible,
    normalize_region,
    resolve_model,
)

CATALOG = Catalog.load_default()
SONNET = "claude-sonnet-4-6"


def body(**extra: Any) -> dict[str, Any]:
    return {"model": SONNET, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **extra}


def run(document: dict[str, Any], payload: dict[str, Any], *, input_tokens: int = 10, version: int = 7,
        key: dict[str, Any] | None = None) -> list[Decision]:
    policy = effective(None, compile_policy(document), compile_policy(key) if key is not None else None, None,
                       version=version, workspace_label="in workspace 'marketing'", key_label="for API key 'k'")
    _, info = resolve_model(policy, CATALOG, payload["model"])
    return evaluate(policy, payload, model_info=info, input_tokens=input_tokens)


def rules(decisions: list[Decision]) -> list[str]:
    return [d.rule for d in decisions]


@pytest.mark.parametrize(("document", "path"), [
    ({"modles": {}}, "policy.modles"),
    ({"models": {"allow": "claude-*"}}, "models.allow"),
    ({"models": {"deny": [""]}}, "models.deny"),
    ({"models": {"aliases": {"claude-sonnet": "claude-nothing-9"}}}, "models.aliases.claude-sonnet"),
    ({"models": {"deprecated": "maybe"}}, "models.deprecated"),
    ({"features": {"tools": "no"}}, "features.tools"),
    ({"features": {"max_tokens_max": 0}}, "features.max_tokens_max"),
    ({"features": {"thinking_budget_max": True}}, "features.thinking_budget_max"),
    ({"features": {"structured_output": "sometimes"}}, "features.structured_output"),
    ({"features": {"server_tools": "web_search"}}, "features.server_tools"),
    ({"features": {"colour": True}}, "features.colour"),
    ({"shadow": ["features.nothing"]}, "shadow"),
    ({"pii": ["email"]}, "pii"),
])
def test_bad_documents_name_the_field(document: dict[str, Any], path: str) -> None:
    with pytest.raises(ValueError, match=f"^{path}"):
        compile_policy(document)


def test_a_full_document_compiles() -> None:
    compiled = compile_policy({
        "models": {"allow": ["claude-sonnet-*", "claude-haiku-*"], "deny": ["claude-opus-*"],
                   "aliases": {"claude-sonnet": SONNET}, "deprecated": "warn"},
        "features": {"tools": True, "allowed_tools": ["get_weather"], "server_tools": ["web_search_20250305"],
                     "structured_output": "allowed", "thinking": True, "thinking_budget_max": 4000,
                     "max_tokens_max": 4096, "max_input_tokens": 100000, "require_user_id": True,
                     "allowed_regions": ["us", "global"]},
        "shadow": ["features.tools"]})
    assert isinstance(compiled, CompiledPolicy)
    assert compiled.features["server_tools"] == ("web_search",)  # the dated type names its tool
    assert compiled.aliases == {"claude-sonnet": SONNET} and compiled.shadow == {"features.tools"}


def test_models_allow_and_deny() -> None:
    document = {"models": {"allow": ["claude-sonnet-*", "claude-haiku-*"], "deny": ["claude-sonnet-4-*"]}}
    assert run(document, body(model="claude-haiku-4-5")) == []
    [allow] = run(document, body(model="claude-opus-4-7"))
    assert (allow.rule, allow.action, allow.status) == ("models.allow", "refuse", 403)
    assert allow.message == ("models.allow: model 'claude-opus-4-7' is not allowed in workspace 'marketing' "
                             "(policy v7); use a model matching claude-sonnet-*, claude-haiku-*")
    [deny] = run(document, body(model=SONNET))
    assert deny.rule == "models.deny" and "pattern 'claude-sonnet-4-*'" in deny.message


def test_aliases_pin_a_version_and_the_pinned_model_is_checked() -> None:
    policy = effective(None, compile_policy({"models": {"aliases": {"claude-sonnet": SONNET}}}), None, None)
    pinned, info = resolve_model(policy, CATALOG, "claude-sonnet")
    assert pinned == SONNET and info is not None and info.id == SONNET
    assert resolve_model(None, CATALOG, "claude-sonnet") == ("claude-sonnet", None)
    refused = run({"models": {"aliases": {"claude-sonnet": SONNET}, "deny": [SONNET]}}, body(model="claude-sonnet"))
    assert rules(refused) == ["models.deny"]


def test_deprecated_models() -> None:
    old = "claude-sonnet-4-5"
    assert run({"models": {"deprecated": "allow"}}, body(model=old)) == []
    assert run({"models": {"deprecated": "warn"}}, body(model=old)) == []  # allowed; the stage adds a header
    [refused] = run({"models": {"deprecated": "refuse"}}, body(model=old))
    assert refused.rule == "models.deprecated" and refused.status == 403
    assert "use claude-sonnet-5-5 instead" in refused.message and "retiring on 2026-11-30" in refused.message


def test_tools() -> None:
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}},
             {"name": "run_sql", "input_schema": {"type": "object"}},
             {"type": "web_search_20250305", "name": "web_search"}]
    assert run({"features": {"tools": True}}, body(tools=tools)) == []
    assert run({"features": {"tools": False}}, body()) == []
    [refused] = run({"features": {"tools": False}}, body(tools=tools))
    assert refused.message == ("features.tools: tool use is not allowed in workspace 'marketing' (policy v7); "
                               'remove "tools" from the request')
    [named] = run({"features": {"allowed_tools": ["get_weather"]}}, body(tools=tools))
    assert named.rule == "features.allowed_tools" and "'run_sql'" in named.message
    assert run({"features": {"allowed_tools": ["get_weather", "run_sql"]}}, body(tools=tools)) == []
    [server] = run({"features": {"server_tools": False}}, body(tools=tools))
    assert server.rule == "features.server_tools" and "'web_search'" in server.message
    assert run({"features": {"server_tools": ["web_search"]}}, body(tools=tools)) == []
    assert rules(run({"features": {"server_tools": ["code_execution"]}}, body(tools=tools))) == \
        ["features.server_tools"]


def test_structured_output_required_and_forbidden() -> None:
    schema = {"type": "json_schema", "schema": {"type": "object"}}
    [missing] = run({"features": {"structured_output": "required"}}, body())
    assert (missing.rule, missing.status) == ("features.structured_output", 400)
    assert "output_config.format" in missing.message
    assert run({"features": {"structured_output": "required"}}, body(output_config={"format": schema})) == []
    assert run({"features": {"structured_output": "required"}}, body(output_format=schema)) == []
    [forbidden] = run({"features": {"structured_output": "forbidden"}}, body(output_format=schema))
    assert forbidden.status == 403
    assert run({"features": {"structured_output": "forbidden"}}, body(output_config={"effort": "low"})) == []


def test_thinking_and_its_budget() -> None:
    thinking = {"type": "enabled", "budget_tokens": 8000}
    assert rules(run({"features": {"thinking": False}}, body(thinking=thinking))) == ["features.thinking"]
    assert run({"features": {"thinking": False}}, body(thinking={"type": "disabled"})) == []
    [cap] = run({"features": {"thinking_budget_max": 4000}}, body(thinking=thinking))
    assert (cap.rule, cap.status) == ("features.thinking_budget_max", 400) and "4000 or less" in cap.message
    assert run({"features": {"thinking_budget_max": 8000}}, body(thinking=thinking)) == []


def test_caps_and_requirements() -> None:
    [tokens] = run({"features": {"max_tokens_max": 50}}, body())
    assert (tokens.rule, tokens.status) == ("features.max_tokens_max", 400)
    assert "set max_tokens to 50 or less" in tokens.message
    assert run({"features": {"max_tokens_max": 100}}, body()) == []
    assert rules(run({"features": {"max_input_tokens": 1000}}, body(), input_tokens=1001)) == \
        ["features.max_input_tokens"]
    assert run({"features": {"max_input_tokens": 1000}}, body(), input_tokens=1000) == []
    [user] = run({"features": {"require_user_id": True}}, body())
    assert (user.rule, user.status) == ("features.require_user_id", 400) and "metadata" in user.message
    assert run({"features": {"require_user_id": True}}, body(metadata={"user_id": "u-1"})) == []


def test_regions_from_the_policy_and_from_compliance_groups() -> None:
    assert run({"features": {"allowed_regions": ["us"]}}, body(inference_geo="us")) == []
    [default] = run({"features": {"allowed_regions": ["us"]}}, body())  # no inference_geo: global
    assert default.rule == "features.allowed_regions" and default.status == 403
    compliance = merge_compliance([Group("g1", {"allowed_regions": ["us-east-1", "us-west-2"]})])
    policy = effective(None, None, None, compliance, workspace_label="in workspace 'finance'")
    _, info = resolve_model(policy, CATALOG, SONNET)
    [refused] = evaluate(policy, body(), model_info=info)
    assert refused.rule == "compliance.allowed_regions" and "set inference_geo to one of us" in refused.message
    assert evaluate(policy, body(inference_geo="us"), model_info=info) == []


def test_every_refusing_rule_is_returned_and_shadow_rules_do_not_refuse() -> None:
    document = {"models": {"deny": ["claude-sonnet-*"]},
                "features": {"tools": False, "max_tokens_max": 10, "require_user_id": True},
                "shadow": ["features.tools"]}
    decisions = run(document, body(tools=[{"name": "x", "input_schema": {}}]))
    assert rules(decisions) == ["models.deny", "features.tools", "features.max_tokens_max",
                                "features.require_user_id"]
    assert [d.action for d in decisions] == ["refuse", "shadow", "refuse", "refuse"]


def test_layering_deeper_features_replace_and_every_model_level_applies() -> None:
    org = compile_policy({"models": {"allow": ["claude-*"], "deny": ["claude-opus-*"]},
                          "features": {"tools": False, "max_tokens_max": 1000}})
    workspace = compile_policy({"models": {"allow": ["claude-sonnet-*", "claude-opus-*"]},
                                "features": {"tools": True}})
    key = compile_policy({"models": {"allow": ["claude-sonnet-4-*"]}, "features": {"max_tokens_max": 50}})
    policy = effective(org, workspace, key, None, version=3, workspace_label="in workspace 'eng'",
                       key_label="for API key 'eng-ci'")

    def check(payload: dict[str, Any]) -> list[Decision]:
        return evaluate(policy, payload, model_info=CATALOG.resolve(payload["model"]))

    assert check(body(tools=[{"name": "t", "input_schema": {}}], max_tokens=50)) == []  # workspace loosened tools
    [cap] = check(body(max_tokens=100))                                                  # the key tightened the cap
    assert cap.message.startswith("features.max_tokens_max: max_tokens 100 is above the cap of 50 for API key")
    assert rules(check(body(model="claude-opus-4-7", max_tokens=5))) == ["models.allow", "models.deny"]
    assert rules(check(body(model="claude-sonnet-5-5", max_tokens=5))) == ["models.allow"]  # the key narrowed
    assert not model_visible(policy, CATALOG.models()[0]) and model_visible(policy, CATALOG.resolve(SONNET))


def test_legacy_model_lists_are_extra_allow_lists() -> None:
    policy = effective(None, None, None, None, extra_allow=[(("claude-haiku-*",), "in workspace 'marketing'")])
    [refused] = evaluate(policy, body(), model_info=CATALOG.resolve(SONNET))
    assert refused.rule == "models.allow" and "not allowed in workspace 'marketing'" in refused.message


@dataclass
class Group:
    id: str
    restrictions: dict[str, Any] = field(default_factory=dict)
    legal_hold: bool = False


def test_compliance_groups_merge_strictest_wins() -> None:
    assert merge_compliance([]) is None
    merged = merge_compliance([
        Group("b", {"data_retention_days": 365, "allowed_regions": ["us-east-1", "global"], "audit_level": "full"}),
        Group("a", {"data_retention_days": 30, "require_encryption": True, "allowed_regions": ["us"]},
              legal_hold=True),
        Group("c", {"audit_level": "metadata"})])
    assert merged is not None
    assert merged.group_ids == ("a", "b", "c") and merged.retention_days == 30 and merged.require_encryption
    assert merged.allowed_regions == ("us",) and merged.audit_level == "full" and merged.legal_hold
    assert normalize_region("US-East-1") == "us" and normalize_region("global") == "global"


def test_every_way_to_call_tools_is_governed() -> None:
    """A policy with tools and server tools off was sidestepped by the MCP connector (a top-level
    ``mcp_servers``); a container (skills, code), an Anthropic tool type Steward does not know yet, and a model
    named inside a tool (the advisor tool) must not pass either (issue 13)."""
    off = {"features": {"tools": False, "server_tools": False}}
    mcp = body(mcp_servers=[{"type": "url", "url": "https://mcp.example.com/sse", "name": "crm"}])
    assert rules(run(off, mcp)) == ["features.tools", "features.server_tools"]
    assert "'mcp_toolset'" in run(off, mcp)[1].message
    assert run({"features": {"server_tools": ["mcp_toolset"]}}, mcp) == []
    skills = body(container={"skills": [{"type": "anthropic", "skill_id": "xlsx", "version": "latest"}]})
    assert rules(run(off, skills)) == ["features.tools", "features.server_tools"]
    assert "'code_execution'" in run(off, skills)[1].message
    advisor = body(tools=[{"type": "advisor_20260301", "name": "advisor", "model": "claude-opus-4-7"}])
    assert rules(run(off, advisor)) == ["features.tools", "features.server_tools"]
    assert "'advisor'" in run({"features": {"server_tools": ["web_search"]}}, advisor)[0].message
    # The advisor's model passes the model rules like the request's own.
    [denied] = run({"models": {"deny": ["claude-opus-*"]}}, advisor)
    assert denied.rule == "models.deny" and "claude-opus-4-7" in denied.message
    assert rules(run({"models": {"allow": ["claude-sonnet-*"]}}, advisor)) == ["models.allow"]
    # Client-executed Anthropic tools stay client tools, named as such.
    editor = body(tools=[{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}])
    assert run({"features": {"server_tools": False}}, editor) == []
    assert rules(run({"features": {"allowed_tools": ["get_weather"]}}, editor)) == ["features.allowed_tools"]
