"""Admin lifecycles: invitation expiry, archive stops keys within 1 s, last-admin protection, user removal,
and the audit trail of admin actions (actor, action, target, before/after, IP, request id, no secrets)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx
import pytest

from steward.controlplane.services import ControlPlane
from steward.errors import InvalidRequestError
from steward.storage.models import Invitation
from tests.support import Gateway

BODY: Any = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def works_soon(client: anthropic.Anthropic, within: float = 1.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            assert client.messages.create(**BODY).type == "message"
            return
        except anthropic.AuthenticationError:
            assert time.monotonic() < deadline, "a new key did not start working within a second"
            time.sleep(0.02)


def admin_http(gateway: Gateway) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, headers={"x-api-key": gateway.admin_key}, timeout=10)


def test_expired_invitation_cannot_be_accepted(gateway: Gateway) -> None:
    with admin_http(gateway) as http:
        created = http.post("/v1/admin/invitations", json={"email": "late@example.com", "role": "developer",
                                                           "expires_in_days": 1}).json()
        token = created["token"]

        async def expire(plane: ControlPlane) -> None:
            async with plane.admin.store.unit() as unit:
                invite = await unit.get(Invitation, created["id"])
                assert invite is not None
                invite.expires_at = datetime.now(UTC) - timedelta(seconds=1)
                unit.add(invite)
        gateway.control(expire)
        assert http.get(f"/v1/admin/invitations/{created['id']}").json()["status"] == "expired"
        assert [i["id"] for i in http.get("/v1/admin/invitations", params={"status": "expired"}).json()["data"]] \
            == [created["id"]]
        refused = httpx.post(f"{gateway.url}/v1/admin/invitations/accept", json={"token": token, "name": "Late"})
        assert refused.status_code == 400 and "expired" in refused.json()["error"]["message"]
        unknown = httpx.post(f"{gateway.url}/v1/admin/invitations/accept",
                             json={"token": "stw_inv_nope", "name": "X"})
        assert unknown.status_code == 404


def test_accepted_invitation_is_single_use(gateway: Gateway) -> None:
    with admin_http(gateway) as http:
        created = http.post("/v1/admin/invitations", json={
            "email": "new@example.com", "role": "developer",
            "workspaces": [gateway.workspace_ids["eng"]]}).json()
        assert "token" not in http.get(f"/v1/admin/invitations/{created['id']}").json()
        first = httpx.post(f"{gateway.url}/v1/admin/invitations/accept", json={"token": created["token"],
                                                                                "name": "New Dev"})
        assert first.status_code == 200
        accepted = first.json()
        assert accepted["user"]["role"] == "developer"
        assert accepted["user"]["workspace_ids"] == [gateway.workspace_ids["eng"]]
        member = http.get(f"/v1/admin/workspaces/{gateway.workspace_ids['eng']}/members/{accepted['user']['id']}")
        assert member.json()["workspace_role"] == "workspace_developer"
        again = httpx.post(f"{gateway.url}/v1/admin/invitations/accept", json={"token": created["token"],
                                                                                "name": "Again"})
        assert again.status_code == 400 and "accepted" in again.json()["error"]["message"]
        duplicate = http.post("/v1/admin/invitations", json={"email": "new@example.com", "role": "viewer"})
        assert duplicate.status_code == 409


def test_archiving_a_workspace_stops_its_keys_within_a_second(gateway: Gateway) -> None:
    with gateway.client("marketing") as client:
        assert client.messages.create(**BODY).type == "message"
        with admin_http(gateway) as http:
            archived = http.post(f"/v1/organizations/workspaces/{gateway.workspace_ids['marketing']}/archive")
            assert archived.status_code == 200
        started = time.monotonic()
        while True:
            try:
                client.messages.create(**BODY)
            except anthropic.AuthenticationError:
                break
            assert time.monotonic() - started < 1.0, "key still worked a second after the archive"
            time.sleep(0.02)


def test_last_admin_cannot_be_removed_or_demoted(gateway: Gateway) -> None:
    with admin_http(gateway) as http:
        demote = http.put(f"/v1/admin/users/{gateway.admin_user_id}", json={"role": "viewer"})
        assert demote.status_code == 400 and "last admin" in demote.json()["error"]["message"]
        remove = http.delete(f"/v1/admin/users/{gateway.admin_user_id}")
        assert remove.status_code == 400
        invite = http.post("/v1/admin/invitations", json={"email": "second@example.com", "role": "admin"}).json()
        second = httpx.post(f"{gateway.url}/v1/admin/invitations/accept",
                            json={"token": invite["token"], "name": "Second"}).json()
        assert http.put(f"/v1/admin/users/{gateway.admin_user_id}", json={"role": "viewer"}).status_code == 200
    with httpx.Client(base_url=gateway.url, headers={"x-api-key": second["secret"]}) as http2:
        last = http2.delete(f"/v1/admin/users/{second['user']['id']}")
        assert last.status_code == 400 and "last admin" in last.json()["error"]["message"]


def test_removing_a_user_deactivates_their_keys_and_memberships(gateway: Gateway) -> None:
    eng = gateway.workspace_ids["eng"]
    with admin_http(gateway) as http:
        invite = http.post("/v1/admin/invitations", json={
            "email": "leaver@example.com", "role": "developer", "workspaces": [eng]}).json()
        leaver = httpx.post(f"{gateway.url}/v1/admin/invitations/accept",
                            json={"token": invite["token"], "name": "Leaver"}).json()
        with httpx.Client(base_url=gateway.url, headers={"x-api-key": leaver["secret"]}) as as_leaver:
            key = as_leaver.post("/v1/admin/keys", json={"workspace_id": eng, "name": "eng-dev-leaver"}).json()
        with anthropic.Anthropic(base_url=gateway.url, api_key=key["secret"], max_retries=0) as client:
            works_soon(client)  # a new key is live once the snapshot reloads (the poll interval)
            removed = http.delete(f"/v1/admin/users/{leaver['user']['id']}")
            assert removed.json() == {"id": leaver["user"]["id"], "type": "user_deleted"}
            assert http.get(f"/v1/admin/keys/{key['id']}").json()["status"] == "inactive"
            assert http.get(f"/v1/admin/users/{leaver['user']['id']}").status_code == 404
            members = http.get(f"/v1/admin/workspaces/{eng}/members").json()["data"]
            assert leaver["user"]["id"] not in [m["user_id"] for m in members]
            deadline = time.monotonic() + 1
            while True:
                try:
                    client.messages.create(**BODY)
                except anthropic.AuthenticationError:
                    break
                assert time.monotonic() < deadline
                time.sleep(0.02)
        gone = httpx.get(f"{gateway.url}/v1/organizations/me", headers={"x-api-key": leaver["secret"]})
        assert gone.status_code == 401


def test_admin_actions_are_audited_without_secrets(gateway: Gateway) -> None:
    with admin_http(gateway) as http:
        created = http.post("/v1/admin/keys", json={"workspace_id": gateway.workspace_ids["eng"],
                                                    "name": "eng-prod-batch"})
        key = created.json()
        revoked = http.delete(f"/v1/admin/keys/{key['id']}")
    [create_event] = gateway.audit([created.headers["request-id"]])
    [revoke_event] = gateway.audit([revoked.headers["request-id"]])
    assert create_event.event == "admin.keys.create" and create_event.actor == gateway.admin_user_id
    assert create_event.data and create_event.data["target"] == {"api_key_id": key["id"]}
    assert create_event.data["ip"] == "127.0.0.1" and create_event.workspace_id == gateway.workspace_ids["eng"]
    assert revoke_event.event == "admin.keys.revoke"
    assert revoke_event.data and revoke_event.data["before"]["status"] == "active"
    assert revoke_event.data["after"]["status"] == "archived"
    for event in (create_event, revoke_event):
        text = repr(event.__dict__)
        assert key["secret"] not in text and "key_hash" not in text


def test_key_names_follow_the_convention(gateway: Gateway) -> None:
    async def bad(plane: ControlPlane) -> None:
        await plane.create_key("eng", "My Key")
    with pytest.raises(InvalidRequestError, match="naming convention"):
        gateway.control(bad)


def test_rotation_keeps_identity_and_the_old_secret_for_the_grace_period(gateway: Gateway) -> None:
    key_id, old = gateway.key_ids["eng"], gateway.keys["eng"]
    with admin_http(gateway) as http:
        rotated = http.post(f"/v1/admin/keys/{key_id}/rotate", json={"grace_period_seconds": 2}).json()
    assert rotated["id"] == key_id and rotated["secret"] != old and rotated["rotated_at"]
    with anthropic.Anthropic(base_url=gateway.url, api_key=rotated["secret"], max_retries=0) as new_client, \
            anthropic.Anthropic(base_url=gateway.url, api_key=old, max_retries=0) as old_client:
        works_soon(new_client)
        raw = old_client.messages.with_raw_response.create(**BODY)  # still inside the grace period
        started = time.monotonic()
        while True:
            try:
                old_client.messages.create(**BODY)
            except anthropic.AuthenticationError:
                break
            assert time.monotonic() - started < 3.5, "the old secret outlived its grace period"
            time.sleep(0.05)
    [row] = gateway.wait_usage([raw.headers["request-id"]])
    assert row.api_key_id == key_id  # same identity: budgets and reports follow the key


def test_key_report_lists_old_and_unused_keys(gateway: Gateway) -> None:
    async def age(plane: ControlPlane) -> None:
        long_ago = datetime.now(UTC) - timedelta(days=120)
        await plane.repo.update_key(gateway.key_ids["marketing"], {"created_at": long_ago})
    gateway.control(age)
    with admin_http(gateway) as http:
        report = http.get("/v1/admin/keys/report").json()
    assert [k["id"] for k in report["rotation_due"]] == [gateway.key_ids["marketing"]]
    assert [k["id"] for k in report["unused"]] == [gateway.key_ids["marketing"]]
