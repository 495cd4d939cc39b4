"""Authenticate: resolve the caller's key from the snapshot.

Reads ``x-api-key`` or ``Authorization: Bearer``; writes ``ctx.key`` and ``ctx.workspace``; raises
AuthenticationError after naming the reason in ``ctx.auth_failure`` (Record samples these refusals per address),
or past ``STEWARD_UNAUTHENTICATED_PER_MINUTE`` such refusals from one address, 429 (``refusals.FailedAuthLimit``).
Cost: a checksum check, one SHA-256 and two dict lookups; no I/O for a key the snapshot holds. A well-formed key it
does not hold waits (at most a second) for a check of the database that began after the request arrived
(``SnapshotStore.caught_up_since``: shared by concurrent askers, skipped for an address already over the failed-auth
limit), so a key created on another host works on its first request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import NoReturn

from steward.dataplane.context import RequestContext
from steward.dataplane.snapshot import KeyEntry, Snapshot, SnapshotStore
from steward.dataplane.stages.refusals import FailedAuthLimit
from steward.errors import AuthenticationError, RateLimitError
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

    def restore(self, times: dict[str, float]) -> None:
        """Put back times whose flush failed, keeping the newer time per key (a use since the drain wins)."""
        for key_id, when in times.items():
            if when > self.pending.get(key_id, float("-inf")):
                self.pending[key_id] = when


def _secret(ctx: RequestContext) -> str | None:
    secret = ctx.headers.get("x-api-key")
    if secret:
        return secret.strip()
    auth = ctx.headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


LIMITED_FAILURES = frozenset({"missing", "malformed", "unknown"})


class Authenticate:
    reads_body = False  # runs before the body is read (dataplane/pipeline.py)

    def __init__(self, snapshots: SnapshotStore, last_used: LastUsed, failures: FailedAuthLimit | None = None) -> None:
        self._snapshots = snapshots
        self._last_used = last_used
        self._failures = failures or FailedAuthLimit(0)

    def _refuse(self, ctx: RequestContext, reason: str, message: str) -> NoReturn:
        ctx.auth_failure = reason
        # Only what guessing looks like is limited: no key, a malformed one, or one the snapshot does not hold
        # (revoked keys are archived and not held). An inactive or expired key always gets its 401 and the reason.
        wait = self._failures.over(ctx.client, ctx.started_at) if reason in LIMITED_FAILURES else None
        if wait is not None:  # x-should-retry false: without a valid key, a retry cannot succeed
            raise RateLimitError("Too many requests without a valid API key from this address; retry after "
                                 f"{wait:.0f} s.", headers={"retry-after": str(int(wait + 0.999)),
                                                            "x-should-retry": "false", "connection": "close"})
        raise AuthenticationError(message)

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        secret = _secret(ctx)
        if not secret:
            self._refuse(ctx, "missing", "x-api-key header is required (or Authorization: Bearer <key>).")
        if secret.startswith(ADMIN_KEY_PREFIX):
            self._refuse(ctx, "admin_key", "Admin keys cannot call the Messages API; use a workspace API key.")
        if not well_formed(secret):
            self._refuse(ctx, "malformed", "invalid x-api-key: not a Steward API key (wrong format or checksum).")
        digest = hash_key(secret)
        snapshot = self._snapshots.current
        key = snapshot.keys_by_hash.get(digest)
        if key is None:
            if self._failures.blocked(ctx.client, ctx.started_at):
                self._refuse(ctx, "unknown", "invalid x-api-key")
            return self._after_check(ctx, digest)
        self._admit(ctx, snapshot, key)
        return None

    async def _after_check(self, ctx: RequestContext, digest: str) -> None:
        """An unknown key: perhaps one created since the last poll (on another host); look once more after a
        check of the database that began after this request arrived."""
        snapshot = await self._snapshots.caught_up_since(ctx.started_perf)
        key = snapshot.keys_by_hash.get(digest)
        if key is None:
            self._refuse(ctx, "unknown", "invalid x-api-key")
        self._admit(ctx, snapshot, key)

    def _admit(self, ctx: RequestContext, snapshot: Snapshot, key: KeyEntry) -> None:
        ctx.key = key
        if key.status != "active":
            self._refuse(ctx, "inactive", f"This API key is {key.status}.")
        if key.expires_at is not None and key.expires_at <= time.time():
            self._refuse(ctx, "expired", "This API key has expired.")
        workspace = snapshot.workspaces.get(key.workspace_id)
        if workspace is None or workspace.archived:
            self._refuse(ctx, "archived_workspace", "This API key's workspace is archived.")
        ctx.workspace = workspace
        self._last_used.touch(key.id, ctx.started_at)

    def on_complete(self, ctx: RequestContext) -> None:
        return None
