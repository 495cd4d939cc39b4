"""``admin.workspaces`` (create, list, get, update, archive) and ``admin.workspaces.members``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from steward.sdk.models import Workspace, WorkspaceMember, WorkspaceMemberDeleted, WorkspaceRole
from steward.sdk.resources.base import (
    NOT_GIVEN,
    Call,
    ListCall,
    NotGiven,
    Resource,
    S,
    compact,
    endpoint,
    listing,
    path,
)


class Members(Resource[S]):
    """Members of one workspace, with a workspace role (``/v1/admin/workspaces/{ws}/members``)."""

    @endpoint
    def add(self, workspace_id: str, *, user_id: str, role: WorkspaceRole) -> Call[WorkspaceMember]:
        """Add an organization user to a workspace."""
        return Call("POST", path("/v1/admin/workspaces/{}/members", workspace_id), WorkspaceMember.model_validate,
                    body={"user_id": user_id, "role": role})

    @listing
    def list(self, workspace_id: str, *, limit: int | None = None, before_id: str | None = None,
             after_id: str | None = None) -> ListCall[WorkspaceMember]:
        """The workspace's members (cursors are user ids)."""
        query = compact(limit=limit, before_id=before_id, after_id=after_id)
        return ListCall(path("/v1/admin/workspaces/{}/members", workspace_id), WorkspaceMember, query)

    @endpoint
    def get(self, workspace_id: str, user_id: str) -> Call[WorkspaceMember]:
        """One membership."""
        return Call("GET", path("/v1/admin/workspaces/{}/members/{}", workspace_id, user_id),
                    WorkspaceMember.model_validate)

    @endpoint
    def update(self, workspace_id: str, user_id: str, *, role: WorkspaceRole) -> Call[WorkspaceMember]:
        """Change a member's workspace role."""
        return Call("PUT", path("/v1/admin/workspaces/{}/members/{}", workspace_id, user_id),
                    WorkspaceMember.model_validate, body={"role": role})

    @endpoint
    def remove(self, workspace_id: str, user_id: str) -> Call[WorkspaceMemberDeleted]:
        """Take a user out of a workspace."""
        return Call("DELETE", path("/v1/admin/workspaces/{}/members/{}", workspace_id, user_id),
                    WorkspaceMemberDeleted.model_validate)


class Workspaces(Resource[S]):
    """Workspaces of the organization (``/v1/admin/workspaces``); ``members`` manages who is in each."""

    @property
    def members(self) -> Members[S]:
        """The members of each workspace."""
        return Members(self._sender)

    @endpoint
    def create(self, *, name: str, display_color: str | None = None, tags: Mapping[str, str] | None = None,
               allowed_models: Sequence[str] | None = None) -> Call[Workspace]:
        """A new workspace; ``allowed_models`` (ids or patterns such as ``claude-haiku-*``) limits its keys."""
        body = compact(name=name, display_color=display_color, tags=dict(tags) if tags is not None else None,
                       allowed_models=list(allowed_models) if allowed_models is not None else None)
        return Call("POST", "/v1/admin/workspaces", Workspace.model_validate, body=body)

    @listing
    def list(self, *, include_archived: bool = False, limit: int | None = None, before_id: str | None = None,
             after_id: str | None = None) -> ListCall[Workspace]:
        """Workspaces the key's user may see; archived ones only when asked."""
        query = compact(include_archived="true" if include_archived else None, limit=limit, before_id=before_id,
                        after_id=after_id)
        return ListCall("/v1/admin/workspaces", Workspace, query)

    @endpoint
    def get(self, workspace_id: str) -> Call[Workspace]:
        """One workspace."""
        return Call("GET", path("/v1/admin/workspaces/{}", workspace_id), Workspace.model_validate)

    @endpoint
    def update(self, workspace_id: str, *, name: str | None = None, display_color: str | None = None,
               tags: Mapping[str, str] | None = None,
               allowed_models: Sequence[str] | NotGiven | None = NOT_GIVEN) -> Call[Workspace]:
        """Change the given fields; ``allowed_models=None`` lifts the model restriction."""
        body = compact(name=name, display_color=display_color, tags=dict(tags) if tags is not None else None)
        if not isinstance(allowed_models, NotGiven):
            body["allowed_models"] = list(allowed_models) if allowed_models is not None else None
        return Call("PUT", path("/v1/admin/workspaces/{}", workspace_id), Workspace.model_validate, body=body)

    @endpoint
    def archive(self, workspace_id: str) -> Call[Workspace]:
        """Archive a workspace: its keys stop working; it is kept for history."""
        return Call("POST", path("/v1/admin/workspaces/{}/archive", workspace_id), Workspace.model_validate)
