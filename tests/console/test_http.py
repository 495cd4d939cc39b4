"""The console over plain HTTP on SQLite and PostgreSQL: sessions (cookie flags, expiry by revocation and
sign-out), CSRF, one-time links, server-side pages, and the dashboard's figures after real traffic."""

from __future__ import annotations

import re
from typing import Any

import anthropic
import httpx
import pytest

from steward.console.auth import mint_link
from steward.controlplane.paging import Paging
from steward.controlplane.services import ControlPlane
from steward.storage.repositories.console import ConsoleRepository
from tests.support import Gateway


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _sign_in(gateway: Gateway, key: str) -> httpx.Client:
    http = httpx.Client(base_url=gateway.url, timeout=10)
    form = http.get("/console/signin")
    done = http.post("/console/signin", data={"csrf_token": _csrf(form.text), "admin_key": key, "next": "/console/"})
    assert done.status_code == 303, done.text
    return http


def test_sign_in_cookie_and_wrong_key(gateway: Gateway) -> None:
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        assert http.get("/console/keys").headers["location"] == "/console/signin?next=/console/keys"
        token = _csrf(http.get("/console/signin").text)
        wrong = http.post("/console/signin", data={"csrf_token": token, "admin_key": "sk-stw-admin01-nope"})
        assert wrong.status_code == 401 and "steward_console=" not in wrong.headers.get("set-cookie", "")
        no_csrf = http.post("/console/signin", data={"admin_key": gateway.admin_key})
        assert no_csrf.status_code == 403
        done = http.post("/console/signin", data={"csrf_token": token, "admin_key": gateway.admin_key})
        cookie = done.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # plain http here; https requests get Secure
        assert gateway.admin_key not in cookie
        page = http.get("/console/keys")
        assert page.status_code == 200 and "eng-test-inference" in page.text
        behind_tls = http.post("/console/signin", data={"csrf_token": token, "admin_key": gateway.admin_key},
                               headers={"x-forwarded-proto": "https"})
        assert "Secure" in behind_tls.headers["set-cookie"]  # served over https (by a proxy): Secure cookies


def test_every_console_response_carries_the_security_headers(gateway: Gateway) -> None:
    """The console sent no CSP, X-Frame-Options or X-Content-Type-Options (issue 13)."""
    http = _sign_in(gateway, gateway.admin_key)
    try:
        for path in ("/console/signin", "/console/", "/console/keys", "/console/static/console.js",
                     "/console/no-such-page"):
            headers = http.get(path).headers
            assert "script-src 'self'" in headers["content-security-policy"], path
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "no-referrer", path
    finally:
        http.close()


def test_csrf_is_bound_to_the_session(gateway: Gateway) -> None:
    first, second = _sign_in(gateway, gateway.admin_key), _sign_in(gateway, gateway.admin_key)
    other_token = _csrf(second.get("/console/keys").text)
    body = {"workspace_id": gateway.workspace_ids["eng"], "name": "eng-prod-csrf"}
    assert first.post("/console/keys", data={**body, "csrf_token": other_token}).status_code == 403
    assert first.post("/console/keys", data=body).status_code == 403
    good = first.post("/console/keys", data=body, headers={"x-csrf-token": _csrf(first.get("/console/keys").text)})
    assert good.status_code == 200 and "sk-stw-api01-" in good.text


def test_revoked_admin_key_and_sign_out_end_the_session(gateway: Gateway) -> None:
    async def mint(plane: ControlPlane) -> dict[str, Any]:
        return await plane.admin.admin_keys.create(await plane.system(), "console test",
                                                   user_id=gateway.admin_user_id)
    extra = gateway.control(mint)
    http = _sign_in(gateway, extra["secret"])
    assert http.get("/console/").status_code == 200

    async def revoke(plane: ControlPlane) -> None:
        await plane.admin.admin_keys.revoke(await plane.system(), extra["id"])
    gateway.control(revoke)
    assert http.get("/console/").headers["location"].startswith("/console/signin")

    http = _sign_in(gateway, gateway.admin_key)
    saved = dict(http.cookies)
    out = http.post("/console/signout", data={"csrf_token": _csrf(http.get("/console/").text)})
    assert out.status_code == 303
    replay = httpx.Client(base_url=gateway.url, cookies=saved)
    assert replay.get("/console/").status_code == 303  # the old cookie no longer opens a session


def test_one_time_link(gateway: Gateway) -> None:
    async def link(plane: ControlPlane) -> str:
        repo = ConsoleRepository(plane.database.sessions)
        org = await plane.admin.organization.current()
        from datetime import timedelta
        return await mint_link(repo, org.id, gateway.admin_user_id, None, timedelta(minutes=5))
    token = gateway.control(link)
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        form = http.get(f"/console/link/{token}")
        assert form.status_code == 200 and http.get("/console/").status_code == 303  # a GET spends nothing
        used = http.post(f"/console/link/{token}", data={"csrf_token": _csrf(form.text)})
        assert used.status_code == 303 and http.get("/console/").status_code == 200
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        form = http.get(f"/console/link/{token}")
        again = http.post(f"/console/link/{token}", data={"csrf_token": _csrf(form.text)})
        assert again.status_code == 400 and "already used" in again.text


def test_keys_are_paginated_on_the_server(gateway: Gateway) -> None:
    async def many(plane: ControlPlane) -> None:
        for i in range(30):
            await plane.create_key("eng", f"eng-page-k{i:02d}")
    gateway.control(many)
    http = _sign_in(gateway, gateway.admin_key)
    first = http.get("/console/keys")
    names = re.findall(r'data-name="([^"]+)"', first.text)
    assert len(names) == 25 and names[0] == "eng-page-k29"  # newest first, one page
    following = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert following
    second = http.get(following.group(1).replace("&amp;", "&"))
    rest = re.findall(r'data-name="([^"]+)"', second.text)
    assert len(rest) == 7 and not set(rest) & set(names)  # 30 + the 2 provisioned keys
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    filtered = http.get("/console/keys", params={"workspace_id": gateway.workspace_ids["marketing"]})
    assert re.findall(r'data-name="([^"]+)"', filtered.text) == ["marketing-test-inference"]
    assert "server-timing" in first.headers


def test_dashboard_after_traffic(gateway: Gateway) -> None:
    client = gateway.client("eng")
    ids = []
    for _ in range(3):
        message = client.messages.create(model="claude-sonnet-4-6", max_tokens=20,
                                          messages=[{"role": "user", "content": "hello"}],
                                          metadata={"user_id": "alice"})
        ids.append(message._request_id)
    with pytest.raises(anthropic.PermissionDeniedError) as refused:  # marketing may only use Haiku
        gateway.client("marketing").messages.create(model="claude-sonnet-4-6", max_tokens=20,
                                                    messages=[{"role": "user", "content": "refused"}])
    ids.append(refused.value.request_id)
    gateway.wait_usage([i for i in ids if i])
    gateway.wait_audit([i for i in ids if i])
    http = _sign_in(gateway, gateway.admin_key)
    page = http.get("/console/")
    assert page.status_code == 200
    # Three requests: the refused one never reached the upstream, so it is no usage (it is in the refusals).
    assert re.search(r'id="requests">3<', page.text), re.findall(r'id="requests">[^<]*', page.text)
    assert "eng-test-inference" in page.text and "alice" in page.text
    assert page.text.count("<rect") >= 2 and "claude-sonnet-4-6" in page.text
    assert 'data-reason="Policy"' in page.text and "permission_error" not in page.text  # the refusal, by reason


def test_every_page_renders_for_every_role(gateway: Gateway) -> None:
    from tests.controlplane.test_permissions import setup_principals

    world = setup_principals(gateway)
    pages = ["/console/", "/console/keys", "/console/workspaces", f"/console/workspaces/{gateway.workspace_ids['eng']}",
             "/console/users", "/console/invitations", "/console/limits", "/console/policies", "/console/usage",
             "/console/audit"]
    for role, key in world["keys"].items():
        http = _sign_in(gateway, key)
        for path in pages:
            response = http.get(path)
            assert response.status_code in (200, 403, 404), (role, path, response.status_code, response.text[:300])
            for secret in (*gateway.keys.values(), *world["keys"].values()):
                assert secret not in response.text  # no secret on any page


def test_paging_helper_refuses_bad_cursors(gateway: Gateway) -> None:
    http = _sign_in(gateway, gateway.admin_key)
    response = http.get("/console/keys", params={"before_id": "a", "after_id": "b"})
    assert response.status_code == 400 and "Only one of before_id and after_id" in response.text
    assert Paging.of(25).limit == 25
