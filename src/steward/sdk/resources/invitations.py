"""``admin.invitations``: invite people (optionally into workspaces), list, get, revoke, and accept a token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from steward.sdk.models import InvitationAcceptance, Invite, InviteStatus, OrgRole
from steward.sdk.resources.base import Call, ListCall, Resource, S, compact, endpoint, listing, path


class Invitations(Resource[S]):
    """Invitations to join the organization (``/v1/admin/invitations``)."""

    @endpoint
    def create(self, *, email: str, role: OrgRole, workspaces: Sequence[str | Mapping[str, str]] | None = None,
               expires_in_days: int | None = None) -> Call[Invite]:
        """Invite ``email`` with an organization role; the returned Invite carries its ``token``, this once.

        ``workspaces`` items are workspace ids (the workspace role follows the organization role) or
        ``{"workspace_id": ..., "workspace_role": ...}``. The gateway's default lifetime is 7 days.
        """
        items = [item if isinstance(item, str) else dict(item) for item in workspaces or ()]
        body = compact(email=email, role=role, workspaces=items or None, expires_in_days=expires_in_days)
        return Call("POST", "/v1/admin/invitations", Invite.model_validate, body=body)

    @listing
    def list(self, *, status: InviteStatus | None = None, limit: int | None = None, before_id: str | None = None,
             after_id: str | None = None) -> ListCall[Invite]:
        """Invitations, newest first, optionally of one status (``revoked`` is stored as ``deleted``)."""
        query = compact(status=status, limit=limit, before_id=before_id, after_id=after_id)
        return ListCall("/v1/admin/invitations", Invite, query)

    @endpoint
    def get(self, invite_id: str) -> Call[Invite]:
        """One invitation."""
        return Call("GET", path("/v1/admin/invitations/{}", invite_id), Invite.model_validate)

    @endpoint
    def revoke(self, invite_id: str) -> Call[Invite]:
        """Revoke a pending invitation; it comes back with status ``deleted`` and its token stops working."""
        return Call("DELETE", path("/v1/admin/invitations/{}", invite_id), Invite.model_validate)

    @endpoint
    def accept(self, *, token: str, name: str) -> Call[InvitationAcceptance]:
        """Redeem an invitation token: the new user and their first admin key (``secret`` shown once).

        The token is the credential: no admin key is needed, and the client's own key is not sent.
        """
        return Call("POST", "/v1/admin/invitations/accept", InvitationAcceptance.model_validate,
                    body={"token": token, "name": name}, authenticated=False)
