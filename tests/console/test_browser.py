"""The console in real headless Chromium: sign-in, key creation and revocation, an invitation accepted end to
end, a budget edit, and each role's refused actions. Screenshots go to var/test-artifacts/console/."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
from playwright.sync_api import Browser

from steward.controlplane.paging import Paging
from steward.controlplane.services import ControlPlane
from tests.console.browser import csrf_of, in_browser, new_page, shot, sign_in
from tests.controlplane.test_permissions import setup_principals
from tests.support import Gateway


def test_admin_signs_in_creates_and_revokes_a_key(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway

    def scenario(browser: Browser) -> str:
        page = new_page(browser, gw.url)
        page.goto("/console/keys")
        assert "/console/signin" in page.url  # not signed in: sent to sign-in, then back
        page.fill("#admin_key", gw.admin_key)
        page.click("#signin")
        page.wait_for_url(re.compile(r".*/console/keys$"))
        shot(page, "01-keys-signed-in")
        cookie = next(c for c in page.context.cookies() if c["name"] == "steward_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert gw.admin_key not in cookie["value"]
        page.click("#create-key summary")
        page.select_option("#new-key-workspace", gw.workspace_ids["eng"])
        page.fill("#new-key-name", "eng-prod-browser")
        page.click("#create-key-submit")
        page.wait_for_selector("#secret-box")
        secret = page.input_value("#secret")
        assert secret.startswith("sk-stw-api01-")
        page.click("#copy")
        page.wait_for_selector("#copy:has-text('Copied')")
        shot(page, "02-key-created-secret-shown-once")
        page.reload()  # shown once: a reload shows the list, not the secret
        assert page.locator("#secret-box").count() == 0
        row = page.locator("tr[data-name='eng-prod-browser']")
        assert row.locator(".status").inner_text() == "active"
        row.locator("button.revoke").click()
        page.wait_for_selector("#notice:has-text('revoked')")
        assert page.locator("tr[data-name='eng-prod-browser'] .status").inner_text() == "archived"
        shot(page, "03-key-revoked")
        return secret

    secret = in_browser("admin-keys", scenario)
    client = anthropic.Anthropic(base_url=gw.url, api_key=secret, max_retries=0)
    deadline = time.monotonic() + 2
    while True:  # the revocation reaches the data plane within the snapshot interval
        try:
            client.models.list()
        except anthropic.AuthenticationError:
            break
        assert time.monotonic() < deadline, "a revoked key still works"
        time.sleep(0.05)


def test_invitation_accepted_end_to_end(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway

    def scenario(browser: Browser) -> dict[str, str]:
        admin = new_page(browser, gw.url)
        sign_in(admin, gw.admin_key)
        admin.click("nav >> text=Invitations")
        admin.wait_for_url(re.compile(r".*/console/invitations$"))
        admin.fill("#invite-email", "newcomer@example.com")
        admin.select_option("#invite-role", "developer")
        admin.check(f"input[name=workspace_id][value={gw.workspace_ids['eng']}]")
        admin.click("#invite-submit")
        admin.wait_for_selector("#secret-box")
        link = admin.input_value("#secret")
        assert "/console/invite/stw_inv_" in link
        shot(admin, "04-invitation-link")

        guest = new_page(browser, gw.url)  # another browser context: no cookies of the admin
        guest.goto(link)
        assert guest.inner_text("#invite-email") == "newcomer@example.com"
        assert guest.inner_text("#invite-status") == "pending"
        shot(guest, "05-invitation-landing")
        guest.fill("#name", "New Comer")
        guest.click("#accept")
        guest.wait_for_selector("#welcome")
        key = guest.input_value("#secret")
        assert key.startswith("sk-stw-admin01-")
        shot(guest, "06-invitation-accepted-first-key")
        guest.click("#to-console")
        guest.wait_for_selector("#who")
        assert guest.inner_text("#who").startswith("New Comer · developer")
        guest.goto(link)  # the link is spent
        assert guest.inner_text("#invite-status") == "accepted"
        assert guest.locator("#accept").count() == 0
        return {"key": key}

    out = in_browser("invitation", scenario)
    me = httpx.get(f"{gw.url}/v1/organizations/users", headers={"x-api-key": gw.admin_key},
                   params={"email": "newcomer@example.com"}).json()
    assert me["data"][0]["role"] == "developer"
    assert me["data"][0]["workspace_ids"] == [gw.workspace_ids["eng"]]
    own = httpx.get(f"{gw.url}/v1/organizations/me", headers={"x-api-key": out["key"]})
    assert own.status_code == 200


def test_budget_edit(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway

    async def create(plane: ControlPlane) -> dict[str, Any]:
        return await plane.admin.spend_limits.create(await plane.system(), {
            "type": "workspace", "workspace_id": gw.workspace_ids["eng"]}, "monthly", "10000")
    limit = gw.control(create)

    def scenario(browser: Browser) -> None:
        page = new_page(browser, gw.url)
        sign_in(page, gw.admin_key)
        assert page.locator(".cap-row").count() == 1  # the dashboard shows the cap with its marks
        assert page.locator(".cap-row svg.capbar").count() == 1
        shot(page, "07-dashboard")
        page.click("nav >> text=Limits")
        row = page.locator(f"#spl-{limit['id']}")
        assert row.locator(".amount").inner_text() == "$100.00"
        row.locator(".amount-input").fill("250.50")
        row.locator("button.save").click()
        page.wait_for_selector("#notice")
        assert page.locator(f"#spl-{limit['id']} .amount").inner_text() == "$250.50"
        shot(page, "08-budget-edited")

    in_browser("budget", scenario)

    async def read(plane: ControlPlane) -> dict[str, Any]:
        return await plane.admin.spend_limits.get(await plane.system(), limit["id"])
    assert gw.control(read)["amount"] == "25050"


def test_each_roles_refused_actions(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    world = setup_principals(gw)
    keys = world["keys"]
    eng, eng_key = gw.workspace_ids["eng"], gw.key_ids["eng"]

    def scenario(browser: Browser) -> dict[str, int]:
        statuses: dict[str, int] = {}
        viewer = new_page(browser, gw.url)
        sign_in(viewer, keys["viewer"])
        viewer.goto("/console/keys")
        assert viewer.locator("#keys tr[id^=key-]").count() >= 2  # viewers read keys...
        assert viewer.locator("#create-key").count() == 0  # ...but get no create, rotate or revoke controls
        assert viewer.locator("button.revoke").count() == 0
        shot(viewer, "09-viewer-keys-read-only")
        token = csrf_of(viewer)
        forged = viewer.request.post(f"{gw.url}/console/keys", form={
            "csrf_token": token, "workspace_id": eng, "name": "eng-prod-forged"})
        statuses["viewer_create_key"] = forged.status
        assert "may not keys.write" in forged.text()
        statuses["viewer_revoke_key"] = viewer.request.post(f"{gw.url}/console/keys/{eng_key}/revoke",
                                                            form={"csrf_token": token}).status
        viewer.goto("/console/limits")
        assert viewer.locator("button.save").count() == 0

        billing = new_page(browser, gw.url)
        sign_in(billing, keys["billing"])
        assert billing.locator("#spend").count() == 1  # billing sees money
        billing.goto("/console/invitations")
        assert billing.inner_text("#refused") == "You can't do that"
        shot(billing, "10-billing-cannot-see-invitations")
        statuses["billing_invite"] = billing.request.post(f"{gw.url}/console/invitations", form={
            "csrf_token": csrf_of(billing), "email": "x@example.com", "role": "user"}).status
        billing.goto("/console/keys")
        assert billing.locator("#keys tr[id^=key-]").count() == 0  # billing sees no keys

        developer = new_page(browser, gw.url)
        sign_in(developer, keys["developer_eng"])
        assert developer.locator("#no-money").count() == 1  # a developer sees no money
        shot(developer, "11-developer-no-money")
        developer.goto("/console/limits")
        statuses["developer_edit_budget"] = developer.request.post(
            f"{gw.url}/console/limits/spend", form={"csrf_token": csrf_of(developer), "amount": "5",
                                                    "period": "monthly"}).status
        statuses["developer_no_csrf"] = developer.request.post(f"{gw.url}/console/keys", form={
            "workspace_id": eng, "name": "eng-prod-nocsrf"}).status

        ro = new_page(browser, gw.url)
        sign_in(ro, keys["admin_ro"])
        statuses["read_only_admin_invite"] = ro.request.post(f"{gw.url}/console/invitations", form={
            "csrf_token": csrf_of(ro), "email": "y@example.com", "role": "user"}).status
        return statuses

    statuses = in_browser("roles", scenario)
    assert statuses == {"viewer_create_key": 403, "viewer_revoke_key": 403, "billing_invite": 403,
                        "developer_edit_budget": 403, "developer_no_csrf": 403, "read_only_admin_invite": 403}

    async def check(plane: ControlPlane) -> tuple[str, int]:
        system = await plane.system()
        key = await plane.admin.keys.get(system, eng_key)
        invites = await plane.admin.invitations.list(system, Paging.of(100))
        return key["status"], sum(i["email"] in ("x@example.com", "y@example.com") for i in invites["data"])
    assert gw.control(check) == ("active", 0)


def test_dashboard_policies_usage_and_audit_pages(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    client = gw.client("eng")
    ids = [client.messages.create(model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}],
                                  metadata={"user_id": "alice"})._request_id
           for model in ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-sonnet-4-6")]
    gw.wait_usage([i for i in ids if i])

    def scenario(browser: Browser) -> str:
        page = new_page(browser, gw.url)
        sign_in(page, gw.admin_key)
        assert page.inner_text("#requests") == "3"
        assert page.locator("#chart-model svg.chart rect").count() >= 2
        shot(page, "12-dashboard-with-traffic")
        page.click("nav >> text=Policies")
        page.select_option("#check-workspace", gw.workspace_ids["marketing"])
        page.click("#check-submit")
        page.wait_for_selector("#check-result")
        assert page.inner_text("#check-verdict") == "Refused"  # marketing may only use Haiku
        shot(page, "13-policy-dry-run")
        page.click("nav >> text=Usage")
        page.wait_for_selector("#report")
        assert "claude-haiku-4-5" in page.inner_text("#report")
        with page.expect_download() as download:
            page.click("#csv")
        csv_text = Path(download.value.path()).read_text()
        shot(page, "14-usage-report")
        page.click("nav >> text=Audit")
        page.click("#verify")
        page.wait_for_selector("#chain-status")
        assert "Intact" in page.inner_text("#chain-status")
        shot(page, "15-audit-chain-verified")
        return csv_text

    csv_text = in_browser("reports", scenario)
    header, *rows = csv_text.strip().splitlines()
    assert header.startswith("workspace_id,workspace_name,model") and len(rows) == 2
    assert all(",eng,claude-" in row for row in rows)  # the name beside the id
