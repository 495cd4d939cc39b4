"""Invitations, users and admin keys through the SDK against a real gateway, and what each role may do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import steward
from steward.sdk import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvitationAcceptance,
    MissingAdminKeyError,
    NotFoundError,
    PermissionDeniedError,
)
from tests.support import Gateway


@pytest.fixture
def admin(gateway: Gateway) -> Iterator[steward.AdminClient]:
    with steward.AdminClient(base_url=gateway.url, api_key=gateway.admin_key) as client:
        yield client


def _join(admin: steward.AdminClient, email: str, role: str, workspaces: list[str] | None = None,
          ) -> InvitationAcceptance:
    invite = admin.invitations.create(email=email, role=role, workspaces=workspaces)  # type: ignore[arg-type]
    assert invite.token is not None
    return admin.invitations.accept(token=invite.token, name=email.split("@", maxsplit=1)[0].title())


def test_invitation_round_trip(gateway: Gateway, admin: steward.AdminClient,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    eng = gateway.workspace_ids["eng"]
    invite = admin.invitations.create(email="Dev@Example.com", role="developer", workspaces=[eng], expires_in_days=7)
    assert invite.token and invite.token.startswith("stw_inv_") and invite.token not in repr(invite)
    assert (invite.email, invite.role, invite.status) == ("dev@example.com", "developer", "pending")
    assert [(w.workspace_id, w.workspace_role) for w in invite.workspaces] == [(eng, "workspace_developer")]
    assert (invite.expires_at - invite.invited_at).days == 7 and invite.accepted_at is None

    pending = admin.invitations.list(status="pending")
    assert [i.id for i in pending] == [invite.id] and pending.data[0].token is None
    assert admin.invitations.get(invite.id).token is None

    # The invitee has only the token: a client without any admin key can accept it (and sends no key).
    monkeypatch.delenv("STEWARD_ADMIN_KEY", raising=False)
    with steward.AdminClient(base_url=gateway.url) as anonymous:
        joined = anonymous.invitations.accept(token=invite.token, name="Dana Developer")
        with pytest.raises(MissingAdminKeyError):
            anonymous.users.list()
    assert (joined.user.email, joined.user.role, joined.user.workspace_ids) == ("dev@example.com", "developer", [eng])
    assert joined.admin_key.user_id == joined.user.id and joined.admin_key.status == "active"
    assert joined.secret.startswith("sk-stw-admin01-") and joined.secret not in repr(joined)
    accepted = admin.invitations.get(invite.id)
    assert accepted.status == "accepted" and accepted.accepted_at is not None
    assert [i.id for i in admin.invitations.list(status="accepted")] == [invite.id]
    with pytest.raises(BadRequestError):
        admin.invitations.accept(token=invite.token, name="Twice")

    # The new key acts with the new user's role: a developer manages keys in their own workspace only.
    with steward.AdminClient(base_url=gateway.url, api_key=joined.secret) as dev:
        assert dev.users.get(joined.user.id).role == "developer"
        made = dev.keys.create(workspace_id=eng, name="dana-dev-notebook")
        assert made.created_by is not None and made.created_by.id == joined.user.id
        with pytest.raises(PermissionDeniedError):
            dev.keys.create(workspace_id=gateway.workspace_ids["marketing"], name="dana-dev-elsewhere")
        with pytest.raises(PermissionDeniedError):
            dev.users.list()


def test_revoked_invitation(admin: steward.AdminClient) -> None:
    keep = admin.invitations.create(email="keep@example.com", role="viewer")
    gone = admin.invitations.create(email="gone@example.com", role="billing")
    assert gone.token is not None
    revoked = admin.invitations.revoke(gone.id)
    assert revoked.id == gone.id and revoked.status == "deleted" and revoked.token is None
    assert [i.id for i in admin.invitations.list(status="revoked")] == [gone.id]
    assert [i.id for i in admin.invitations.list(status="pending")] == [keep.id]
    assert {i.id for i in admin.invitations.list()} == {keep.id, gone.id}
    with pytest.raises(BadRequestError) as refused:
        admin.invitations.accept(token=gone.token, name="Too Late")
    assert "deleted" in refused.value.message
    with pytest.raises(BadRequestError):
        admin.invitations.revoke(gone.id)
    with pytest.raises(ConflictError) as duplicate:
        admin.invitations.create(email="keep@example.com", role="viewer")
    assert duplicate.value.status == 409 and duplicate.value.type == "conflict_error"
    with pytest.raises(NotFoundError):
        admin.invitations.accept(token="stw_inv_not-a-real-token", name="Nobody")


def test_viewer_is_refused_a_write(gateway: Gateway, admin: steward.AdminClient) -> None:
    viewer = _join(admin, "viewer@example.com", "viewer")
    with steward.AdminClient(base_url=gateway.url, api_key=viewer.secret) as client:
        assert {u.email for u in client.users.list()} == {"admin@test.example", "viewer@example.com"}
        assert {k.id for k in client.keys.list()} == set(gateway.key_ids.values())
        with pytest.raises(PermissionDeniedError) as refused:
            client.keys.create(workspace_id=gateway.workspace_ids["eng"], name="viewer-prod-sneaky")
    error = refused.value
    assert error.status == 403 and error.type == "permission_error"
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert "viewer" in error.message and error.body["type"] == "error"


def test_users(gateway: Gateway, admin: steward.AdminClient) -> None:
    eng = gateway.workspace_ids["eng"]
    dev = _join(admin, "dev@example.com", "developer", [eng])
    assert [u.id for u in admin.users.list(email="dev@example.com")] == [dev.user.id]
    assert [u.id for u in admin.users.list(role="admin")] == [gateway.admin_user_id]
    assert {u.id for u in admin.users.list(limit=1)} == {gateway.admin_user_id, dev.user.id}
    me = admin.users.get(gateway.admin_user_id)
    assert (me.email, me.role, me.type) == ("admin@test.example", "admin", "user")

    promoted = admin.users.update(dev.user.id, role="admin")
    assert promoted.role == "admin" and promoted.workspace_ids == [eng]
    assert admin.users.update(dev.user.id, role="developer").role == "developer"
    with pytest.raises(BadRequestError):
        admin.users.update(gateway.admin_user_id, role="viewer")  # the last admin stays

    removed = admin.users.remove(dev.user.id)
    assert (removed.id, removed.type) == (dev.user.id, "user_deleted")
    with pytest.raises(NotFoundError):
        admin.users.get(dev.user.id)
    assert dev.user.id not in {m.user_id for m in admin.workspaces.members.list(eng)}
    with steward.AdminClient(base_url=gateway.url, api_key=dev.secret) as gone, pytest.raises(AuthenticationError):
        gone.users.get(dev.user.id)


def test_admin_keys(gateway: Gateway, admin: steward.AdminClient) -> None:
    first = admin.admin_keys.list()
    assert [k.user_id for k in first] == [gateway.admin_user_id] and first.data[0].secret is None

    auditor = admin.admin_keys.create(name="auditor", scopes=["read_only"], expires_in_days=30)
    assert auditor.secret and auditor.secret.startswith("sk-stw-admin01-") and auditor.scopes == ["read_only"]
    assert auditor.user_id == gateway.admin_user_id and auditor.expires_at is not None
    with steward.AdminClient(base_url=gateway.url, api_key=auditor.secret) as read_only:
        assert read_only.users.get(gateway.admin_user_id).role == "admin"
        with pytest.raises(PermissionDeniedError) as refused:
            read_only.workspaces.create(name="nope")
        assert "read-only" in refused.value.message

    viewer = _join(admin, "viewer@example.com", "viewer")
    theirs = admin.admin_keys.create(name="for the viewer", user_id=viewer.user.id)
    assert theirs.user_id == viewer.user.id and theirs.secret is not None
    assert {k.id for k in admin.admin_keys.list(limit=1)} == {first.data[0].id, auditor.id, viewer.admin_key.id,
                                                             theirs.id}
    with steward.AdminClient(base_url=gateway.url, api_key=theirs.secret) as client:
        assert {k.id for k in client.admin_keys.list()} == {viewer.admin_key.id, theirs.id}
        with pytest.raises(PermissionDeniedError):
            client.admin_keys.create(name="for the admin", user_id=gateway.admin_user_id)

    assert admin.admin_keys.revoke(auditor.id).status == "archived"
    with steward.AdminClient(base_url=gateway.url, api_key=auditor.secret) as revoked, \
            pytest.raises(AuthenticationError) as refused_key:
        revoked.users.list()
    assert refused_key.value.status == 401 and refused_key.value.type == "authentication_error"
