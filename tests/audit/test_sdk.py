"""The Python SDK's compliance and audit calls against a real gateway: ``admin.compliance.activities``,
``organizations``, ``users``, ``admin.audit.verify()/events()`` and ``admin.access_review()``, sync and async."""

from __future__ import annotations

import asyncio
import time

import pytest

from steward.sdk import AdminClient, AsyncAdminClient
from steward.sdk.errors import PermissionDeniedError
from tests.support import Gateway


def test_sdk_compliance_and_audit(audited: Gateway) -> None:
    gateway = audited
    with gateway.client("eng") as client:
        client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    with AdminClient(base_url=gateway.url, api_key=gateway.admin_key) as admin:
        deadline = time.monotonic() + 15
        while (verified := admin.audit.verify()).head_seq < 5 or not verified.valid:
            assert time.monotonic() < deadline, verified
            time.sleep(0.1)
        found = admin.compliance.activities.query(filters={"activity_type": "messages.create"})
        assert [a.type for a in found.data] == ["messages.create"] and found.data[0].model == "claude-haiku-4-5"
        listed = list(admin.compliance.activities.list(activity_types=["admin.keys.create"], limit=1))
        assert len(listed) == 2  # one per workspace, fetched one page at a time
        [org] = list(admin.compliance.organizations.list())
        assert org.name == "Test Org"
        assert [u.id for u in admin.compliance.users.list(organization_id=org.id)] == [gateway.admin_user_id]
        feed = admin.audit.events(after="0", limit=3)
        assert [line["seq"] for line in feed.data] == [1, 2, 3] and feed.next_cursor == "3" and feed.has_more
        review = admin.access_review(workspace_id=gateway.workspace_ids["eng"])
        assert review["workspace"]["id"] == gateway.workspace_ids["eng"]
        with pytest.raises(PermissionDeniedError):
            admin.compliance.activities.query(include_content=True)

    async def from_async() -> int:
        async with AsyncAdminClient(base_url=gateway.url, api_key=gateway.admin_key) as admin:
            result = await admin.audit.verify()
            return result.head_seq
    assert asyncio.run(from_async()) >= 5
