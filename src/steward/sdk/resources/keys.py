"""``admin.keys``: workspace API keys (create, list, get, update, rotate with grace, revoke, hygiene report)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from steward.sdk.models import APIKey, KeyReport, KeyStatus
from steward.sdk.resources.base import Call, ListCall, Resource, S, compact, endpoint, listing, path


class Keys(Resource[S]):
    """Workspace API keys, the ones the data plane accepts (``/v1/admin/keys``)."""

    @endpoint
    def create(self, *, workspace_id: str, name: str, expires_in_days: int | None = None,
               scopes: Sequence[str] | None = None) -> Call[APIKey]:
        """A new key; the returned APIKey carries its ``secret``, this once.

        ``name`` must follow the gateway's naming rule (by default ``team-environment-purpose``). ``scopes`` lists
        the models (ids or patterns) the key may call, within what its workspace allows.
        """
        if isinstance(scopes, str):
            raise TypeError("scopes: a list of model ids or patterns, e.g. ['claude-haiku-*']")
        body = compact(workspace_id=workspace_id, name=name, expires_in_days=expires_in_days,
                       scopes={"models": list(scopes)} if scopes is not None else None)
        return Call("POST", "/v1/admin/keys", APIKey.model_validate, body=body)

    @listing
    def list(self, *, workspace_id: str | None = None, status: KeyStatus | None = None,
             created_by: str | None = None, limit: int | None = None, before_id: str | None = None,
             after_id: str | None = None) -> ListCall[APIKey]:
        """Keys the caller may see, newest first; filters combine."""
        query = compact(workspace_id=workspace_id, status=status, created_by=created_by, limit=limit,
                        before_id=before_id, after_id=after_id)
        return ListCall("/v1/admin/keys", APIKey, query)

    @endpoint
    def get(self, key_id: str) -> Call[APIKey]:
        """One key (never its secret)."""
        return Call("GET", path("/v1/admin/keys/{}", key_id), APIKey.model_validate)

    @endpoint
    def update(self, key_id: str, *, name: str | None = None,
               status: Literal["active", "inactive", "archived"] | None = None) -> Call[APIKey]:
        """Rename a key or change its status (``archived`` is final)."""
        return Call("PUT", path("/v1/admin/keys/{}", key_id), APIKey.model_validate,
                    body=compact(name=name, status=status))

    @endpoint
    def rotate(self, key_id: str, *, grace_period_seconds: int | None = None) -> Call[APIKey]:
        """A new secret for the key (returned this once); the old one works for the grace period (default 1 h)."""
        return Call("POST", path("/v1/admin/keys/{}/rotate", key_id), APIKey.model_validate,
                    body=compact(grace_period_seconds=grace_period_seconds))

    @endpoint
    def revoke(self, key_id: str) -> Call[APIKey]:
        """Revoke a key for good: it comes back with status ``archived``."""
        return Call("DELETE", path("/v1/admin/keys/{}", key_id), APIKey.model_validate)

    @endpoint
    def report(self, *, rotation_age_days: int = 90, unused_days: int = 30) -> Call[KeyReport]:
        """Active and inactive keys due for rotation, and keys unused for ``unused_days``."""
        query = {"rotation_age_days": rotation_age_days, "unused_days": unused_days}
        return Call("GET", "/v1/admin/keys/report", KeyReport.model_validate, query=query)
