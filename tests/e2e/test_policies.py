"""Policies enforced by a real gateway, seen through the official SDK: every rule refused with Anthropic's status,
type and a message naming the rule, allowed when the request complies; alias pinning; /v1/models filtered;
deprecated-model warnings; shadow mode; and a change in force within a second."""

from __future__ import annotations

import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx
import pytest

from steward.sdk import AdminClient
from tests.support import Gateway

SONNET = "claude-sonnet-4-6"
MESSAGES: Any = [{"role": "user", "content": "hello"}]
TOOL: Any = {"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}
SCHEMA: Any = {"type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}


def put_policy(gateway: Gateway, path: str, document: dict[str, Any]) -> int:
    response = httpx.put(f"{gateway.url}{path}", json=document, headers={"x-api-key": gateway.admin_key})
    assert response.status_code == 200, response.text
    gateway.sync_config()
    version: int = response.json()["version"]
    return version


def message(error: anthropic.APIStatusError) -> str:
    """The Anthropic envelope's ``error.message`` (the SDK's own ``message`` prefixes the status)."""
    text: str = error.body["error"]["message"]  # type: ignore[index]
    return text


def refused(call: Any, kind: type[anthropic.APIStatusError], rule: str) -> anthropic.APIStatusError:
    with pytest.raises(kind) as info:
        call()
    assert message(info.value).startswith(f"{rule}: "), message(info.value)
    return info.value


def test_feature_rules_refuse_with_the_rule_and_allow_compliant_requests(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["marketing"]
    version = put_policy(gateway, f"/v1/admin/workspaces/{ws}/policy", {"features": {
        "tools": False, "thinking": False, "max_tokens_max": 256, "require_user_id": True,
        "structured_output": "forbidden", "allowed_regions": ["global"]}})
    user = {"user_id": "u-42"}
    with gateway.client("marketing") as client:
        def send(**extra: Any) -> Any:
            return lambda: client.messages.create(**{"model": "claude-haiku-4-5", "max_tokens": 64,
                                                     "messages": MESSAGES, "metadata": user, **extra})
        error = refused(send(tools=[TOOL]), anthropic.PermissionDeniedError, "features.tools")
        assert error.status_code == 403 and error.body["error"]["type"] == "permission_error"  # type: ignore[index]
        assert message(error) == (f"features.tools: tool use is not allowed in workspace 'marketing' "
                                 f"(policy v{version}); remove \"tools\" from the request")
        refused(send(thinking={"type": "enabled", "budget_tokens": 1024}), anthropic.PermissionDeniedError,
                "features.thinking")
        refused(send(output_config={"format": SCHEMA}), anthropic.PermissionDeniedError,
                "features.structured_output")
        refused(send(inference_geo="us"), anthropic.PermissionDeniedError, "features.allowed_regions")
        capped = refused(send(max_tokens=1000), anthropic.BadRequestError, "features.max_tokens_max")
        assert capped.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        refused(send(metadata={}), anthropic.BadRequestError, "features.require_user_id")
        refused(send(model=SONNET), anthropic.PermissionDeniedError, "models.allow")  # allowed_models still applies
        ok = client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES,
                                                      metadata=user)
    [event] = gateway.wait_audit([error.response.headers["request-id"]])
    assert event.decision == "refused" and event.data is not None
    assert event.data["policy"]["rule"] == "features.tools" and event.data["policy"]["version"] == version
    [allowed] = gateway.wait_audit([ok.headers["request-id"]])
    assert allowed.decision == "allowed" and allowed.data is not None
    assert allowed.data["policy"] == {"version": version, "rule": None, "shadow": None, "pii": None, "alias": None}


def test_required_structured_output_tool_names_and_server_tools(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["eng"]
    put_policy(gateway, f"/v1/admin/workspaces/{ws}/policy", {"features": {
        "structured_output": "required", "allowed_tools": ["get_weather"], "server_tools": False,
        "thinking_budget_max": 2048}})
    base: Any = {"model": SONNET, "max_tokens": 4096, "messages": MESSAGES, "output_config": {"format": SCHEMA}}
    with gateway.client("eng") as client:
        refused(lambda: client.messages.create(**{**base, "output_config": {}}), anthropic.BadRequestError,
                "features.structured_output")
        refused(lambda: client.messages.create(**base, tools=[{**TOOL, "name": "run_sql"}]),
                anthropic.PermissionDeniedError, "features.allowed_tools")
        refused(lambda: client.messages.create(**base, tools=[{"type": "web_search_20250305", "name": "web_search"}]),
                anthropic.PermissionDeniedError, "features.server_tools")
        refused(lambda: client.messages.create(**base, thinking={"type": "enabled", "budget_tokens": 3000}),
                anthropic.BadRequestError, "features.thinking_budget_max")
        # The MCP connector calls tools without a "tools" entry (before: it passed; issue 13).
        refused(lambda: client.messages.create(**base, extra_headers={"anthropic-beta": "mcp-client-2025-04-04"},
                                               extra_body={"mcp_servers": [{"type": "url", "name": "crm",
                                                                            "url": "https://mcp.example.com/sse"}]}),
                anthropic.PermissionDeniedError, "features.server_tools")
        done = client.messages.create(**base, tools=[TOOL], thinking={"type": "enabled", "budget_tokens": 2048})
        assert done.type == "message"


def test_models_aliases_deprecation_and_the_models_listing(gateway: Gateway) -> None:
    put_policy(gateway, "/v1/admin/policy", {"models": {"deny": ["claude-opus-*"], "deprecated": "refuse",
                                                        "aliases": {"claude-sonnet": SONNET}}})
    key = gateway.key_ids["eng"]
    put_policy(gateway, f"/v1/admin/keys/{key}/policy", {"models": {"deprecated": "warn"}})
    with gateway.client("eng") as eng, gateway.client("marketing") as marketing:
        pinned = eng.messages.with_raw_response.create(model="claude-sonnet", max_tokens=16, messages=MESSAGES)
        assert pinned.parse().model == SONNET  # the simulator answers with the model it was sent
        denied = refused(lambda: eng.messages.create(model="claude-opus-4-7", max_tokens=16, messages=MESSAGES),
                         anthropic.PermissionDeniedError, "models.deny")
        assert "pattern 'claude-opus-*'" in message(denied)
        # Retired on 2026-11-30 (the catalog's retires_at): gone from the API, so a 404 naming the replacement.
        with pytest.raises(anthropic.NotFoundError) as gone:
            eng.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=MESSAGES)
        assert message(gone.value) == ("model: claude-sonnet-4-5 was retired on 2026-11-30; use claude-sonnet-5-5 "
                                       "instead")
        listed = [m.id for m in eng.models.list(limit=100)]
        assert SONNET in listed and not any(m.startswith("claude-opus") for m in listed)
        assert "claude-sonnet-4-5-20250929" not in listed
        assert eng.models.retrieve("claude-sonnet").id == SONNET
        with pytest.raises(anthropic.NotFoundError):
            eng.models.retrieve("claude-opus-4-7")
        marketing_models = [m.id for m in marketing.models.list(limit=100)]
        assert marketing_models and all("haiku" in m for m in marketing_models)
        refused(lambda: marketing.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES,
                                                  extra_body={"model": "claude-opus-4-5"}),
                anthropic.PermissionDeniedError, "models.allow")  # the workspace's allowed_models comes first
    # Deprecated (retiring 2027-01-22) and warned about once the organization no longer denies Opus; only
    # Steward's header is asserted (what the SDK itself warns about is its own business).
    put_policy(gateway, "/v1/admin/policy", {"models": {"deprecated": "refuse"}})
    with gateway.client("eng") as eng, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warned = eng.messages.with_raw_response.create(model="claude-opus-4-5", max_tokens=16, messages=MESSAGES)
    assert warned.headers["x-steward-warning"] == ("models.deprecated: claude-opus-4-5-20251101 is deprecated and "
                                                   "retires on 2027-01-22; use claude-opus-5-5 instead")
    [row] = gateway.wait_usage([pinned.headers["request-id"]])
    assert row.model == SONNET
    [event] = gateway.wait_audit([pinned.headers["request-id"]])
    assert event.data is not None and event.data["policy"]["alias"] == {"requested": "claude-sonnet",
                                                                         "pinned": SONNET}


def test_shadow_mode_allows_records_and_reports(gateway: Gateway) -> None:
    ws = gateway.workspace_ids["eng"]
    put_policy(gateway, f"/v1/admin/workspaces/{ws}/policy", {"features": {"tools": False, "max_tokens_max": 32},
                                                               "shadow": ["features.tools"]})
    with gateway.client("eng") as client:
        ok = client.messages.with_raw_response.create(model=SONNET, max_tokens=16, messages=MESSAGES, tools=[TOOL])
        refused(lambda: client.messages.create(model=SONNET, max_tokens=64, messages=MESSAGES, tools=[TOOL]),
                anthropic.BadRequestError, "features.max_tokens_max")
    [event] = gateway.wait_audit([ok.headers["request-id"]])
    assert event.decision == "allowed" and event.data is not None
    assert event.data["policy"]["shadow"] == ["features.tools"] and event.data["policy"]["rule"] is None
    gateway.wait_usage([ok.headers["request-id"]])
    time.sleep(0.2)
    with AdminClient(base_url=gateway.url, api_key=gateway.admin_key, max_retries=0) as admin:
        report = admin.policies.shadow_report(workspace_id=ws,
                                              starting_at=datetime.now(UTC) - timedelta(minutes=5))
    assert [(c.workspace_id, c.rule, c.would_refuse) for c in report.data] == [(ws, "features.tools", 2)]
    assert report.total == 2


def test_a_policy_change_is_in_force_within_a_second(gateway: Gateway) -> None:
    with gateway.client("eng") as client:
        client.messages.create(model=SONNET, max_tokens=16, messages=MESSAGES)
        response = httpx.put(f"{gateway.url}/v1/admin/policy", json={"features": {"require_user_id": True}},
                             headers={"x-api-key": gateway.admin_key})
        assert response.status_code == 200
        # The promise: no request sent more than a second after the change is admitted under the old policy. What
        # counts is when the last admitted request was sent, not when the refusal came back (on a loaded machine a
        # round trip alone can take a good part of a second).
        changed, last_admitted_sent = time.monotonic(), 0.0
        while True:
            sent = time.monotonic() - changed
            try:
                client.messages.create(model=SONNET, max_tokens=16, messages=MESSAGES)
            except anthropic.BadRequestError as exc:
                assert message(exc).startswith("features.require_user_id: ")
                break
            last_admitted_sent = sent
            assert sent < 5.0, "the policy was not in force after five seconds"
            time.sleep(0.02)
        assert last_admitted_sent < 1.0, last_admitted_sent


def test_compliance_group_regions_are_enforced(gateway: Gateway) -> None:
    headers = {"x-api-key": gateway.admin_key}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=10) as http:
        group = http.post("/v1/admin/compliance/groups", json={"name": "us-only", "restrictions": {
            "allowed_regions": ["us-east-1"]}})
        assert group.status_code == 200, group.text
        joined = http.post(f"/v1/admin/compliance/groups/{group.json()['id']}/workspaces",
                           json={"workspace_id": gateway.workspace_ids["eng"]})
        assert joined.status_code == 200, joined.text
    gateway.sync_config()
    with gateway.client("eng") as client:
        error = refused(lambda: client.messages.create(model=SONNET, max_tokens=16, messages=MESSAGES),
                        anthropic.PermissionDeniedError, "compliance.allowed_regions")
        assert "set inference_geo to one of us" in message(error)
        done = client.messages.create(model=SONNET, max_tokens=16, messages=MESSAGES, inference_geo="us")
        assert done.type == "message"
