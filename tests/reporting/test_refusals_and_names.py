"""Real traffic through the gateway, some of it refused by Steward itself (no valid key, a policy, a budget, a
malformed body): refused requests write no usage record and are absent from usage reports, and the refusals
report counts them by reason, workspace, key and model, with names. Steward's own report rows carry names and
sort by cost; the CLI answers "who spent the most this week, on what" in one command, with names, a totals row
and dollars as a person reads them, and CSV keeps plain numbers with name columns."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import pytest

from steward.controlplane.services import ControlPlane
from steward.reporting.refusals import reason_of
from tests.support import Gateway, run_steward

SONNET = "claude-sonnet-4-6"
HAIKU = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Hello"}]
ADMIN_EMAIL = "admin@test.example"  # tests.support.provision's first admin


def _request_id(error: anthropic.APIStatusError) -> str:
    return str(error.response.headers["request-id"])


def _traffic(gw: Gateway) -> dict[str, Any]:
    """Forwarded: three Sonnet calls from eng (one as the admin's email), one Haiku call from marketing. Refused
    by Steward: Sonnet from marketing (policy), a wrong key, a malformed body, and a call over eng's budget."""
    forwarded, refused = [], {}
    with gw.client("eng") as client:
        for user in ("alice", ADMIN_EMAIL, None):
            raw = client.messages.with_raw_response.create(
                model=SONNET, max_tokens=400, messages=HELLO, **({"metadata": {"user_id": user}} if user else {}))
            forwarded.append(raw.headers["request-id"])
    with gw.client("marketing") as client:
        forwarded.append(client.messages.with_raw_response.create(model=HAIKU, max_tokens=10, messages=HELLO)
                         .headers["request-id"])
        with pytest.raises(anthropic.PermissionDeniedError) as denied:
            client.messages.create(model=SONNET, max_tokens=10, messages=HELLO)
        refused["policy"] = _request_id(denied.value)
    with anthropic.Anthropic(base_url=gw.url, api_key="sk-ant-api03-not-a-key", max_retries=0) as stranger:
        with pytest.raises(anthropic.AuthenticationError) as unknown:
            stranger.messages.create(model=SONNET, max_tokens=10, messages=HELLO)
        refused["authentication"] = _request_id(unknown.value)
    with httpx.Client(base_url=gw.url, timeout=10) as http:
        malformed = http.post("/v1/messages", content=b"{not json", headers={
            "x-api-key": gw.keys["eng"], "anthropic-version": "2023-06-01", "content-type": "application/json"})
        assert malformed.status_code == 400
        refused["validation"] = malformed.headers["request-id"]

    async def cap(plane: ControlPlane) -> None:  # one cent a day: a 20,000-token Sonnet answer cannot fit
        await plane.admin.spend_limits.create(await plane.system(), {
            "type": "workspace", "workspace_id": gw.workspace_ids["eng"]}, "daily", "1")
    gw.control(cap)
    gw.sync_config()
    with gw.client("eng") as client, \
            pytest.raises(anthropic.BadRequestError, match="does not fit in workspace eng") as over:
        client.messages.create(model=SONNET, max_tokens=20_000, messages=HELLO)
    refused["budget"] = _request_id(over.value)
    assert len(gw.wait_usage(forwarded)) == len(forwarded)
    assert len(gw.wait_audit(list(refused.values()))) == len(refused)
    return {"forwarded": forwarded, "refused": refused}


@pytest.fixture
def traffic(gateway: Gateway) -> dict[str, Any]:
    return _traffic(gateway)


def _report(gw: Gateway, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    async def action(plane: ControlPlane) -> dict[str, Any]:
        report: dict[str, Any] = await getattr(plane.admin.reports, name)(await plane.system(), *args, **kwargs)
        return report
    return dict(gw.control(action))


def test_refused_requests_are_audited_with_a_reason_and_have_no_usage_record(gateway: Gateway,
                                                                             traffic: dict[str, Any]) -> None:
    refused = traffic["refused"]
    assert gateway.usage(list(refused.values())) == []
    rows = gateway.usage()
    assert sorted(r.request_id for r in rows) == sorted(traffic["forwarded"])
    for reason, request_id in refused.items():
        [event] = gateway.audit([request_id])
        assert event.decision == "refused" and (event.data or {})["refusal"] == reason
        assert reason_of({"event": event.event, "status": event.status, "reason": event.reason,
                          "data": event.data}) == reason


def test_usage_reports_count_only_forwarded_requests(gateway: Gateway, traffic: dict[str, Any]) -> None:
    usage = _report(gateway, "seed_usage", None, None, ["model", "workspace"])
    assert {(r["model"], r["workspace_name"], r["requests"]) for r in usage["data"]} == {
        (SONNET, "eng", 3), (HAIKU, "marketing", 1)}  # no refused Sonnet call from marketing, no budget refusal
    cost = _report(gateway, "seed_cost", None, None, ["workspace"])
    assert sum(r["requests"] for r in cost["data"]) == len(traffic["forwarded"])


def test_the_refusals_report_groups_by_reason_workspace_key_and_model_with_names(
        gateway: Gateway, traffic: dict[str, Any]) -> None:
    by_reason = _report(gateway, "refusals", None, None, ["reason"])
    assert {r["reason"]: r["refusals"] for r in by_reason["data"]} == {
        "policy": 1, "authentication": 1, "validation": 1, "budget": 1}
    assert by_reason["total_refusals"] == 4
    detailed = _report(gateway, "refusals", None, None, ["reason", "workspace", "key", "model"])
    rows = {r["reason"]: r for r in detailed["data"]}
    assert rows["budget"] | {"refusals": 1} == {
        "reason": "budget", "workspace_id": gateway.workspace_ids["eng"], "workspace_name": "eng",
        "api_key_id": gateway.key_ids["eng"], "api_key_name": "eng-test-inference", "model": SONNET,
        "refusals": 1}
    assert rows["policy"]["workspace_name"] == "marketing" and rows["policy"]["model"] == SONNET
    assert rows["authentication"]["workspace_id"] is None  # no valid key: no workspace
    narrowed = _report(gateway, "refusals", None, None, ["reason"], [gateway.workspace_ids["marketing"]])
    assert [(r["reason"], r["refusals"]) for r in narrowed["data"]] == [("policy", 1)]


def test_steward_reports_name_ids_and_sort_by_cost(gateway: Gateway, traffic: dict[str, Any]) -> None:
    by_key = _report(gateway, "seed_cost", None, None, ["key", "model"])["data"]
    assert [(r["api_key_name"], r["model"]) for r in by_key] == [("eng-test-inference", SONNET),
                                                                ("marketing-test-inference", HAIKU)]
    assert Decimal(by_key[0]["cost_usd"]) > Decimal(by_key[1]["cost_usd"])
    by_name = _report(gateway, "seed_cost", None, None, ["workspace"], sort="name")["data"]
    assert [r["workspace_name"] for r in by_name] == ["eng", "marketing"]
    cheap_first = _report(gateway, "seed_usage", None, None, ["workspace"], sort="requests")["data"]
    assert [r["requests"] for r in cheap_first] == [3, 1]
    users = {r["user_id"]: r["user_name"] for r in _report(gateway, "seed_usage", None, None, ["user"])["data"]}
    assert users["alice"] is None and users[None] is None  # end-user strings that are no Steward user
    assert users[ADMIN_EMAIL] is not None and ADMIN_EMAIL in users[ADMIN_EMAIL]


def _steward(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEWARD_HOME": str(gateway.settings.home), "COLUMNS": "220",
           "STEWARD_DATABASE_URL": gateway.settings.resolved_database_url()}
    result = run_steward(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result


def test_one_cli_command_says_who_spent_the_most_this_week_on_what(gateway: Gateway,
                                                                   traffic: dict[str, Any]) -> None:
    table = _steward(gateway, "usage", "cost", "--group-by", "key,model", "--since", "7d").stdout
    for workspace in ("eng", "marketing"):  # the name, and the id under it (Rich wraps the cell at the space)
        assert f"{workspace}-test-inference" in table and f"({gateway.key_ids[workspace]})" in table, table
    assert table.index("eng-test-inference") < table.index("marketing-test-inference")  # most expensive first
    assert "API key" in table and "total" in table and "$" in table
    assert "refus" not in table.lower() and "claude-nonexistent" not in table
    by_name = _steward(gateway, "usage", "cost", "--group-by", "workspace", "--sort", "name").stdout
    assert by_name.index(f"eng ({gateway.workspace_ids['eng']})") < by_name.index("marketing (")
    as_csv = _steward(gateway, "usage", "cost", "--group-by", "key,model", "--since", "7d", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0])[:3] == ["api_key_id", "api_key_name", "model"]
    assert [r["api_key_name"] for r in rows] == ["eng-test-inference", "marketing-test-inference"]
    assert all("$" not in r["cost_usd"] and "," not in r["cost_usd"] for r in rows)
    users = _steward(gateway, "usage", "report", "--group-by", "user").stdout
    assert "end user (metadata.user_id)" in users and "Steward user" in users and ADMIN_EMAIL in users


def test_the_cli_refusals_report(gateway: Gateway, traffic: dict[str, Any]) -> None:
    table = _steward(gateway, "usage", "refusals", "--group-by", "reason,workspace", "--since", "7d").stdout
    for reason in ("budget", "policy", "authentication", "validation"):
        assert reason in table
    assert f"eng ({gateway.workspace_ids['eng']})" in table and "4 in all" in table
    as_csv = _steward(gateway, "usage", "refusals", "--group-by", "key", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert {r["api_key_name"]: int(r["refusals"]) for r in rows} == {
        "eng-test-inference": 2, "marketing-test-inference": 1, "": 1}


def test_refusals_over_http(gateway: Gateway, traffic: dict[str, Any]) -> None:
    today = datetime.now(UTC).date().isoformat()
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        got = http.get("/v1/admin/usage/refusals", params={"group_by": "reason", "start_date": today},
                       headers={"x-api-key": gateway.admin_key})
        assert got.status_code == 200, got.text
        assert got.json()["total_refusals"] == 4
        bad = http.get("/v1/admin/usage/refusals", params={"group_by": "colour"},
                       headers={"x-api-key": gateway.admin_key})
        assert bad.status_code == 400
        unsorted = http.get("/v1/admin/usage/cost", params={"sort": "size"}, headers={"x-api-key": gateway.admin_key})
        assert unsorted.status_code == 400


def test_cli_messages_name_people_and_workspaces(gateway: Gateway, traffic: dict[str, Any]) -> None:
    admin = {"x-api-key": gateway.admin_key}
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        [cap] = http.get("/v1/organizations/spend_limits", headers=admin).json()["data"]  # the fixture's one-cent cap
        asked = http.post("/v1/organizations/spend_limit_increase_requests", headers=admin,
                          json={"spend_limit_id": cap["id"], "amount": "500", "reason": "launch"})
        assert asked.status_code == 200, asked.text
    assert ADMIN_EMAIL in _steward(gateway, "spend-requests", "list").stdout  # "by": the person, not user_...
    done = _steward(gateway, "policy", "set", "-w", "marketing", "--document", '{"features": {"max_tokens_max": 64}}')
    assert f"Policy of workspace marketing ({gateway.workspace_ids['marketing']}) is now at version" in done.stdout
    shown = _steward(gateway, "policy", "show", "-w", "marketing").stdout
    assert shown.startswith(f"Workspace marketing ({gateway.workspace_ids['marketing']}): policy v")


def test_the_python_sdk_reads_the_refusals_report(gateway: Gateway, traffic: dict[str, Any]) -> None:
    from steward.sdk import AdminClient

    with AdminClient(base_url=gateway.url, api_key=gateway.admin_key) as admin:
        by_reason = admin.reports.refusals(start_date=datetime.now(UTC).date())
        assert by_reason.total_refusals == 4 and by_reason.group_by == ["reason"]
        assert {r["reason"]: r["refusals"] for r in by_reason.data} == {
            "policy": 1, "authentication": 1, "validation": 1, "budget": 1}
        narrowed = admin.reports.refusals(group_by=["reason", "workspace"],
                                          workspace_ids=[gateway.workspace_ids["marketing"]])
        assert [(r["reason"], r["workspace_name"], r["refusals"]) for r in narrowed.data] == [
            ("policy", "marketing", 1)]


def test_every_refusal_reason_is_named_in_the_help_and_the_docs() -> None:
    """The newcomer found `--help` and docs/cli.md listing different reasons."""
    from pathlib import Path

    from steward.cli.reports import usage_refusals
    from steward.reporting.refusals import REASONS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    help_text = " ".join((usage_refusals.__doc__ or "").split())
    for reason in REASONS:
        assert reason in help_text and f"`{reason}`" in doc, reason
