"""Every console page for every role in real Chromium at 1,280 px: the status, no horizontal overflow, only the
nav items the role may open; the Usage table for people (titles, dollars, totals, sorting, pages), the dashboard
(axes, stable colours, no refused models in legends, refusals by reason), key actions in the browser, and a
spend-increase request filed by billing and approved by the admin.

Screenshots of every page (per role) go to ``build/console-screenshots/`` (git-ignored; printed at the end).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import anthropic
import pytest
from playwright.sync_api import Browser, Page

from steward.controlplane.services import ControlPlane
from tests.console.browser import in_browser, new_page, sign_in
from tests.controlplane.test_permissions import setup_principals
from tests.support import Gateway

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
WIDTH = 1280
ALL = ["Dashboard", "Workspaces", "API keys", "Users", "Invitations", "Limits", "Policies", "Usage", "Audit"]
# role -> the nav items it must see (docs/permissions.md); every other page is refused or says why it is empty.
NAV = {
    "admin": ALL,
    "billing": ["Dashboard", "Workspaces", "Limits", "Policies", "Usage"],
    "viewer": ["Dashboard", "Workspaces", "API keys", "Users", "Invitations", "Limits", "Policies", "Usage"],
    "developer_eng": ["Dashboard", "Workspaces", "API keys", "Limits", "Policies"],
    "wsadmin_eng": ["Dashboard", "Workspaces", "API keys", "Limits", "Policies", "Usage"],
    "user_eng": ["Dashboard", "Workspaces", "Limits", "Policies"],
}
PAGES = {"Dashboard": "/console/", "Workspaces": "/console/workspaces", "API keys": "/console/keys",
         "Users": "/console/users", "Invitations": "/console/invitations", "Limits": "/console/limits",
         "Policies": "/console/policies", "Usage": "/console/usage", "Audit": "/console/audit"}


def save(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# What Claude Code sends as metadata.user_id: a JSON blob, which made the dashboard 1,401 px wide (the newcomer).
CLAUDE_CODE_USER = ('{"device_id":"5f1c0e6a9b2d4c7e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",'
                    '"account_uuid":"","session_id":"8d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"}')


def _call(client: anthropic.Anthropic, model: str, max_tokens: int = 20, user: str = "alice") -> str | None:
    try:
        return client.messages.create(model=model, max_tokens=max_tokens,
                                      messages=[{"role": "user", "content": "hello there"}],
                                      metadata={"user_id": user})._request_id
    except anthropic.APIStatusError as exc:
        return exc.response.headers.get("request-id")


def seed_traffic(gw: Gateway) -> dict[str, Any]:
    """Served requests on three models and two workspaces, and refusals: an unknown model, a model the policy
    forbids, and a request whose worst case does not fit a one-cent cap on a key of its own."""
    async def capped(plane: ControlPlane) -> dict[str, Any]:
        key = await plane.create_key("eng", "eng-prod-capped")
        await plane.admin.spend_limits.create(await plane.system(), {"type": "api_key", "api_key_id": key["id"]},
                                              "monthly", "1")
        return key
    cap_key = gw.control(capped)
    gw.sync_config()
    eng, marketing = gw.client("eng"), gw.client("marketing")
    served = [_call(eng, m) for m in ("claude-sonnet-4-6", "claude-sonnet-4-6", "claude-opus-4-6",
                                      "claude-haiku-4-5")]
    served.append(_call(marketing, "claude-haiku-4-5"))
    served.append(_call(marketing, "claude-haiku-4-5", user=CLAUDE_CODE_USER))
    refused = [_call(eng, "claude-nonexistent-9"), _call(marketing, "claude-sonnet-4-6")]
    refused.append(_call(anthropic.Anthropic(base_url=gw.url, api_key=cap_key["secret"], max_retries=0),
                         "claude-sonnet-4-6", max_tokens=2000))
    gw.wait_usage([i for i in served if i])
    gw.wait_audit([i for i in served + refused if i])
    return cap_key


def overflow(page: Page) -> int:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


def nav_labels(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("#nav a").all_inner_texts()]


@pytest.fixture
def world(sqlite_gateway: Gateway) -> dict[str, Any]:
    out = setup_principals(sqlite_gateway)
    out["cap_key"] = seed_traffic(sqlite_gateway)
    return out


def test_every_page_for_every_role(sqlite_gateway: Gateway, world: dict[str, Any]) -> None:
    gw = sqlite_gateway
    keys = world["keys"]

    def scenario(browser: Browser) -> dict[str, dict[str, int]]:
        seen: dict[str, dict[str, int]] = {}
        for role, expected in NAV.items():
            page = new_page(browser, gw.url)
            page.set_viewport_size({"width": WIDTH, "height": 900})
            sign_in(page, keys[role])
            assert nav_labels(page) == expected, role
            statuses: dict[str, int] = {}
            for label, path in PAGES.items():
                response = page.goto(path)
                assert response is not None
                statuses[label] = response.status
                assert overflow(page) <= WIDTH, f"{role} {path} is {overflow(page)} px wide"
                assert nav_labels(page) == expected, f"{role} {path}"
                save(page, f"{role}-{label.lower().replace(' ', '-')}")
            page.goto(f"/console/workspaces/{gw.workspace_ids['eng']}")
            assert overflow(page) <= WIDTH
            save(page, f"{role}-workspace-eng")
            seen[role] = statuses
            page.context.close()
        return seen

    seen = in_browser("every-page", scenario, timeout=600)
    for role, statuses in seen.items():
        for label, status in statuses.items():
            if label in NAV[role]:
                assert status == 200, (role, label, status)
            elif label == "API keys":
                assert status == 200, (role, label)  # says why there is nothing to show (checked below)
            else:
                assert status == 403, (role, label, status)
    print(f"\nconsole screenshots: {SCREENSHOTS}")


def test_usage_and_dashboard_read_well(sqlite_gateway: Gateway, world: dict[str, Any]) -> None:
    gw = sqlite_gateway

    def scenario(browser: Browser) -> None:
        page = new_page(browser, gw.url)
        page.set_viewport_size({"width": WIDTH, "height": 900})
        sign_in(page, gw.admin_key)
        legend = page.locator("#chart-model .legend").all_inner_texts()
        assert sorted(legend) == ["claude-haiku-4-5", "claude-opus-4-6", "claude-sonnet-4-6"]  # no refused model
        fills = page.locator("#chart-model .legend i").evaluate_all("els => els.map(e => e.style.background)")
        assert len(set(fills)) == len(fills)  # no colour reused in one chart
        ticks = page.locator("#chart-model text.ytick").all_text_contents()
        assert len(ticks) >= 2 and all(t.startswith("$") for t in ticks)
        assert page.locator("#chart-model text.xtick").count() >= 1
        reasons = dict(zip(page.locator("#refusals tr[data-reason] td:first-child").all_inner_texts(),
                           page.locator("#refusals tr[data-reason] td.num").all_inner_texts(), strict=True))
        assert reasons.get("Budget") == "1" and reasons.get("Policy") == "1", reasons
        assert not any("invalid_request_error" in r for r in reasons)
        top_keys = page.inner_text("#top-keys")
        assert "eng-test-inference" in top_keys and "apikey_" not in top_keys
        page.reload()  # a model keeps its colour across reloads
        again = page.locator("#chart-model .legend i").evaluate_all("els => els.map(e => e.style.background)")
        assert again == fills

        page.goto("/console/usage?group_by=workspace&group_by=model")
        head = page.locator("#report thead th").all_inner_texts()
        assert head[:2] == ["Workspace", "Model"] and "Input tokens" in head and head[-1].startswith("Cost")
        assert not any(h.isupper() and "_" in h for h in head)
        body = page.inner_text("#report tbody")
        assert "marketing" in body and "wrkspc_" not in body
        assert "claude-nonexistent-9" not in body
        costs = page.locator("#report tbody td:last-child").all_inner_texts()
        assert all(c.startswith("$") for c in costs)
        values = [float(c.replace("$", "").replace(",", "")) for c in costs]
        assert values == sorted(values, reverse=True)  # by cost, highest first
        assert page.inner_text("#totals td:first-child") == "Total"
        page.click("#report thead a[data-sort=model]")
        page.wait_for_url(re.compile(r".*sort=model.*"))
        models = page.locator("#report tbody td.model").all_inner_texts()
        assert models == sorted(models)
        assert overflow(page) <= WIDTH
        page.click("#presets >> text=Who spent most in the last 7 days")  # the question, in one step
        page.wait_for_selector("#report thead a[data-sort=api_key_id]")
        first = page.locator("#report tbody tr").first.inner_text()
        assert first.startswith("eng-test-inference\tclaude-sonnet-4-6"), first
        page.goto("/console/usage?group_by=api_key&group_by=model&group_by=day&group_by=user")
        assert "apikey_" not in page.inner_text("#report tbody")
        assert overflow(page) <= WIDTH
        save(page, "admin-usage-by-key-model-day-user")

        page.set_viewport_size({"width": 1000, "height": 800})
        tops = page.locator("#nav a").evaluate_all("els => els.map(e => e.getBoundingClientRect().top)")
        assert len(set(tops)) == 1, "the nav wraps at 1,000 px"
        page.goto("/console/limits")
        page.set_viewport_size({"width": WIDTH, "height": 900})
        groups = page.locator("#rate-limits td:first-child").all_inner_texts()
        assert "Message Batches" in groups and not any(g.startswith("rlg_") for g in groups)

    in_browser("read-well", scenario, timeout=300)


def test_key_actions_in_the_browser(sqlite_gateway: Gateway, world: dict[str, Any]) -> None:
    gw = sqlite_gateway
    key_id = gw.key_ids["marketing"]
    client = gw.client("marketing")

    def scenario(browser: Browser) -> None:
        page = new_page(browser, gw.url)
        page.set_viewport_size({"width": WIDTH, "height": 900})
        sign_in(page, gw.admin_key)
        page.goto("/console/keys")
        row = page.locator(f"#key-{key_id}")
        row.locator("button.deactivate").click()
        page.wait_for_selector("#notice:has-text('deactivated')")
        assert page.locator(f"#key-{key_id} .status").inner_text() == "inactive"
        save(page, "admin-keys-deactivated")

    in_browser("key-deactivate", scenario)
    _until_refused(gw, client.models.list, anthropic.AuthenticationError)

    def again(browser: Browser) -> None:
        page = new_page(browser, gw.url)
        sign_in(page, gw.admin_key)
        page.goto("/console/keys")
        page.locator(f"#key-{key_id} button.activate").click()
        page.wait_for_selector("#notice:has-text('activated')")
        assert page.locator(f"#key-{key_id} .status").inner_text() == "active"
        row = page.locator(f"#key-{key_id}")
        row.locator("details.restrict summary").click()
        row.locator(".models-input").fill("claude-haiku-4-5")
        row.locator("button.save-models").click()
        page.wait_for_selector("#notice:has-text('may now call only')")
        assert page.locator(f"#key-{key_id} td.models").inner_text() == "claude-haiku-4-5"
        page.locator(f"#key-{key_id} button.rotate").click()
        page.wait_for_selector("#secret-box")
        assert page.input_value("#secret").startswith("sk-stw-api01-")
        save(page, "admin-keys-rotated")

    in_browser("key-activate", again)
    gw.sync_config()
    # activated again (the old secret is in its rotation grace period) and restricted to Haiku
    client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    _until_refused(gw, lambda: client.messages.create(model="claude-haiku-5-5", max_tokens=5,
                                                       messages=[{"role": "user", "content": "x"}]),
                   anthropic.APIStatusError)


def _until_refused(gw: Gateway, call: Any, error: type[Exception], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            call()
        except error:
            return
        assert time.monotonic() < deadline, "the change did not reach the gateway"
        time.sleep(0.1)


def test_billing_files_an_increase_request_and_the_admin_approves(sqlite_gateway: Gateway,
                                                                  world: dict[str, Any]) -> None:
    gw = sqlite_gateway

    async def create(plane: ControlPlane) -> dict[str, Any]:
        return await plane.admin.spend_limits.create(await plane.system(), {
            "type": "workspace", "workspace_id": gw.workspace_ids["marketing"]}, "monthly", "5000")
    limit = gw.control(create)

    def scenario(browser: Browser) -> None:
        billing = new_page(browser, gw.url)
        billing.set_viewport_size({"width": WIDTH, "height": 900})
        sign_in(billing, world["keys"]["billing"])
        billing.goto("/console/keys")
        assert billing.locator("#no-keys-access").count() == 1  # says why, not "No keys to show"
        billing.goto("/console/limits")
        row = billing.locator(f"#spl-{limit['id']}")
        assert "Workspace marketing" in row.inner_text()
        assert row.locator("button.save").count() == 0
        forged = billing.request.post(f"{gw.url}/console/limits/spend", form={
            "csrf_token": billing.get_attribute("input[name=csrf_token]", "value") or "", "amount": "5",
            "period": "monthly"})
        assert forged.status == 403 and "may not spend_limits.write" in forged.text()  # the right permission
        row.locator("details.ask summary").click()
        row.locator(".ask-amount").fill("120")
        row.locator(".ask-reason").fill("launch week")
        row.locator(".ask-submit").click()
        billing.wait_for_selector("#notice:has-text('Request filed')")
        mine = billing.inner_text("#increase-requests")
        assert "launch week" in mine and "pending" in mine and "billing" in mine
        save(billing, "billing-limits-request-filed")

        admin = new_page(browser, gw.url)
        admin.set_viewport_size({"width": WIDTH, "height": 900})
        sign_in(admin, gw.admin_key)
        admin.goto("/console/limits")
        request_row = admin.locator("#increase-requests tr", has_text="launch week")
        assert "billing" in request_row.inner_text() and "user_" not in request_row.inner_text()
        request_row.locator("button.approve").click()
        admin.wait_for_selector("#notice:has-text('approved')")
        assert admin.locator(f"#spl-{limit['id']} .amount").inner_text() == "$120.00"
        save(admin, "admin-limits-request-approved")

        billing.goto("/console/limits?request_status=all")
        assert "approved" in billing.inner_text("#increase-requests")

    in_browser("increase-request", scenario, timeout=300)
