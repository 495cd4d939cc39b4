"""Policies (dry run), usage and cost (with CSV), audit and compliance pages over HTTP, on both backends."""

from __future__ import annotations

import csv
import io

from tests.console.test_http import _csrf, _sign_in
from tests.support import Gateway

SONNET_BODY = '{"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}'


def test_policy_dry_run(gateway: Gateway) -> None:
    http = _sign_in(gateway, gateway.admin_key)
    page = http.get("/console/policies")
    assert page.status_code == 200 and "Dry run" in page.text
    token = _csrf(page.text)
    refused = http.post("/console/policies/check", data={
        "csrf_token": token, "workspace_id": gateway.workspace_ids["marketing"], "body": SONNET_BODY})
    assert refused.status_code == 200 and 'id="check-verdict">Refused<' in refused.text
    allowed = http.post("/console/policies/check", data={
        "csrf_token": token, "workspace_id": gateway.workspace_ids["eng"], "body": SONNET_BODY})
    assert 'id="check-verdict">Allowed<' in allowed.text
    bad = http.post("/console/policies/check", data={
        "csrf_token": token, "workspace_id": gateway.workspace_ids["eng"], "body": "{not json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.text


def test_usage_report_and_csv(gateway: Gateway) -> None:
    client = gateway.client("eng")
    ids = [client.messages.create(model="claude-sonnet-4-6", max_tokens=20,
                                  messages=[{"role": "user", "content": "hello"}])._request_id for _ in range(2)]
    gateway.wait_usage([i for i in ids if i])
    http = _sign_in(gateway, gateway.admin_key)
    params = [("group_by", "workspace"), ("group_by", "model")]
    page = http.get("/console/usage", params=params)
    assert page.status_code == 200 and gateway.workspace_ids["eng"] in page.text
    download = http.get("/console/usage", params=[*params, ("format", "csv")])
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    eng = [r for r in rows if r["workspace_id"] == gateway.workspace_ids["eng"]]
    assert eng and eng[0]["model"] == "claude-sonnet-4-6" and int(eng[0]["requests"]) == 2
    cost = http.get("/console/usage", params=[("report", "cost"), ("group_by", "workspace")])
    assert cost.status_code == 200 and "total $" in cost.text


def test_audit_pages_for_admin_and_refusal_for_viewer(gateway: Gateway) -> None:
    from tests.controlplane.test_permissions import setup_principals

    world = setup_principals(gateway)
    http = _sign_in(gateway, gateway.admin_key)
    feed = http.get("/console/audit", params={"activity_type": "admin.invitations.create"})
    assert feed.status_code == 200 and feed.text.count("<td>admin.invitations.create</td>") == 7
    verified = http.get("/console/audit", params={"verify": "1"})
    assert 'id="chain-status"' in verified.text and "BROKEN" not in verified.text
    review = http.get("/console/audit", params={"review_workspace": gateway.workspace_ids["eng"]})
    assert 'id="review"' in review.text and "developer_eng@example.com" in review.text
    viewer = _sign_in(gateway, world["keys"]["viewer"])
    refused = viewer.get("/console/audit")
    assert refused.status_code == 403 and "may not compliance.read" in refused.text
    billing = _sign_in(gateway, world["keys"]["billing"])
    assert billing.get("/console/usage").status_code == 200
    assert _sign_in(gateway, world["keys"]["developer_eng"]).get("/console/usage").status_code == 403


def test_admin_actions_through_the_console(gateway: Gateway) -> None:
    from typing import Any

    from steward.controlplane.principal import Principal
    from steward.controlplane.services import ControlPlane
    from tests.controlplane.test_permissions import setup_principals

    world = setup_principals(gateway)
    eng = gateway.workspace_ids["eng"]

    async def ask(plane: ControlPlane) -> dict[str, Any]:
        system = await plane.system()
        limit = await plane.admin.spend_limits.create(system, {"type": "workspace", "workspace_id": eng},
                                                      "monthly", "1000")
        invite = await plane.admin.invitations.create(system, "later@example.com", "user")
        return {"limit": limit, "invite": invite}
    made = gateway.control(ask)
    async def request_increase(plane: ControlPlane) -> dict[str, Any]:  # a developer asks for more
        who = Principal(org_id=(await plane.admin.organization.current()).id, role="developer",
                        user_id=world["users"]["developer_eng"], key_id=None,
                        memberships={eng: "workspace_developer"})  # a member of eng: may ask for its limit
        return await plane.admin.increase_requests.create(who, made["limit"]["id"], "5000", "launch week")
    req = gateway.control(request_increase)

    http = _sign_in(gateway, gateway.admin_key)
    token = _csrf(http.get("/console/limits").text)
    approved = http.post(f"/console/limits/requests/{req['id']}", data={"csrf_token": token, "decision": "approve"})
    assert approved.status_code == 200 and "cap was raised" in approved.text
    rate = http.post("/console/limits/rate/rl_sonnet", data={"csrf_token": token, "type": "requests_per_minute",
                                                              "value": "777"})
    assert rate.status_code == 200 and "Requests per minute: 777" in rate.text
    rotated = http.post(f"/console/keys/{gateway.key_ids['eng']}/rotate", data={"csrf_token": token})
    assert rotated.status_code == 200 and 'id="secret"' in rotated.text
    revoked = http.post(f"/console/invitations/{made['invite']['id']}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 200 and "revoked" in revoked.text
    target = world["users"]["target"]
    role = http.post(f"/console/users/{target}/role", data={"csrf_token": token, "role": "viewer"})
    assert role.status_code == 200 and "is now viewer" in role.text
    member = http.post(f"/console/workspaces/{eng}/members/{world['users']['user_eng']}",
                       data={"csrf_token": token, "workspace_role": "workspace_developer"})
    assert member.status_code == 200 and "is now workspace_developer" in member.text

    async def check(plane: ControlPlane) -> tuple[str, str, str]:
        system = await plane.system()
        limit = await plane.admin.spend_limits.get(system, made["limit"]["id"])
        user = await plane.admin.users.get(system, target)
        invite = await plane.admin.invitations.get(system, made["invite"]["id"])
        return limit["amount"], user["role"], invite["status"]
    assert gateway.control(check) == ("5000", "viewer", "deleted")


def test_person_and_end_user_caps_from_the_limits_page(gateway: Gateway) -> None:
    """An admin caps a person (the keys they created) and an end user from the Limits page; the table names them;
    the person sees the cap on themselves and may ask to raise it; billing may not create one."""
    from tests.controlplane.test_permissions import setup_principals

    world = setup_principals(gateway)
    person = world["users"]["developer_eng"]
    http = _sign_in(gateway, gateway.admin_key)
    page = http.get("/console/limits")
    assert f'value="person:{person}"' in page.text and "developer_eng@example.com" in page.text
    token = _csrf(page.text)
    made = http.post("/console/limits/spend", data={"csrf_token": token, "workspace_id": f"person:{person}",
                                                    "period": "monthly", "amount": "40", "hard": "1"})
    assert made.status_code == 200 and "Spend limit created." in made.text, made.text[-2000:]
    assert f'title="{person}"' in made.text  # the person by name, the id in the tooltip
    missing = http.post("/console/limits/spend", data={"csrf_token": token, "workspace_id": "end_user:",
                                                       "period": "daily", "amount": "5", "end_user": " "})
    assert missing.status_code == 400 and "metadata.user_id" in missing.text
    end_user = http.post("/console/limits/spend", data={"csrf_token": token, "workspace_id": "end_user:",
                                                        "period": "daily", "amount": "5", "end_user": "customer-42"})
    assert end_user.status_code == 200 and "End user <code>customer-42</code>" in end_user.text

    developer = _sign_in(gateway, world["keys"]["developer_eng"])
    keys_page = developer.get("/console/keys")  # the workspace filter lists only workspaces they may read
    assert keys_page.status_code == 200 and gateway.workspace_ids["marketing"] not in keys_page.text
    assert gateway.workspace_ids["eng"] in keys_page.text
    own = developer.get("/console/limits")
    assert own.status_code == 200 and f'title="{person}"' in own.text and "Ask for more" in own.text
    assert "customer-42" not in own.text  # another scope's cap stays hidden from a member
    billing = _sign_in(gateway, world["keys"]["billing"])
    shown = billing.get("/console/limits")  # billing may not read users, but sees who a cap it reads is on
    assert f'title="{person}"' in shown.text and f"<code>{person}</code>" not in shown.text
    assert f'title="{person}"' in http.get("/console/").text  # the dashboard's caps name the person too
    refused = billing.post("/console/limits/spend", data={
        "csrf_token": _csrf(billing.get("/console/limits").text), "workspace_id": f"person:{person}",
        "period": "monthly", "amount": "1"})
    assert refused.status_code == 403 and "spend_limits.write" in refused.text
