"""The policy Admin API through the Python SDK against a real gateway: set, read, version, audit, remove, list,
history, validation errors with field paths, the dry run and the CLI's check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from steward.cli.main import app
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
        unknown = client.policies.check(eng, {**REQUEST, "model": "claude-nothing-1"})
        assert unknown.decisions[0].rule == "models.catalog" and unknown.decisions[0].status == 404
    sent = gateway.usage()
    assert sent == []  # nothing reached the data plane


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
