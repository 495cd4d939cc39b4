"""Access review of a workspace over HTTP (JSON and CSV): roles, keys by age and last use with their flags,
admin keys, pending and expired invitations, and the role changes of the period."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from steward.controlplane.services import ControlPlane
from steward.storage.engine import Database
from tests.support import Gateway


def _setup(gateway: Gateway) -> dict[str, str]:
    eng = gateway.workspace_ids["eng"]

    async def action(plane: ControlPlane) -> dict[str, str]:
        me = await plane.system()
        invite = await plane.admin.invitations.create(me, "dev@example.com", "developer",
                                                      workspaces=[{"workspace_id": eng,
                                                                   "workspace_role": "workspace_developer"}])
        accepted = await plane.admin.invitations.accept(invite["token"], "Dev")
        pending = await plane.admin.invitations.create(me, "later@example.com", "user",
                                                       workspaces=[{"workspace_id": eng,
                                                                    "workspace_role": "workspace_user"}])
        stale = await plane.admin.invitations.create(me, "stale@example.com", "viewer")
        await plane.admin.members.update(me, eng, accepted["user"]["id"], "workspace_admin")
        old = await plane.admin.keys.create(me, eng, "eng-prod-legacy")
        return {"user": accepted["user"]["id"], "pending": pending["id"], "stale": stale["id"], "old_key": old["id"]}
    made: dict[str, str] = gateway.control(action)

    async def age() -> None:  # time passes: one key was last used 200 days ago, one invitation expired
        database = Database(gateway.settings.resolved_database_url())
        long_ago = datetime.now(UTC) - timedelta(days=200)
        try:
            async with database.sessions.begin() as session:
                await session.execute(text("UPDATE api_keys SET created_at = :t, last_used_at = :t WHERE id = :k"),
                                      {"t": long_ago, "k": made["old_key"]})
                await session.execute(text("UPDATE invitations SET expires_at = :t WHERE id = :i"),
                                      {"t": long_ago, "i": made["stale"]})
        finally:
            await database.close()
    asyncio.run(age())
    return made


def test_access_review_json_and_csv(gateway: Gateway) -> None:
    made = _setup(gateway)
    eng = gateway.workspace_ids["eng"]
    # The gateway's own key in eng is used once, so it is the one key without a flag.
    with gateway.client("eng") as client:
        client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    with httpx.Client(base_url=gateway.url, headers={"x-api-key": gateway.admin_key}, timeout=10) as http:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while True:
            review = http.get("/v1/admin/compliance/access_review", params={"workspace_id": eng}).json()
            keys = {k["id"]: k for k in review["api_keys"]}
            if keys[gateway.key_ids["eng"]]["last_used_at"] or datetime.now(UTC) > deadline:
                break
            time.sleep(0.1)
        people = {p["user_id"]: p for p in review["people"]}
        assert people[made["user"]]["org_role"] == "developer"
        assert people[made["user"]]["workspace_role"] == "workspace_admin"
        assert people[gateway.admin_user_id]["access"] == "administers every workspace"
        assert keys[made["old_key"]]["flags"] == ["unused_90d"] and keys[made["old_key"]]["age_days"] == 200
        assert keys[gateway.key_ids["eng"]]["flags"] == []
        assert gateway.key_ids["marketing"] not in keys
        assert [k["user_id"] for k in review["admin_keys"]].count(made["user"]) == 1
        assert [i["id"] for i in review["invitations"]["pending"]] == [made["pending"]]
        assert [i["id"] for i in review["invitations"]["expired"]] == [made["stale"]]
        changes = [(c["type"], (c["target"] or {}).get("user_id")) for c in review["role_changes"]]
        assert ("admin.members.update", made["user"]) in changes
        assert "admin.invitations.accept" in {kind for kind, _ in changes}
        assert review["summary"]["api_keys_flagged"] == 1

        as_csv = http.get("/v1/admin/compliance/access_review", params={"workspace_id": eng, "format": "csv"})
        assert as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert {r["section"] for r in rows} == {"person", "api_key", "admin_key", "invitation", "role_change"}
        legacy = [r for r in rows if r["id"] == made["old_key"]]
        assert legacy[0]["flags"] == "unused_90d" and legacy[0]["age_days"] == "200"

        missing = http.get("/v1/admin/compliance/access_review", params={"workspace_id": "wrkspc_01nope"})
        assert missing.status_code == 404
        window = http.get("/v1/admin/compliance/access_review",
                          params={"workspace_id": eng, "starting_at": "2001-01-01T00:00:00Z",
                                  "ending_at": "2001-02-01T00:00:00Z"}).json()
        assert window["role_changes"] == []
