"""Authenticate: resolve the caller's key from the snapshot.

Reads ``x-api-key`` or ``Authorization: Bearer``; writes ``ctx.key`` and ``ctx.workspace``; raises
AuthenticationError. Cost: a checksum check, one SHA-256 and two dict lookups; no I/O.
"""

from __future__ import annotations

import time

from steward.dataplane.context import RequestContext
from steward.dataplane.snapshot import SnapshotStore
from steward.errors import AuthenticationError
from steward.identity.keyformat import ADMIN_KEY_PREFIX, hash_key, well_formed


class LastUsed:
    """Keys' last-use times, kept in memory and flushed by a worker (no write per request)."""

    def __init__(self) -> None:
        self.pending: dict[str, float] = {}

    def touch(self, key_id: str, when: float) -> None:
        self.pending[key_id] = when

    def drain(self) -> dict[str, float]:
        out, self.pending = self.pending, {}
        return out


def _secret(ctx: RequestContext) -> str | None:
    secret = ctx.headers.get("x-api-key")
    if secret:
        return secret.strip()
    auth = ctx.headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


class Authenticate:
    def __init__(self, snapshots: SnapshotStore, last_used: LastUsed) -> None:
        self._snapshots = snapshots
        self._last_used = last_used

    def on_request(self, ctx: RequestContext) -> None:
        secret = _secret(ctx)
        if not secret:
            raise AuthenticationError("x-api-key header is required (or Authorization: Bearer <key>).")
        if secret.startswith(ADMIN_KEY_PREFIX):
            raise AuthenticationError("Admin keys cannot call the Messages API; use a workspace API key.")
        if not well_formed(secret):
            raise AuthenticationError("invalid x-api-key: not a Steward API key (wrong format or checksum).")
        snapshot = self._snapshots.current
        key = snapshot.keys_by_hash.get(hash_key(secret))
        if key is None:
            raise AuthenticationError("invalid x-api-key")
        ctx.key = key
        if key.status != "active":
            raise AuthenticationError(f"This API key is {key.status}.")
        if key.expires_at is not None and key.expires_at <= time.time():
            raise AuthenticationError("This API key has expired.")
        workspace = snapshot.workspaces.get(key.workspace_id)
        if workspace is None or workspace.archived:
            raise AuthenticationError("This API key's workspace is archived.")
        ctx.workspace = workspace
        self._last_used.touch(key.id, ctx.started_at)

    def on_complete(self, ctx: RequestContext) -> None:
        return None
