"""``admin.workspaces`` and ``admin.workspaces.members`` through the SDK against a real gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import steward
from steward.sdk import BadRequestError, ConflictError, NotFoundError
from tests.support import Gateway


@pytest.fixture
def admin(gateway: Gateway) -> Iterator[steward.AdminClient]:
    with steward.AdminClient(base_url=gateway.url, api_key=gateway.admin_key) as client:
        yield client


def test_workspace_lifecycle(gateway: Gateway, admin: steward.AdminClient) -> None:
    ws = admin.workspaces.create(name="research", display_color="#336699", tags={"team": "ml"},
                                 allowed_models=["claude-haiku-*"])
    assert ws.id.startswith("wrkspc_") and ws.type == "workspace"
    assert (ws.name, ws.display_color, ws.tags, ws.allowed_models) == ("research", "#336699", {"team": "ml"},
                                                                       ["claude-haiku-*"])
    assert ws.archived_at is None and ws.data_residency is not None and ws.data_residency.workspace_geo == "us"
    assert admin.workspaces.get(ws.id) == ws
    assert {w.name for w in admin.workspaces.list(limit=1)} == {"eng", "marketing", "research"}

    updated = admin.workspaces.update(ws.id, name="research-2", tags={"team": "ml", "cost": "r1"})
    assert (updated.name, updated.tags, updated.allowed_models) == ("research-2", {"team": "ml", "cost": "r1"},
                                                                    ["claude-haiku-*"])
    assert admin.workspaces.update(ws.id, allowed_models=["claude-sonnet-*"]).allowed_models == ["claude-sonnet-*"]
    assert admin.workspaces.update(ws.id, allowed_models=None).allowed_models is None
    with pytest.raises(ConflictError):
        admin.workspaces.update(ws.id, name="eng")
    with pytest.raises(ConflictError):
        admin.workspaces.create(name="eng")
    with pytest.raises(BadRequestError):
        admin.workspaces.create(name="colourful", display_color="blue")

    archived = admin.workspaces.archive(ws.id)
    assert archived.archived_at is not None
    assert ws.id not in {w.id for w in admin.workspaces.list()}
    assert ws.id in {w.id for w in admin.workspaces.list(include_archived=True)}
    with pytest.raises(BadRequestError):
        admin.workspaces.update(ws.id, name="too-late")
    with pytest.raises(BadRequestError):
        admin.keys.create(workspace_id=ws.id, name="ml-prod-archived")


def test_members(gateway: Gateway, admin: steward.AdminClient) -> None:
    eng, me = gateway.workspace_ids["eng"], gateway.admin_user_id
    assert admin.workspaces.members.list(eng).data == []
    added = admin.workspaces.members.add(eng, user_id=me, role="workspace_developer")
    assert (added.type, added.user_id, added.workspace_id, added.workspace_role) == (
        "workspace_member", me, eng, "workspace_developer")
    with pytest.raises(ConflictError):
        admin.workspaces.members.add(eng, user_id=me, role="workspace_user")
    page = admin.workspaces.members.list(eng)
    assert [m.user_id for m in page] == [me] and page.first_id == page.last_id == me
    assert admin.workspaces.members.get(eng, me).workspace_role == "workspace_developer"
    assert admin.users.get(me).workspace_ids == [eng]

    changed = admin.workspaces.members.update(eng, me, role="workspace_admin")
    assert changed.workspace_role == "workspace_admin"
    # The seed's short role names mean the workspace role.
    short = admin.workspaces.members.update(eng, me, role="developer")  # type: ignore[arg-type]
    assert short.workspace_role == "workspace_developer"
    with pytest.raises(BadRequestError):
        admin.workspaces.members.update(eng, me, role="owner")  # type: ignore[arg-type]

    removed = admin.workspaces.members.remove(eng, me)
    assert (removed.type, removed.user_id, removed.workspace_id) == ("workspace_member_deleted", me, eng)
    with pytest.raises(NotFoundError):
        admin.workspaces.members.get(eng, me)
    with pytest.raises(NotFoundError):
        admin.workspaces.members.add(eng, user_id="user_doesnotexist", role="workspace_user")
