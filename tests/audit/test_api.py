"""The Compliance API and the audit trail over HTTP against a real gateway (SQLite and PostgreSQL): activities
in both shapes with every filter, content reads (refused without the compliance scope, audited with it), the
organizations and users, verification, and the SIEM feed read from a cursor without gaps."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from steward.controlplane.services import ControlPlane
from tests.support import Gateway


def _traffic(gateway: Gateway) -> list[str]:
    """Three messages from eng (two with an end user), one from marketing, one count_tokens."""
    ids = []
    with gateway.client("eng") as eng, gateway.client("marketing") as marketing:
        for n in range(2):
            message = eng.messages.with_raw_response.create(
                model="claude-sonnet-4-6", max_tokens=16, messages=[{"role": "user", "content": f"hello {n}"}],
                metadata={"user_id": "end-user-7"})
            ids.append(message.headers["request-id"])
        for client, model in ((eng, "claude-sonnet-4-6"), (marketing, "claude-haiku-4-5")):
            raw = client.messages.with_raw_response.create(model=model, max_tokens=16,
                                                           messages=[{"role": "user", "content": "x"}])
            ids.append(raw.headers["request-id"])
        counted = eng.messages.with_raw_response.count_tokens(model="claude-sonnet-4-6",
                                                              messages=[{"role": "user", "content": "z"}])
        ids.append(counted.headers["request-id"])
    gateway.wait_audit(ids)
    return ids


def _sealed(http: httpx.Client, at_least: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        verified: dict[str, Any] = http.get("/v1/admin/audit/verify").json()
        if verified["head_seq"] >= at_least and verified["unsealed_events"] == 0 \
                and verified["last_checkpoint_seq"] == verified["head_seq"]:
            return verified
        assert time.monotonic() < deadline, verified
        time.sleep(0.1)


def _compliance_key(gateway: Gateway) -> str:
    async def action(plane: ControlPlane) -> str:
        created = await plane.admin.admin_keys.create(await plane.system(), "auditor", user_id=gateway.admin_user_id,
                                                      scopes=["compliance"])
        return str(created["secret"])
    return str(gateway.control(action))


def test_activities_verify_and_feed(audited: Gateway) -> None:
    gateway = audited
    request_ids = _traffic(gateway)
    admin = {"x-api-key": gateway.admin_key}
    with httpx.Client(base_url=gateway.url, headers=admin, timeout=10) as http:
        assert http.post(f"/v1/admin/keys/{gateway.key_ids['marketing']}/rotate", json={}).status_code == 200
        verified = _sealed(http, len(request_ids) + 5)
        assert verified["valid"] is True and verified["problems"] == []

        def query(**body: Any) -> dict[str, Any]:
            response = http.post("/v1/admin/compliance/activities/query", json=body)
            assert response.status_code == 200, response.text
            found: dict[str, Any] = response.json()
            return found

        messages = query(filters={"activity_type": "messages.create"})["data"]
        assert sorted(a["request_id"] for a in messages) == sorted(request_ids[:4])
        assert {a["type"] for a in messages} == {"messages.create"}
        assert messages[0]["actor"]["type"] == "api_key_actor" and "content" not in messages[0]
        counted = query(filters={"activity_type": ["messages.count_tokens"]})["data"]
        assert [a["request_id"] for a in counted] == [request_ids[4]]
        assert {a["request_id"] for a in query(filters={"user_id": "end-user-7"})["data"]} == set(request_ids[:2])
        assert [a["request_id"] for a in query(filters={"model": "claude-haiku-4-5"})["data"]] == [request_ids[3]]
        by_ws = query(filters={"workspace_id": gateway.workspace_ids["marketing"]})["data"]
        assert sorted(a["type"] for a in by_ws) == ["admin.keys.create", "admin.keys.rotate", "admin.workspaces.create",
                                                    "messages.create"]
        assert {a["request_id"] for a in query(filters={"api_key_id": gateway.key_ids["eng"]})["data"]} == \
            {request_ids[n] for n in (0, 1, 2, 4)}
        by_admin = query(filters={"user_id": gateway.admin_user_id})["data"]
        assert [a["type"] for a in by_admin] == ["admin.keys.rotate"]
        assert by_admin[0]["actor"] == {"type": "user_actor", "user_id": gateway.admin_user_id,
                                        "ip_address": "127.0.0.1", "role": "admin"}
        assert query(start_time="2000-01-01T00:00:00Z", end_time="2000-01-02T00:00:00Z")["data"] == []

        # Cursor pagination walks every activity once, newest first.
        everything = query(limit=1000)["data"]
        seen, cursor = [], None
        while True:
            page = query(limit=3, cursor=cursor)
            seen += [a["id"] for a in page["data"]]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        assert seen == [a["id"] for a in everything] and len(seen) == len(set(seen)) >= 10
        assert seen == sorted(seen, reverse=True)

        bad = http.post("/v1/admin/compliance/activities/query", json={"filters": {"activity_type": "nope"}})
        assert bad.status_code == 400 and "activity_type: unknown 'nope'" in bad.json()["error"]["message"]
        bad = http.post("/v1/admin/compliance/activities/query", json={"filters": {"colour": "red"}})
        assert bad.status_code == 400

        # Anthropic's shape: GET /v1/compliance/activities.
        listed = http.get("/v1/compliance/activities", params={"activity_types[]": "messages.create", "limit": 2})
        body = listed.json()
        assert set(body) == {"data", "first_id", "has_more", "last_id"} and body["has_more"] is True
        older = http.get("/v1/compliance/activities", params={"activity_types[]": "messages.create",
                                                              "after_id": body["last_id"], "limit": 10}).json()
        assert len(body["data"]) + len(older["data"]) == 4 and older["has_more"] is False
        newer = http.get("/v1/compliance/activities", params={"activity_types[]": "messages.create",
                                                              "before_id": older["first_id"], "limit": 10}).json()
        assert [a["id"] for a in newer["data"]] == [a["id"] for a in body["data"]]
        future = http.get("/v1/compliance/activities", params={"created_at[gte]": "2999-01-01T00:00:00Z"}).json()
        assert future["data"] == []
        other_org = http.get("/v1/compliance/activities", params={"organization_ids[]": "org_other"}).json()
        assert other_org["data"] == []

        _check_feed(http, verified["head_seq"])


def _check_feed(http: httpx.Client, head: int) -> None:
    whole = http.get("/v1/admin/audit/events", params={"after": "0", "limit": 10000})
    assert whole.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in whole.text.splitlines()]
    # At least what was verified; events refused since (the 400s above are audited) may be sealed meanwhile.
    assert len(lines) >= head and [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert whole.headers["steward-next-cursor"] == str(len(lines))
    collected, cursor = [], "0"
    while True:
        page = http.get("/v1/admin/audit/events", params={"after": cursor, "limit": 4, "format": "json"}).json()
        collected += page["data"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert collected[:len(lines)] == lines  # paged or whole, the same lines in the same order
    assert http.get("/v1/admin/audit/events", params={"after": "x"}).status_code == 400


def test_content_needs_the_compliance_scope_and_is_audited(audited: Gateway) -> None:
    gateway = audited
    request_ids = _traffic(gateway)
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        refused = http.post("/v1/admin/compliance/activities/query", json={"include_content": True},
                            headers={"x-api-key": gateway.admin_key})
        assert refused.status_code == 403
        assert "compliance" in refused.json()["error"]["message"]
        auditor = {"x-api-key": _compliance_key(gateway)}
        answer = http.post("/v1/admin/compliance/activities/query", headers=auditor,
                           json={"include_content": True, "filters": {"activity_type": "messages.create"}})
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert len(data) == 4 and all(a["content"] is None for a in data)  # no compliance group stores content
        reads = http.post("/v1/admin/compliance/activities/query", headers=auditor,
                          json={"filters": {"activity_type": "compliance.content.read"}}).json()["data"]
        assert len(reads) == 1
        assert reads[0]["details"]["target"] == {"request_ids": sorted(request_ids[:4]), "returned": []}


def test_organizations_and_users(audited: Gateway) -> None:
    gateway = audited
    with httpx.Client(base_url=gateway.url, headers={"x-api-key": gateway.admin_key}, timeout=10) as http:
        orgs = http.get("/v1/admin/compliance/organizations").json()["data"]
        assert [o["name"] for o in orgs] == ["Test Org"]
        users = http.get("/v1/admin/compliance/users", params={"organization_id": orgs[0]["id"]}).json()
        assert [(u["id"], u["role"], u["status"]) for u in users["data"]] == [(gateway.admin_user_id, "admin",
                                                                               "active")]
        assert http.get("/v1/admin/compliance/users", params={"organization_id": "org_x"}).status_code == 404


def test_stored_content_is_returned_and_its_purge_never_breaks_the_chain(audited: Gateway) -> None:
    import asyncio

    from sqlalchemy import text

    from steward.storage.engine import Database
    from tests.compliance.conftest import full_audit, wait_stored

    gateway = audited
    full_audit(gateway)
    with gateway.client("eng") as client:
        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-4-6", max_tokens=16,
            messages=[{"role": "user", "content": "the codeword is HERON-42"}])
    rid = raw.headers["request-id"]
    gateway.wait_audit([rid])
    assert len(wait_stored(gateway, 1)) == 1
    auditor = {"x-api-key": _compliance_key(gateway)}
    with httpx.Client(base_url=gateway.url, headers=auditor, timeout=10) as http:
        before = _sealed(http, 1)
        body = {"include_content": True, "filters": {"activity_type": "messages.create"}}
        [activity] = http.post("/v1/admin/compliance/activities/query", json=body).json()["data"]
        assert activity["request_id"] == rid
        assert activity["content"]["request"]["messages"][0]["content"] == "the codeword is HERON-42"
        assert len(activity["details"]["content_sha256"]) == 64  # the chain covers this hash, not the content

        async def purge() -> None:  # what retention does when the content's time is up
            database = Database(gateway.settings.resolved_database_url())
            try:
                async with database.sessions.begin() as session:
                    await session.execute(text("DELETE FROM stored_content"))
            finally:
                await database.close()
        asyncio.run(purge())
        after = http.get("/v1/admin/audit/verify").json()
        assert after["valid"] is True and after["head_seq"] >= before["head_seq"]
        [activity] = http.post("/v1/admin/compliance/activities/query", json=body).json()["data"]
        assert activity["content"] is None
