"""``steward plan``, ``apply`` and ``export`` on examples/three-teams.yaml (SQLite and PostgreSQL): the first
plan lists every change (exit 2 with --detailed-exitcode), apply makes them through the services, a second plan
and apply change nothing, an export plans clean, --prune removes what a described scope no longer names, and a
bad file is refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from steward.cli.main import app
from steward.controlplane.paging import Paging
from steward.controlplane.services import ControlPlane
from steward.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-teams.yaml"


class Cli:
    def __init__(self, home: Path, database_url: str) -> None:
        self.env = {"STEWARD_HOME": str(home), "STEWARD_DATABASE_URL": database_url, "COLUMNS": "200"}
        self.settings = Settings(home=home, database_url=database_url)

    def __call__(self, *args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, list(args), env=self.env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    def control(self, action: Any) -> Any:
        import asyncio

        async def main() -> Any:
            plane = ControlPlane(self.settings)
            try:
                return await action(plane, await plane.system())
            finally:
                await plane.close()
        return asyncio.run(main())


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    runner = Cli(tmp_path / "home", database_url)
    runner("init", "--name", "Acme", "--admin-email", "admin@acme.example")
    return runner


def test_plan_apply_is_idempotent_and_export_round_trips(cli: Cli, tmp_path: Path) -> None:
    first = cli("plan", "-f", str(EXAMPLE), "--detailed-exitcode", code=2)
    for line in ("+ compliance group finance-audit", "+ workspace marketing", "+ workspace marketing policy",
                 "+ workspace marketing spend limit monthly", "+ workspace finance in compliance group finance-audit",
                 "+ organization policy"):
        assert line in first, first
    applied = cli("apply", "-f", str(EXAMPLE))
    assert "Applied" in applied
    assert "No changes" in cli("plan", "-f", str(EXAMPLE), "--detailed-exitcode")
    assert "No changes" in cli("apply", "-f", str(EXAMPLE))

    async def state(plane: ControlPlane, me: Any) -> dict[str, Any]:
        workspaces = {w["name"]: w["id"] for w in (await plane.admin.workspaces.list(me, Paging.of(100)))["data"]}
        return {"policy": await plane.admin.policies.get(me, "workspace", workspaces["marketing"]),
                "finance": await plane.admin.policies.get(me, "workspace", workspaces["finance"]),
                "spend": (await plane.admin.spend_limits.list(me, Paging.of(100)))["data"],
                "group": await plane.admin.compliance_groups.find(me, "finance-audit"), "ids": workspaces}
    live = cli.control(state)
    assert live["policy"]["document"]["features"] == {"tools": False, "server_tools": False, "thinking": False}
    assert live["finance"]["document"] == {"features": {"structured_output": "required"}}
    [spend] = live["spend"]
    assert (spend["amount"], spend["period"], spend["hard"], spend["alert_thresholds"]) == \
        ("50000", "monthly", True, [50, 80, 95])
    assert spend["scope"] == {"type": "workspace", "workspace_id": live["ids"]["marketing"]}
    assert live["group"]["workspace_ids"] == [live["ids"]["finance"]]
    assert live["group"]["restrictions"]["audit_level"] == "full"

    exported = tmp_path / "live.yaml"
    cli("export", "-o", str(exported))
    document = yaml.safe_load(exported.read_text())
    assert {w["name"] for w in document["workspaces"]} == {"engineering", "marketing", "finance"}
    assert "No changes" in cli("plan", "-f", str(exported), "--detailed-exitcode")
    assert cli("export") == exported.read_text()


def test_prune_removes_only_what_a_described_scope_no_longer_names(cli: Cli, tmp_path: Path) -> None:
    cli("apply", "-f", str(EXAMPLE))
    document = yaml.safe_load(EXAMPLE.read_text())
    marketing = next(w for w in document["workspaces"] if w["name"] == "marketing")
    del marketing["spend_limits"]
    marketing["policy"]["features"]["max_tokens_max"] = 1024
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(document))
    plan = cli("plan", "-f", str(changed), "--detailed-exitcode", code=2)
    assert "~ workspace marketing policy" in plan and "spend limit" not in plan
    pruned = cli("plan", "-f", str(changed), "--prune")
    assert "- workspace marketing spend limit monthly" in pruned
    cli("apply", "-f", str(changed), "--prune")
    assert "No changes" in cli("plan", "-f", str(changed), "--prune", "--detailed-exitcode")
    spend = cli.control(lambda plane, me: plane.admin.spend_limits.list(me, Paging.of(10)))
    assert spend["data"] == []


@pytest.mark.parametrize(("text", "message"), [
    ("workspaces: [{name: x, polcy: {}}]", "workspaces[0].polcy: unknown field"),
    ("workspaces: [{name: x, spend_limits: [{period: monthly, amount_usd: 1.234}]}]", "amount_usd"),
    ("compliance_groups: [{name: g, restrictions: {audit_level: all}}]", "restrictions.audit_level"),
    ("workspaces: [{name: x, compliance_groups: [nope]}]", "'nope' is not a group in the file"),
    ("organization: [1, 2]", "organization: a mapping"),
    ("workspaces: [{name: x, policy: {features: {tools: maybe}}}]", "features.tools"),
])
def test_bad_files_are_refused_naming_the_field(cli: Cli, tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = CliRunner().invoke(app, ["apply", "-f", str(bad)], env=cli.env)
    assert result.exit_code == 1, result.output
    assert message in result.output, result.output


def test_limits_and_groups_round_trip(cli: Cli, tmp_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text("""
organization:
  policy: {models: {deny: ["claude-opus-*"]}}
  rate_limits: {rl_sonnet: {requests_per_minute: 2000, output_tokens_per_minute: 400000}}
  spend_limits: [{period: monthly, amount_usd: 10000.50, hard: false, alert_thresholds: [80]}]
compliance_groups:
  - {name: soc2, restrictions: {data_retention_days: 30}, legal_hold: true}
workspaces:
  - name: research
    allowed_models: ["claude-sonnet-*"]
    rate_limits: {rl_sonnet: {requests_per_minute: 100}}
    spend_limits: [{period: daily, amount_usd: 25}]
    compliance_groups: [soc2]
""")
    out = cli("apply", "-f", str(org))
    assert "+ workspace research" in out and "+ organization rate limits rl_sonnet" in out
    assert "No changes" in cli("plan", "-f", str(org), "--prune", "--detailed-exitcode")
    exported = tmp_path / "live.yaml"
    cli("export", "-o", str(exported))
    document = yaml.safe_load(exported.read_text())
    assert document["organization"]["spend_limits"] == [
        {"period": "monthly", "amount_usd": "10000.5", "hard": False, "alert_thresholds": [80]}]
    assert document["compliance_groups"][0]["legal_hold"] is True
    [research] = document["workspaces"]
    assert research["rate_limits"] == {"rl_sonnet": {"requests_per_minute": 100}}
    assert "No changes" in cli("plan", "-f", str(exported), "--prune", "--detailed-exitcode")

    org.write_text(org.read_text().replace("requests_per_minute: 100", "requests_per_minute: 150"))
    changed = cli("plan", "-f", str(org), "--detailed-exitcode", code=2)
    assert "~ workspace research rate limits rl_sonnet" in changed and "150" in changed


def _people_and_keys(cli: Cli) -> dict[str, str]:
    """Two members (by invitation) and two keys in workspace eng, one of them created by Alice: what a file names
    but apply never creates. Returns Alice's user id and the key ids."""
    async def action(plane: ControlPlane, me: Any) -> dict[str, str]:
        eng = (await plane.admin.workspaces.create(me, "eng"))["id"]
        out = {"eng": eng}
        for name in ("alice", "bob"):
            invite = await plane.admin.invitations.create(me, f"{name}@acme.example", "developer")
            out[name] = (await plane.admin.invitations.accept(invite["token"], name.title()))["user"]["id"]
        out["ci"] = (await plane.admin.keys.create(me, eng, "eng-ci-bot"))["id"]
        out["batch"] = (await plane.admin.keys.create(me, eng, "eng-batch-jobs"))["id"]
        return out
    ids: dict[str, str] = cli.control(action)
    return ids


def test_export_covers_every_limit_and_round_trips_to_a_fresh_org(cli: Cli, tmp_path: Path) -> None:
    ids = _people_and_keys(cli)
    cli("rate-limits", "set", "rl_sonnet", "--type", "requests_per_minute", "--value", "500")
    cli("rate-limits", "set", "rl_sonnet", "--type", "requests_per_minute", "--value", "50", "--workspace", "eng")
    cli("rate-limits", "set", "rl_haiku", "--type", "output_tokens_per_minute", "--value", "9000", "--key", ids["ci"])
    cli("spend-limits", "create", "--organization", "--amount-usd", "5000", "--soft")
    cli("spend-limits", "create", "--workspace", "eng", "--amount-usd", "500", "--thresholds", "80")
    cli("spend-limits", "create", "--key", ids["ci"], "--period", "daily", "--amount-usd", "12.50")
    cli("spend-limits", "create", "--person", "alice@acme.example", "--period", "weekly", "--amount-usd", "40")
    cli("spend-limits", "create", "--end-user", "customer-42", "--period", "daily", "--amount-usd", "2")

    exported = tmp_path / "live.yaml"
    cli("export", "-o", str(exported))
    document = yaml.safe_load(exported.read_text())
    [eng] = document["workspaces"]
    assert eng["keys"] == [{"name": "eng-ci-bot", "rate_limits": {"rl_haiku": {"output_tokens_per_minute": 9000}},
                            "spend_limits": [{"period": "daily", "amount_usd": "12.5", "hard": True,
                                              "alert_thresholds": [50, 80, 95]}]}]
    assert document["people"] == [{"email": "alice@acme.example", "spend_limits": [
        {"period": "weekly", "amount_usd": 40, "hard": True, "alert_thresholds": [50, 80, 95]}]}]
    assert document["end_users"] == [{"user_id": "customer-42", "spend_limits": [
        {"period": "daily", "amount_usd": 2, "hard": True, "alert_thresholds": [50, 80, 95]}]}]
    assert "No changes" in cli("plan", "-f", str(exported), "--prune", "--detailed-exitcode")

    # A fresh organization with the same people and keys (apply creates neither) takes the file whole.
    fresh = Cli(tmp_path / "fresh", f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    fresh("init", "--name", "Acme", "--admin-email", "admin@acme.example")
    fresh_ids = _people_and_keys(fresh)
    planned = fresh("plan", "-f", str(exported), "--detailed-exitcode", code=2)
    for line in ("+ workspace eng key eng-ci-bot rate limits rl_haiku", "+ workspace eng key eng-ci-bot spend limit "
                 "daily", "+ person alice@acme.example spend limit weekly", "+ end user customer-42 spend limit daily"):
        assert line in planned, planned
    fresh("apply", "-f", str(exported))
    assert "No changes" in fresh("plan", "-f", str(exported), "--prune", "--detailed-exitcode")
    assert fresh("export") == exported.read_text()
    limits = fresh.control(lambda plane, me: plane.admin.spend_limits.list(me, Paging.of(100)))["data"]
    scopes = {(s["scope"]["type"], s["scope"].get("api_key_id") or s["scope"].get("user_id")) for s in limits}
    assert {("api_key", fresh_ids["ci"]), ("person", fresh_ids["alice"]), ("end_user", "customer-42")} <= scopes


def test_a_file_naming_a_missing_key_or_person_is_refused(cli: Cli, tmp_path: Path) -> None:
    _people_and_keys(cli)
    for text, message in (
            ("workspaces: [{name: eng, keys: [{name: eng-gone-key, spend_limits: [{period: daily, amount_usd: 1}]}]}]",
             "no live key of that name or id in workspace eng"),
            ("people: [{email: carol@acme.example, spend_limits: [{period: daily, amount_usd: 1}]}]",
             "no member of the organization with this email address")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        result = CliRunner().invoke(app, ["plan", "-f", str(bad)], env=cli.env)
        assert result.exit_code == 1 and message in result.output, result.output


def test_a_person_cap_on_someone_who_left_is_named_by_export_and_plan(cli: Cli, tmp_path: Path) -> None:
    """The adversary: a removed member's person cap is still enforced on the keys they created, but the file names
    people by email, so export dropped it silently and plan said the organization matched. Both now say so."""
    ids = _people_and_keys(cli)
    limit = json.loads(cli("spend-limits", "create", "--person", "bob@acme.example", "--amount-usd", "5", "--json"))
    cli.control(lambda plane, me: plane.admin.users.remove(me, ids["bob"]))
    exported = tmp_path / "live.yaml"
    said = cli("export", "-o", str(exported))
    note = f"spend limit {limit['id']} caps {ids['bob']}, who is no longer a member"
    assert note in " ".join(said.split()) and limit["id"] not in exported.read_text()
    planned = cli("plan", "-f", str(exported))
    assert note in " ".join(planned.split()) and "No changes" in planned
