"""``admin.admin_keys``: keys for this Admin API (create for oneself or, as an admin, for another user)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from steward.sdk.models import AdminKey
from steward.sdk.resources.base import Call, ListCall, Resource, S, compact, endpoint, listing, path


class AdminKeys(Resource[S]):
    """Admin keys (``/v1/admin/admin_keys``); a key acts with its user's role."""

    @endpoint
    def create(self, *, name: str, user_id: str | None = None, scopes: Sequence[Literal["read_only"]] | None = None,
               expires_in_days: int | None = None) -> Call[AdminKey]:
        """A new admin key (for the caller unless ``user_id``); the returned AdminKey carries its ``secret`` once."""
        body = compact(name=name, user_id=user_id, scopes=list(scopes) if scopes is not None else None,
                       expires_in_days=expires_in_days)
        return Call("POST", "/v1/admin/admin_keys", AdminKey.model_validate, body=body)

    @listing
    def list(self, *, limit: int | None = None, before_id: str | None = None,
             after_id: str | None = None) -> ListCall[AdminKey]:
        """Admin keys: all of them for an admin, one's own otherwise."""
        return ListCall("/v1/admin/admin_keys", AdminKey, compact(limit=limit, before_id=before_id, after_id=after_id))

    @endpoint
    def revoke(self, admin_key_id: str) -> Call[AdminKey]:
        """Revoke an admin key: it comes back with status ``archived``."""
        return Call("DELETE", path("/v1/admin/admin_keys/{}", admin_key_id), AdminKey.model_validate)
