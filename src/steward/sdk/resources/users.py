"""``admin.users``: the organization's members: list, get, change role, remove."""

from __future__ import annotations

from steward.sdk.models import OrgRole, User, UserDeleted
from steward.sdk.resources.base import Call, ListCall, Resource, S, compact, endpoint, listing, path


class Users(Resource[S]):
    """Users of the organization (``/v1/admin/users``)."""

    @listing
    def list(self, *, email: str | None = None, role: OrgRole | None = None, limit: int | None = None,
             before_id: str | None = None, after_id: str | None = None) -> ListCall[User]:
        """Users, optionally filtered by exact email or by role."""
        query = compact(email=email, role=role, limit=limit, before_id=before_id, after_id=after_id)
        return ListCall("/v1/admin/users", User, query)

    @endpoint
    def get(self, user_id: str) -> Call[User]:
        """One user, with the ids of their workspaces."""
        return Call("GET", path("/v1/admin/users/{}", user_id), User.model_validate)

    @endpoint
    def update(self, user_id: str, *, role: OrgRole) -> Call[User]:
        """Change a user's organization role (the last admin cannot be demoted)."""
        return Call("PUT", path("/v1/admin/users/{}", user_id), User.model_validate, body={"role": role})

    @endpoint
    def remove(self, user_id: str) -> Call[UserDeleted]:
        """Remove a user: their memberships go, their API keys are deactivated, their admin keys revoked."""
        return Call("DELETE", path("/v1/admin/users/{}", user_id), UserDeleted.model_validate)
