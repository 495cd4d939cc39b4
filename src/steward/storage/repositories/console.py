"""The web console's own rows (sessions, one-time sign-in links) and the few reads the services do not offer:
names for ids, the signed-in user as it is now, and recent refusals (bounded by ``ix_audit_org_time``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import (
    AdminKey,
    ApiKey,
    ConsoleLink,
    ConsoleSession,
    User,
    Workspace,
    WorkspaceMember,
)


@dataclass(slots=True, frozen=True)
class SignedIn:
    """What a session resolves to on each request (the key is None for a session opened by a link)."""

    user: User
    admin_key: AdminKey | None
    memberships: dict[str, str]


class ConsoleRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # --- sessions and links ------------------------------------------------------------------------------

    async def add(self, row: ConsoleSession | ConsoleLink) -> None:
        async with self._sessions.begin() as session:
            session.add(row)

    async def session(self, session_id: str) -> ConsoleSession | None:
        async with self._sessions() as session:
            return await session.get(ConsoleSession, session_id)

    async def end_session(self, session_id: str, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(ConsoleSession).where(ConsoleSession.id == session_id,
                                                               ConsoleSession.ended_at.is_(None))
                                  .values(ended_at=now))

    async def redeem_link(self, token_hash: str, now: datetime) -> ConsoleLink | None:
        """Mark an unused, unexpired link as used and return it; None if it was used, expired or unknown.

        The conditional UPDATE makes redemption single-use even when two browsers race for it.
        """
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ConsoleLink).where(ConsoleLink.token_hash == token_hash, ConsoleLink.used_at.is_(None),
                                          ConsoleLink.expires_at > now).values(used_at=now)
                .execution_options(synchronize_session=False))
            if getattr(result, "rowcount", 0) != 1:
                return None
            found: ConsoleLink | None = (await session.execute(
                select(ConsoleLink).where(ConsoleLink.token_hash == token_hash))).scalars().first()
            return found

    async def signed_in(self, user_id: str, admin_key_id: str | None) -> SignedIn | None:
        """The session's user, admin key and memberships as they are now (None if the user is gone)."""
        async with self._sessions() as session:
            user = await session.get(User, user_id)
            if user is None or user.removed_at is not None:
                return None
            key = await session.get(AdminKey, admin_key_id) if admin_key_id else None
            rows = (await session.execute(select(WorkspaceMember).where(WorkspaceMember.user_id == user_id)))
            members = {m.workspace_id: m.workspace_role for m in rows.scalars().all()}
            return SignedIn(user, key, members)

    async def user_by_email(self, email: str) -> User | None:
        async with self._sessions() as session:
            found: User | None = (await session.execute(select(User).where(
                User.email == email.strip().lower(), User.removed_at.is_(None)).limit(1))).scalars().first()
            return found

    async def workspace_names(self, org_id: str) -> dict[str, str]:
        async with self._sessions() as session:
            rows = await session.execute(select(Workspace.id, Workspace.name).where(Workspace.org_id == org_id))
            return {r[0]: r[1] for r in rows.all()}

    async def people_names(self, org_id: str, user_ids: Sequence[str]) -> dict[str, str]:
        """Names (else emails) of the people a page's person spend limits cap: the ones it shows, no others."""
        if not user_ids:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(select(User.id, User.name, User.email).where(
                User.org_id == org_id, User.id.in_(list(user_ids))))
            return {r[0]: r[1] or r[2] for r in rows.all()}

    async def key_names(self, key_ids: Sequence[str]) -> dict[str, str]:
        if not key_ids:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(list(key_ids))))
            return {r[0]: r[1] for r in rows.all()}

