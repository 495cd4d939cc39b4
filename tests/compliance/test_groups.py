"""Compliance groups over the Admin API: create with the seed's body, list (paged), get, update, delete,
workspace membership, legal hold, validation as clear 400s, audit events, the organization's data key created
(wrapped, never plain) when a group asks for full audit, and a config version bump for the gateways."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from steward.controlplane.services import ControlPlane
from steward.storage.engine import Database
from steward.storage.models import AuditEvent, OrgDataKey
from tests.support import Gateway

PATH = "/v1/admin/compliance/groups"
HIPAA = {"name": "HIPAA Workloads", "description": "Healthcare data processing",
         "restrictions": {"data_retention_days": 90, "require_encryption": True, "allowed_regions": ["us"],
                          "audit_level": "full"}}


def _admin(gateway: Gateway) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, headers={"x-api-key": gateway.admin_key}, timeout=10)


def _rows(gateway: Gateway, model: type[Any]) -> list[Any]:
    async def read() -> list[Any]:
        from sqlalchemy import select

        database = Database(gateway.settings.resolved_database_url())
        try:
            async with database.sessions() as session:
                return list((await session.execute(select(model))).scalars().all())
        finally:
            await database.close()
    return asyncio.run(read())


def test_group_lifecycle(gateway: Gateway) -> None:
    eng = gateway.workspace_ids["eng"]
    version_before = gateway.control(lambda p: p.repo.version())
    with _admin(gateway) as http:
        created = http.post(PATH, json=HIPAA)
        assert created.status_code == 200, created.text
        group = created.json()
        assert group["type"] == "compliance_group" and group["id"].startswith("cgroup_")
        assert group["restrictions"] == HIPAA["restrictions"]
        assert group["legal_hold"] is False and group["workspace_ids"] == []
        gid = group["id"]

        joined = http.post(f"{PATH}/{gid}/workspaces", json={"workspace_id": eng}).json()
        assert joined["workspace_ids"] == [eng]
        again = http.post(f"{PATH}/{gid}/workspaces", json={"workspace_id": eng}).json()
        assert again["workspace_ids"] == [eng]  # idempotent

        updated = http.post(f"{PATH}/{gid}", json={"restrictions": {"data_retention_days": 30}}).json()
        assert updated["restrictions"]["data_retention_days"] == 30
        assert updated["restrictions"]["audit_level"] == "full"  # merged over the current restrictions

        held = http.post(f"{PATH}/{gid}/legal_hold", json={"enabled": True, "reason": "litigation 2026-17"}).json()
        assert held["legal_hold"] is True
        assert http.get(f"{PATH}/{gid}").json()["legal_hold"] is True

        other = http.post(PATH, json={"name": "SOC2"}).json()
        assert other["restrictions"] == {"data_retention_days": None, "require_encryption": False,
                                         "allowed_regions": None, "audit_level": "metadata"}
        first = http.get(PATH, params={"limit": 1}).json()
        assert [g["id"] for g in first["data"]] == [gid] and first["has_more"] is True
        second = http.get(PATH, params={"limit": 1, "after_id": first["last_id"]}).json()
        assert [g["id"] for g in second["data"]] == [other["id"]] and second["has_more"] is False

        left = http.delete(f"{PATH}/{gid}/workspaces/{eng}").json()
        assert left["workspace_ids"] == []
        assert http.delete(f"{PATH}/{gid}/workspaces/{eng}").status_code == 404
        assert http.delete(f"{PATH}/{gid}").json() == {"id": gid, "type": "compliance_group_deleted"}
        assert http.get(f"{PATH}/{gid}").status_code == 404

    assert gateway.control(lambda p: p.repo.version()) > version_before
    keys = _rows(gateway, OrgDataKey)
    assert len(keys) == 1 and len(keys[0].wrapped_key) == 12 + 32 + 16  # nonce + key + tag: wrapped, not plain
    events = {e.event for e in _rows(gateway, AuditEvent)}
    assert {"admin.compliance_groups.create", "admin.compliance_groups.add_workspace",
            "admin.compliance_groups.update", "admin.compliance_groups.legal_hold",
            "admin.compliance_groups.remove_workspace", "admin.compliance_groups.delete"} <= events


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "x", "restrictions": {"audit_level": "everything"}}, "restrictions.audit_level"),
    ({"name": "x", "restrictions": {"data_retention_days": 0}}, "restrictions.data_retention_days"),
    ({"name": "x", "restrictions": {"data_retention_days": "90"}}, "restrictions.data_retention_days"),
    ({"name": "x", "restrictions": {"allowed_regions": "us"}}, "restrictions.allowed_regions"),
    ({"name": "x", "restrictions": {"require_encryption": "yes"}}, "restrictions.require_encryption"),
    ({"name": "x", "restrictions": {"retention": 5}}, "restrictions.retention"),
    ({"name": "x", "colour": "red"}, "colour"),
])
def test_bad_input_is_a_clear_400(gateway: Gateway, body: dict[str, Any], field: str) -> None:
    with _admin(gateway) as http:
        response = http.post(PATH, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(field), error


def test_conflicts_and_unknown_targets(gateway: Gateway) -> None:
    with _admin(gateway) as http:
        gid = http.post(PATH, json={"name": "PCI"}).json()["id"]
        assert http.post(PATH, json={"name": "PCI"}).status_code == 409
        missing = http.post(f"{PATH}/{gid}/workspaces", json={"workspace_id": "wrkspc_01nobody00000000000000"})
        assert missing.status_code == 404
        assert http.post(f"{PATH}/cgroup_01nobody/legal_hold", json={"enabled": True}).status_code == 404


def test_service_as_operator(gateway: Gateway) -> None:
    async def action(plane: ControlPlane) -> dict[str, Any]:
        me = await plane.system()
        await plane.admin.compliance_groups.create(me, "GDPR", restrictions={"allowed_regions": ["EU"]})
        found = await plane.admin.compliance_groups.find(me, "GDPR")
        assert found is not None
        return found
    found = gateway.control(action)
    assert found["restrictions"]["allowed_regions"] == ["eu"]


def test_racing_creates_of_one_name_conflict_instead_of_failing(gateway: Gateway) -> None:
    """Creates that all pass the service's name check at once: the unique index decides, the losers get a 409."""
    from steward.errors import ConflictError

    async def action(plane: ControlPlane) -> list[Any]:
        me = await plane.system()
        return await asyncio.gather(*(plane.admin.compliance_groups.create(me, "Racing") for _ in range(6)),
                                    return_exceptions=True)
    outcomes = gateway.control(action)
    created = [o for o in outcomes if isinstance(o, dict)]
    assert len(created) == 1 and created[0]["name"] == "Racing"
    assert all(isinstance(o, ConflictError) for o in outcomes if not isinstance(o, dict)), outcomes
