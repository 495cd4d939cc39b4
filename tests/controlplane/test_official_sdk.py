"""The official SDK's ``client.organization`` resources, pointed at Steward with an admin key, parse every
response: me, users, invites, workspaces, workspace members and API keys."""

from __future__ import annotations

import anthropic
import pytest

from tests.support import Gateway


def org_client(gateway: Gateway, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key or gateway.admin_key, max_retries=0)


def test_me_users_and_invites(gateway: Gateway) -> None:
    with org_client(gateway) as client:
        me = client.organization.retrieve()
        assert me.type == "organization" and me.name == "Test Org"
        users = client.organization.users.list()
        assert [u.id for u in users.data] == [gateway.admin_user_id]
        admin = client.organization.users.retrieve(gateway.admin_user_id)
        assert admin.role == "admin" and admin.type == "user" and admin.email == "admin@test.example"
        invite = client.organization.invites.create(email="Dev@Example.com", role="developer")
        assert invite.id.startswith("invite_") and invite.status == "pending" and invite.email == "dev@example.com"
        assert invite.expires_at > invite.invited_at and invite.rbac_group_ids == []
        assert [i.id for i in client.organization.invites.list(statuses=["pending"])] == [invite.id]
        assert client.organization.invites.list(statuses=["accepted"]).data == []
        assert client.organization.invites.retrieve(invite.id).email == "dev@example.com"
        deleted = client.organization.invites.delete(invite.id)
        assert (deleted.id, deleted.type) == (invite.id, "invite_deleted")
        assert client.organization.invites.retrieve(invite.id).status == "deleted"
        with pytest.raises(anthropic.BadRequestError, match="last admin"):
            client.organization.users.update(gateway.admin_user_id, role="developer")
        with pytest.raises(anthropic.NotFoundError):
            client.organization.users.retrieve("user_01doesnotexist")


def test_workspaces_and_members(gateway: Gateway) -> None:
    with org_client(gateway) as client:
        created = client.organization.workspaces.create(name="research", display_color="#123ABC",
                                                        tags={"cost-center": "42"})
        assert created.id.startswith("wrkspc_") and created.data_residency.workspace_geo == "us"
        assert created.tags == {"cost-center": "42"} and created.archived_at is None
        listed = [w.id for w in client.organization.workspaces.list(limit=100)]
        assert created.id in listed and gateway.workspace_ids["eng"] in listed
        updated = client.organization.workspaces.update(created.id, name="research-2", tags={"cost-center": None,
                                                                                             "env": "prod"})
        assert updated.name == "research-2" and updated.tags == {"env": "prod"}
        member = client.organization.workspaces.members.add(created.id, user_id=gateway.admin_user_id,
                                                            workspace_role="workspace_developer")
        assert (member.type, member.workspace_role) == ("workspace_member", "workspace_developer")
        assert [m.user_id for m in client.organization.workspaces.members.list(created.id)] == [gateway.admin_user_id]
        changed = client.organization.workspaces.members.update(gateway.admin_user_id, workspace_id=created.id,
                                                                workspace_role="workspace_admin")
        assert changed.workspace_role == "workspace_admin"
        got = client.organization.workspaces.members.retrieve(gateway.admin_user_id, workspace_id=created.id)
        assert got.workspace_role == "workspace_admin"
        removed = client.organization.workspaces.members.remove(gateway.admin_user_id, workspace_id=created.id)
        assert removed.type == "workspace_member_deleted"
        archived = client.organization.workspaces.archive(created.id)
        assert archived.archived_at is not None
        assert created.id not in [w.id for w in client.organization.workspaces.list(limit=100)]
        assert created.id in [w.id for w in client.organization.workspaces.list(limit=100, include_archived=True)]


def test_api_keys(gateway: Gateway) -> None:
    with org_client(gateway) as client:
        keys = client.organization.api_keys.list(workspace_id=gateway.workspace_ids["eng"])
        [key] = keys.data
        assert key.id == gateway.key_ids["eng"] and key.status == "active" and key.type == "api_key"
        assert key.partial_key_hint and gateway.keys["eng"] not in key.model_dump_json()
        assert key.scope.type == "workspace"
        renamed = client.organization.api_keys.update(key.id, name="eng-prod-inference")
        assert renamed.name == "eng-prod-inference"
        inactive = client.organization.api_keys.update(key.id, status="inactive")
        assert inactive.status == "inactive"
        assert [k.id for k in client.organization.api_keys.list(status="inactive")] == [key.id]
        with pytest.raises(anthropic.BadRequestError, match="naming convention"):
            client.organization.api_keys.update(key.id, name="Bad Name")
        page = client.organization.api_keys.list(limit=1)
        assert len(page.data) == 1 and page.has_more
        assert len(list(client.organization.api_keys.list(limit=1))) == 2  # auto-pagination


def test_workspace_keys_are_refused_and_admin_keys_cannot_infer(gateway: Gateway) -> None:
    with org_client(gateway, gateway.keys["eng"]) as client, pytest.raises(anthropic.PermissionDeniedError):
        client.organization.users.list()
    with org_client(gateway) as client, pytest.raises(anthropic.AuthenticationError, match="Admin keys"):
        client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    with anthropic.Anthropic(base_url=gateway.url, api_key="sk-stw-admin01-nope", max_retries=0) as client, \
            pytest.raises(anthropic.AuthenticationError):
        client.organization.retrieve()
