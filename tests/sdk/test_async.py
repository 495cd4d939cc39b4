"""``AsyncAdminClient`` against a real gateway: the same calls, awaited, with ``async for`` over every page."""

from __future__ import annotations

import asyncio
import time

import anthropic
import pytest

import steward
from steward.sdk import AsyncPage, Invite, NotFoundError, PermissionDeniedError
from tests.support import Gateway


async def _accepted_within(gateway: Gateway, secret: str, seconds: float = 1.0) -> None:
    async with anthropic.AsyncAnthropic(base_url=gateway.url, api_key=secret, max_retries=0) as client:
        deadline = time.monotonic() + seconds
        while True:
            try:
                assert (await client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                                     messages=[{"role": "user", "content": "hi"}])).type == "message"
                return
            except anthropic.AuthenticationError:
                assert time.monotonic() < deadline, "the new secret is still refused"
                await asyncio.sleep(0.02)


async def test_async_people_and_keys(gateway: Gateway) -> None:
    eng = gateway.workspace_ids["eng"]
    async with steward.AsyncAdminClient(base_url=gateway.url, api_key=gateway.admin_key) as admin:
        invite = await admin.invitations.create(email="async@example.com", role="viewer", workspaces=[eng])
        assert isinstance(invite, Invite) and invite.token is not None
        pending = await admin.invitations.list(status="pending")
        assert isinstance(pending, AsyncPage) and [i.id async for i in pending] == [invite.id]
        joined = await admin.invitations.accept(token=invite.token, name="Async Viewer")
        assert joined.user.role == "viewer" and joined.user.workspace_ids == [eng]
        member = await admin.workspaces.members.get(eng, joined.user.id)
        assert member.workspace_role == "workspace_user"

        key = await admin.keys.create(workspace_id=eng, name="async-prod-inference")
        assert key.secret is not None
        await _accepted_within(gateway, key.secret)
        rotated = await admin.keys.rotate(key.id, grace_period_seconds=0)
        assert rotated.secret is not None and rotated.secret != key.secret
        await _accepted_within(gateway, rotated.secret)
        assert (await admin.keys.revoke(key.id)).status == "archived"

        first = await admin.keys.list(limit=1)
        assert first.has_more and len(first.data) == 1
        every = [k.id async for k in first]
        assert len(every) == 3 and len(set(every)) == 3
        assert len([page async for page in first.iter_pages()]) == 3
        assert len({u.id async for u in await admin.users.list(limit=1)}) == 2

        with pytest.raises(NotFoundError):
            await admin.workspaces.get("wrkspc_nope")

    async with steward.AsyncAdminClient(base_url=gateway.url, api_key=joined.secret) as viewer:
        assert (await viewer.users.get(joined.user.id)).email == "async@example.com"
        with pytest.raises(PermissionDeniedError) as refused:
            await viewer.keys.create(workspace_id=eng, name="viewer-prod-sneaky")
    assert refused.value.status == 403 and refused.value.type == "permission_error"
    assert refused.value.request_id is not None and refused.value.request_id.startswith("req_")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the same calls run on both in test_workspaces
async def test_async_workspaces_and_admin_keys(gateway: Gateway) -> None:
    async with steward.AsyncAdminClient(base_url=gateway.url, api_key=gateway.admin_key) as admin:
        ws = await admin.workspaces.create(name="async-ws", tags={"team": "ml"})
        renamed = await admin.workspaces.update(ws.id, name="async-ws-2")
        assert renamed.name == "async-ws-2" and renamed.tags == {"team": "ml"}
        await admin.workspaces.members.add(ws.id, user_id=gateway.admin_user_id, role="workspace_admin")
        assert [m.user_id async for m in await admin.workspaces.members.list(ws.id)] == [gateway.admin_user_id]
        removed = await admin.workspaces.members.remove(ws.id, gateway.admin_user_id)
        assert removed.type == "workspace_member_deleted"
        assert (await admin.workspaces.archive(ws.id)).archived_at is not None

        made = await admin.admin_keys.create(name="async automation")
        assert made.secret is not None
        report = await admin.keys.report()
        assert report.rotation_due == [] and report.unused == []
        assert (await admin.admin_keys.revoke(made.id)).status == "archived"
        users = await admin.users.list(role="admin")
        assert [u.id for u in users.data] == [gateway.admin_user_id] and await users.next_page() is None
