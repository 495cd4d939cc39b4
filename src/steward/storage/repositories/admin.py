"""The Admin API's unit of work: one transaction for a change, its audit event and the config version bump.

Services open ``async with store.unit() as unit`` and call typed operations; SQLAlchemy stays in here.
An admin action and its audit event commit together or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.errors import ConflictError
from steward.storage import config_log
from steward.storage.models import (
    AdminKey,
    ApiKey,
    AuditEvent,
    Invitation,
    Organization,
    RateLimit,
    SpendLimit,
    SpendLimitIncreaseRequest,
    User,
    Workspace,
    WorkspaceMember,
)
from steward.storage.repositories import spend

T = TypeVar("T")
Row = (Organization | Workspace | ApiKey | User | WorkspaceMember | Invitation | AdminKey | AuditEvent
       | RateLimit | SpendLimit | SpendLimitIncreaseRequest)


class Page(list[T]):
    """One page of a cursor listing; ``has_more`` says whether another follows."""

    has_more: bool = False


class Unit:
    """Operations inside one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._changed = False

    def add(self, *rows: Row) -> None:
        self.session.add_all(rows)
        self._changed = True

    async def flush(self) -> None:
        """Write what was added so far (rows that others reference by foreign key go first)."""
        await self.session.flush()

    def audit(self, event: AuditEvent) -> None:
        self.session.add(event)

    async def get(self, model: type[T], key: Any) -> T | None:
        return await self.session.get(model, key)

    async def delete(self, row: Row) -> None:
        await self.session.delete(row)
        self._changed = True

    async def _first(self, stmt: Select[Any]) -> Any:
        return (await self.session.execute(stmt.limit(1))).scalars().first()

    async def _all(self, stmt: Select[Any]) -> Sequence[Any]:
        rows: Sequence[Any] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def _page(self, stmt: Select[Any], id_column: Any, *, limit: int, before_id: str | None,
                    after_id: str | None, newest_first: bool = False) -> Page[Any]:
        """Cursor pagination over a time-ordered id column (``after_id`` continues in listing order)."""
        forward = id_column.desc() if newest_first else id_column.asc()
        backward = id_column.asc() if newest_first else id_column.desc()
        if after_id is not None:
            cond = id_column < after_id if newest_first else id_column > after_id
            stmt = stmt.where(cond).order_by(forward)
        elif before_id is not None:
            cond = id_column > before_id if newest_first else id_column < before_id
            stmt = stmt.where(cond).order_by(backward)
        else:
            stmt = stmt.order_by(forward)
        rows = list((await self.session.execute(stmt.limit(limit + 1))).scalars().all())
        page: Page[Any] = Page(rows[:limit])
        page.has_more = len(rows) > limit
        if before_id is not None and after_id is None:
            page.reverse()
        return page

    # --- queries ---------------------------------------------------------------------------------------

    async def organization(self) -> Organization | None:
        result: Organization | None = await self._first(select(Organization).order_by(Organization.created_at))
        return result

    async def user_by_email(self, org_id: str, email: str) -> User | None:
        result: User | None = await self._first(select(User).where(
            User.org_id == org_id, User.email == email, User.removed_at.is_(None)))
        return result

    async def users_page(self, org_id: str, *, email: str | None, roles: Sequence[str] | None, limit: int,
                         before_id: str | None, after_id: str | None) -> Page[User]:
        stmt = select(User).where(User.org_id == org_id, User.removed_at.is_(None))
        if email:
            stmt = stmt.where(User.email == email)
        if roles:
            stmt = stmt.where(User.role.in_(list(roles)))
        return await self._page(stmt, User.id, limit=limit, before_id=before_id, after_id=after_id)

    async def count_admins(self, org_id: str) -> int:
        rows = await self._all(select(User.id).where(User.org_id == org_id, User.role == "admin",
                                                      User.removed_at.is_(None)))
        return len(rows)

    async def memberships(self, user_id: str) -> Sequence[WorkspaceMember]:
        result: Sequence[WorkspaceMember] = await self._all(
            select(WorkspaceMember).where(WorkspaceMember.user_id == user_id).order_by(WorkspaceMember.workspace_id))
        return result

    async def members_page(self, workspace_id: str, *, limit: int, before_id: str | None,
                           after_id: str | None) -> Page[WorkspaceMember]:
        stmt = select(WorkspaceMember).where(WorkspaceMember.workspace_id == workspace_id)
        return await self._page(stmt, WorkspaceMember.user_id, limit=limit, before_id=before_id, after_id=after_id)

    async def workspace_by_name(self, org_id: str, name: str) -> Workspace | None:
        result: Workspace | None = await self._first(select(Workspace).where(
            Workspace.org_id == org_id, Workspace.name == name))
        return result

    async def workspaces_page(self, org_id: str, *, include_archived: bool, only: Sequence[str] | None,
                              limit: int, before_id: str | None, after_id: str | None) -> Page[Workspace]:
        stmt = select(Workspace).where(Workspace.org_id == org_id)
        if not include_archived:
            stmt = stmt.where(Workspace.archived_at.is_(None))
        if only is not None:
            stmt = stmt.where(Workspace.id.in_(list(only)))
        return await self._page(stmt, Workspace.id, limit=limit, before_id=before_id, after_id=after_id)

    async def invitation_by_token(self, token_hash: str) -> Invitation | None:
        result: Invitation | None = await self._first(select(Invitation).where(Invitation.token_hash == token_hash))
        return result

    async def invitations_page(self, org_id: str, *, email: str | None, roles: Sequence[str] | None,
                               statuses: Sequence[str] | None, now: Any, limit: int, before_id: str | None,
                               after_id: str | None) -> Page[Invitation]:
        stmt = select(Invitation).where(Invitation.org_id == org_id)
        if email:
            stmt = stmt.where(Invitation.email == email)
        if roles:
            stmt = stmt.where(Invitation.role.in_(list(roles)))
        if statuses:
            conditions = []
            if "pending" in statuses:
                conditions.append(and_(Invitation.status == "pending", Invitation.expires_at > now))
            if "expired" in statuses:
                conditions.append(and_(Invitation.status == "pending", Invitation.expires_at <= now))
            for stored in ("accepted", "deleted"):
                if stored in statuses:
                    conditions.append(Invitation.status == stored)
            stmt = stmt.where(or_(*conditions)) if conditions else stmt.where(Invitation.id.is_(None))
        return await self._page(stmt, Invitation.id, limit=limit, before_id=before_id, after_id=after_id,
                                newest_first=True)

    async def api_keys_page(self, org_id: str, *, workspace_ids: Sequence[str] | None, status: str | None,
                            created_by: str | None, now: Any, limit: int, before_id: str | None,
                            after_id: str | None) -> Page[ApiKey]:
        stmt = select(ApiKey).where(ApiKey.org_id == org_id)
        if workspace_ids is not None:
            stmt = stmt.where(ApiKey.workspace_id.in_(list(workspace_ids)))
        if status == "expired":
            stmt = stmt.where(ApiKey.status == "active", ApiKey.expires_at <= now)
        elif status == "active":
            stmt = stmt.where(ApiKey.status == "active",
                              or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now))
        elif status:
            stmt = stmt.where(ApiKey.status == status)
        if created_by:
            stmt = stmt.where(ApiKey.created_by == created_by)
        return await self._page(stmt, ApiKey.id, limit=limit, before_id=before_id, after_id=after_id,
                                newest_first=True)

    async def api_keys(self, org_id: str, *, workspace_ids: Sequence[str] | None = None,
                       created_by: str | None = None, statuses: Sequence[str] = ()) -> Sequence[ApiKey]:
        stmt = select(ApiKey).where(ApiKey.org_id == org_id)
        if workspace_ids is not None:
            stmt = stmt.where(ApiKey.workspace_id.in_(list(workspace_ids)))
        if created_by:
            stmt = stmt.where(ApiKey.created_by == created_by)
        if statuses:
            stmt = stmt.where(ApiKey.status.in_(list(statuses)))
        result: Sequence[ApiKey] = await self._all(stmt.order_by(ApiKey.id))
        return result

    async def api_key_by_hash(self, org_id: str, key_hash: str) -> ApiKey | None:
        """The key whose current secret (or, during a rotation's grace period, previous one) has this hash."""
        result: ApiKey | None = await self._first(select(ApiKey).where(
            ApiKey.org_id == org_id, or_(ApiKey.key_hash == key_hash, ApiKey.previous_key_hash == key_hash)))
        return result

    async def admin_key_by_hash(self, key_hash: str) -> AdminKey | None:
        result: AdminKey | None = await self._first(select(AdminKey).where(AdminKey.key_hash == key_hash))
        return result

    async def admin_keys_page(self, org_id: str, *, user_id: str | None, limit: int, before_id: str | None,
                              after_id: str | None) -> Page[AdminKey]:
        stmt = select(AdminKey).where(AdminKey.org_id == org_id)
        if user_id:
            stmt = stmt.where(AdminKey.user_id == user_id)
        return await self._page(stmt, AdminKey.id, limit=limit, before_id=before_id, after_id=after_id,
                                newest_first=True)

    async def admin_keys_of(self, user_id: str) -> Sequence[AdminKey]:
        result: Sequence[AdminKey] = await self._all(select(AdminKey).where(AdminKey.user_id == user_id))
        return result

    async def rate_limits(self, org_id: str, *, scope: str | None = None,
                          scope_id: str | None = None) -> Sequence[RateLimit]:
        stmt = select(RateLimit).where(RateLimit.org_id == org_id)
        if scope is not None:
            stmt = stmt.where(RateLimit.scope == scope)
        if scope_id is not None:
            stmt = stmt.where(RateLimit.scope_id == scope_id)
        result: Sequence[RateLimit] = await self._all(stmt.order_by(RateLimit.group_id, RateLimit.limit_type))
        return result

    async def spend_limits_page(self, org_id: str, *, limit: int, before_id: str | None,
                                after_id: str | None) -> Page[SpendLimit]:
        stmt = select(SpendLimit).where(SpendLimit.org_id == org_id)
        return await self._page(stmt, SpendLimit.id, limit=limit, before_id=before_id, after_id=after_id)

    async def spend_limit_for(self, org_id: str, scope: str, scope_id: str, period: str) -> SpendLimit | None:
        result: SpendLimit | None = await self._first(select(SpendLimit).where(
            SpendLimit.org_id == org_id, SpendLimit.scope == scope, SpendLimit.scope_id == scope_id,
            SpendLimit.period == period))
        return result

    async def increase_requests_page(self, org_id: str, *, status: str | None, limit: int, before_id: str | None,
                                     after_id: str | None) -> Page[SpendLimitIncreaseRequest]:
        stmt = select(SpendLimitIncreaseRequest).where(SpendLimitIncreaseRequest.org_id == org_id)
        if status:
            stmt = stmt.where(SpendLimitIncreaseRequest.status == status)
        return await self._page(stmt, SpendLimitIncreaseRequest.id, limit=limit, before_id=before_id,
                                after_id=after_id, newest_first=True)

    async def recorded_spend(self, limit: SpendLimit, since: datetime) -> int:
        """Pico-USD of usage recorded for the limit's scope since ``since``."""
        where = spend.SpendScope(limit.org_id, limit.scope, limit.scope_id, since)
        return await spend.recorded_spend(self.session, where)

    async def bump_version(self) -> None:
        """A new config version logging what this transaction changed (``storage/config_log.py``)."""
        await config_log.bump(self.session)


class AdminStore:
    """Opens units of work."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        """One transaction; a unique constraint that a concurrent writer won (two creates of one name racing
        past the service's own check) is a 409 ``conflict_error``, not a 500."""
        try:
            async with self._sessions.begin() as session:
                unit = Unit(session)
                yield unit
                await session.flush()
                # every committed change is a new config version for the snapshots
                if unit._changed or config_log.has_pending(session):
                    await unit.bump_version()
        except IntegrityError as exc:
            raise ConflictError("The change conflicts with an existing object (a concurrent change won); "
                                "read the current state and retry.") from exc


