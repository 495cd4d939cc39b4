"""The policy Admin API through the Python SDK against a real gateway: set, read, version, audit, remove, list,
history, validation errors with field paths, the dry run and the CLI's check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from steward.cli.main import app
from steward.controlplane.services import ControlPlane
from steward.governance.catalog import packaged_bytes
from steward.sdk import AdminClient, BadRequestError, NotFoundError
from tests.support import Gateway

REQUEST: Any = {"model": "claude-opus-4-7", "max_tokens": 9000, "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"name": "run_sql", "input_schema": {"type": "object"}}]}


def admin(gateway: Gateway) -> AdminClient:
    return AdminClient(base_url=gateway.url, api_key=gateway.admin_key, max_retries=0)


def test_put_get_version_audit_delete(gateway: Gateway) -> None:
    eng = gateway.workspace_ids["eng"]
    with admin(gateway) as client:
        assert client.policies.get().document is None
        first = client.policies.put({"models": {"deny": ["claude-opus-*"]}})
        assert first.version == 1 and first.scope == "organization"
        again = client.policies.put({"models": {"deny": ["claude-opus-*"]}})  # identical: nothing changes
        assert again.version == 1
        second = client.policies.put({"features": {"tools": False}}, scope="workspace", scope_id=eng)
        assert second.version == 2 and second.scope_id == eng
        read = client.policies.get("workspace", eng)
        assert read.document == {"features": {"tools": False}} and read.version == 2 and read.updated_by
        listed = client.policies.list().data
        assert {(p.scope, p.version) for p in listed} == {("organization", 1), ("workspace", 2)}
        removed = client.policies.delete("workspace", eng)
        assert removed.version == 3
        with pytest.raises(NotFoundError):
            client.policies.delete("workspace", eng)
        history = list(client.policies.versions(limit=2))
        assert [v.version for v in history] == [3, 2, 1]
        assert history[0].document is None and history[0].source == "api"
    events = gateway.control(lambda p: p.records.latest_audit(50))
    updates = [e for e in events if e.event.startswith("admin.policies.")]
    assert sorted(e.event for e in updates) == ["admin.policies.delete", "admin.policies.update",
                                                "admin.policies.update"]
    workspace_update = next(e for e in updates if e.event == "admin.policies.update" and e.workspace_id == eng)
    assert workspace_update.data is not None
    assert workspace_update.data["after"] == {"document": {"features": {"tools": False}}}
    assert workspace_update.data["target"]["version"] == 2


@pytest.mark.parametrize(("document", "message"), [
    ({"features": {"max_tokens_max": -1}}, "policy: features.max_tokens_max: must be a positive integer"),
    ({"models": {"aliases": {"claude-sonnet": "nope"}}}, "policy: models.aliases.claude-sonnet: 'nope' is not a"),
    ({"unknown": 1}, "policy: policy.unknown: unknown field"),
])
def test_bad_documents_are_400_with_the_field_path(gateway: Gateway, document: dict[str, Any], message: str) -> None:
    with admin(gateway) as client, pytest.raises(BadRequestError) as info:
        client.policies.put(document)
    assert info.value.message.startswith(message), info.value.message


def test_dry_run_returns_every_refusing_rule_without_calling_upstream(gateway: Gateway) -> None:
    eng, key = gateway.workspace_ids["eng"], gateway.key_ids["eng"]
    with admin(gateway) as client:
        client.policies.put({"models": {"deny": ["claude-opus-*"]}, "features": {"max_tokens_max": 4096}})
        client.policies.put({"features": {"tools": False}, "shadow": ["features.tools"]}, scope="workspace",
                            scope_id=eng)
        client.policies.put({"features": {"require_user_id": True}}, scope="key", scope_id=key)
        result = client.policies.check(eng, REQUEST)
        assert not result.allowed and result.policy_version == 3
        assert [(d.rule, d.action, d.status) for d in result.decisions] == [
            ("models.deny", "refuse", 403), ("features.tools", "shadow", 403),
            ("features.max_tokens_max", "refuse", 400)]
        with_key = client.policies.check(eng, REQUEST, api_key_id=key)
        assert [d.rule for d in with_key.decisions][-1] == "features.require_user_id"
        fine = client.policies.check(eng, {"model": "claude-sonnet-4-6", "max_tokens": 10,
                                           "messages": [{"role": "user", "content": "hi"}]})
        assert fine.allowed and fine.decisions == []
        unknown = client.policies.check(eng, {**REQUEST, "model": "claude-nothing-1"})  # forwarded by default
        assert "models.catalog" not in [d.rule for d in unknown.decisions]
        assert unknown.catalog["outcome"] == "forwarded"
    sent = gateway.usage()
    assert sent == []  # nothing reached the data plane


BODY: Any = {"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def test_dry_run_reports_an_unlisted_model_as_forwarded_and_how_it_is_priced(gateway: Gateway) -> None:
    eng = gateway.workspace_ids["eng"]
    with admin(gateway) as client:
        opus = client.policies.check(eng, {**BODY, "model": "claude-opus-6"})
        zephyr = client.policies.check(eng, {**BODY, "model": "claude-zephyr-1"})
        client.policies.put({"models": {"deny": ["claude-opus-*"]}})
        denied = client.policies.check(eng, {**BODY, "model": "claude-opus-6"})
    # Before: refused with Steward's 404, which the gateway (STEWARD_UNKNOWN_MODELS=forward) does not do.
    assert opus.allowed and opus.decisions == []
    assert opus.catalog["outcome"] == "forwarded" and opus.catalog["listed"] is False
    assert (opus.catalog["family"], opus.catalog["priced_as"]) == ("opus", "claude-opus-5-5")
    assert "priced by family opus (as claude-opus-5-5)" in opus.catalog["message"]
    assert zephyr.allowed and zephyr.catalog["priced_as"] is None
    assert "recorded as unpriced" in zephyr.catalog["message"]
    assert [(d.rule, d.status) for d in denied.decisions] == [("models.deny", 403)]  # policies still apply by name


def test_dry_run_under_refuse_names_the_setting(gateway: Gateway) -> None:
    strict = gateway.settings.model_copy(update={"unknown_models": "refuse"})

    async def check(plane: ControlPlane) -> dict[str, Any]:
        return await plane.admin.policies.check(await plane.system(), gateway.workspace_ids["eng"], None,
                                                {**BODY, "model": "claude-opus-6"})
    result = Gateway(gateway.url, strict).control(check)
    assert not result["allowed"] and result["catalog"]["outcome"] == "refused"
    [decision] = result["decisions"]
    assert (decision["rule"], decision["status"]) == ("models.catalog", 404)
    assert "STEWARD_UNKNOWN_MODELS=refuse" in decision["message"]


def test_policy_aliases_and_the_dry_run_use_the_imported_catalog(gateway: Gateway) -> None:
    document = json.loads(packaged_bytes())
    document["version"] = "2026-12-06.opus-6"
    document["models"].insert(0, {**next(m for m in document["models"] if m["id"] == "claude-opus-5-5"),
                                  "id": "claude-opus-6", "aliases": ["claude-opus-6-0"],
                                  "display_name": "Claude Opus 6", "created_at": "2026-12-01"})
    eng = gateway.workspace_ids["eng"]
    with admin(gateway) as client:
        with pytest.raises(BadRequestError, match="claude-opus-6"):  # not in the packaged file
            client.policies.put({"models": {"aliases": {"opus": "claude-opus-6"}}})
        stored = httpx.post(f"{gateway.url}/v1/admin/catalog", json=document,
                            headers={"x-api-key": gateway.admin_key})
        assert stored.status_code == 200, stored.text
        client.policies.put({"models": {"aliases": {"opus": "claude-opus-6"}}})  # before: 400
        result = client.policies.check(eng, {**BODY, "model": "opus"})
    assert result.allowed and result.model == "claude-opus-6"
    assert result.catalog["outcome"] == "listed" and result.catalog["priced_as"] == "claude-opus-6"


def test_cli_check_prints_every_refusing_rule(gateway: Gateway, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with admin(gateway) as client:
        client.policies.put({"models": {"deny": ["claude-opus-*"]}, "features": {"max_tokens_max": 4096}})
    body = tmp_path / "body.json"
    body.write_text(json.dumps(REQUEST))
    monkeypatch.setenv("STEWARD_DATABASE_URL", gateway.settings.resolved_database_url())
    monkeypatch.setenv("STEWARD_HOME", str(gateway.settings.home))
    result = CliRunner().invoke(app, ["policy", "check", "-w", "eng", "-f", str(body)])
    assert result.exit_code == 1, result.output
    assert "refused (policy v1" in result.output
    assert "models.deny" in result.output and "features.max_tokens_max" in result.output
    unlisted = json.dumps({**BODY, "model": "claude-zephyr-1"})
    forwarded = CliRunner().invoke(app, ["policy", "check", "-w", "eng", "--request", unlisted, "--json"])
    assert forwarded.exit_code == 0, forwarded.output
    assert json.loads(forwarded.output)["catalog"]["outcome"] == "forwarded"
    monkeypatch.setenv("STEWARD_UNKNOWN_MODELS", "refuse")
    refused = CliRunner().invoke(app, ["policy", "check", "-w", "eng", "--request", unlisted])
    assert refused.exit_code == 1 and "models.catalog" in refused.output
    shown = CliRunner().invoke(app, ["policy", "show", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)["document"]["models"] == {"deny": ["claude-opus-*"]}


def test_dry_run_counts_personal_data_and_names_the_refusing_detector(gateway: Gateway) -> None:
    eng = gateway.workspace_ids["eng"]
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10,
            "messages": [{"role": "user", "content": "Mail ada@example.com or bob@example.org about it"}]}
    with admin(gateway) as client:
        client.policies.put({"pii": {"detectors": {"email": "refuse"}}}, scope="workspace", scope_id=eng)
        result = client.policies.check(eng, body)
    assert not result.allowed and result.pii == {"email": 2}
    [decision] = result.decisions
    assert (decision.rule, decision.action, decision.status) == ("pii.email", "refuse", 400)
    assert "ada@example.com" not in decision.message  # never the text
