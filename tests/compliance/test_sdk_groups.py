"""``admin.compliance.groups`` in the Python SDK (sync and async) against a real gateway: every call, typed."""

from __future__ import annotations

import asyncio

import pytest

from steward import AdminClient, AsyncAdminClient
from steward.sdk.errors import NotFoundError
from tests.support import Gateway


def test_sdk_groups_round_trip(gateway: Gateway) -> None:
    eng = gateway.workspace_ids["eng"]
    with AdminClient(base_url=gateway.url, api_key=gateway.admin_key, max_retries=0) as admin:
        group = admin.compliance.groups.create(
            name="HIPAA Workloads", description="Healthcare data processing",
            restrictions={"data_retention_days": 90, "require_encryption": True, "allowed_regions": ["us"],
                          "audit_level": "full"})
        assert group.restrictions.audit_level == "full" and group.restrictions.data_retention_days == 90
        assert admin.compliance.groups.add_workspace(group.id, workspace_id=eng).workspace_ids == [eng]
        assert admin.compliance.groups.legal_hold(group.id, enabled=True, reason="case").legal_hold is True
        renamed = admin.compliance.groups.update(group.id, name="HIPAA", restrictions={"data_retention_days": 30})
        assert (renamed.name, renamed.restrictions.data_retention_days) == ("HIPAA", 30)
        assert [g.id for g in admin.compliance.groups.list()] == [group.id]
        assert admin.compliance.groups.get(group.id).legal_hold is True
        assert admin.compliance.groups.remove_workspace(group.id, eng).workspace_ids == []
        assert admin.compliance.groups.delete(group.id).type == "compliance_group_deleted"
        with pytest.raises(NotFoundError):
            admin.compliance.groups.get(group.id)


def test_async_sdk_lists_groups(gateway: Gateway) -> None:
    async def main() -> list[str]:
        async with AsyncAdminClient(base_url=gateway.url, api_key=gateway.admin_key, max_retries=0) as admin:
            await admin.compliance.groups.create(name="SOC2")
            page = await admin.compliance.groups.list(limit=10)
            return [g.name for g in page.data]
    assert asyncio.run(main()) == ["SOC2"]


def test_every_group_call_is_in_the_sdk_reference() -> None:
    from pathlib import Path

    from steward.sdk.resources.base import endpoint, listing
    from steward.sdk.resources.compliance import Groups

    text = (Path(__file__).resolve().parents[2] / "docs" / "sdk.md").read_text()
    calls = [name for name, value in vars(Groups).items() if isinstance(value, endpoint | listing)]
    assert len(calls) == 8
    for name in calls:
        assert f"| `compliance.groups.{name}(" in text, name
