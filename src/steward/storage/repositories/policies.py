"""Policy persistence: live documents, their version history, and the shadow-mode counts in the audit trail.

``PolicyRows`` works inside an admin unit of work (one transaction with the audit event and the config version
bump); ``PolicyRepository`` holds the reads the snapshot and the shadow report need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from steward.storage.models import AuditEvent, ComplianceGroup, ComplianceGroupWorkspace, Policy, PolicyVersion


@dataclass(slots=True)
class VersionsPage:
    rows: list[PolicyVersion]
    has_more: bool


class PolicyRows:
    """Policy operations inside one transaction (``AdminStore.unit()``'s session)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def live(self, org_id: str, scope: str | None = None, scope_id: str | None = None) -> Sequence[Policy]:
        stmt = select(Policy).where(Policy.org_id == org_id)
        if scope is not None:
            stmt = stmt.where(Policy.scope == scope)
        if scope_id is not None:
            stmt = stmt.where(Policy.scope_id == scope_id)
        return (await self._session.execute(stmt.order_by(Policy.scope, Policy.scope_id))).scalars().all()

    async def current_version(self, org_id: str) -> int:
        """The organization's policy version (0 before its first policy change)."""
        value = await self._session.scalar(select(func.max(PolicyVersion.version))
                                           .where(PolicyVersion.org_id == org_id))
        return int(value or 0)

    async def groups_of(self, workspace_id: str) -> Sequence[ComplianceGroup]:
        """The compliance groups a workspace belongs to."""
        stmt = (select(ComplianceGroup).join(ComplianceGroupWorkspace,
                                             ComplianceGroupWorkspace.group_id == ComplianceGroup.id)
                .where(ComplianceGroupWorkspace.workspace_id == workspace_id))
        return (await self._session.execute(stmt)).scalars().all()

    def add(self, *rows: Policy | PolicyVersion) -> None:
        self._session.add_all(rows)

    async def delete(self, row: Policy) -> None:
        await self._session.delete(row)

    async def versions(self, org_id: str, *, limit: int, before_id: str | None, after_id: str | None,
                       scope: str | None = None, scope_id: str | None = None) -> VersionsPage:
        """History, newest first; ``after_id`` continues to older versions, ``before_id`` goes back to newer."""
        stmt = select(PolicyVersion).where(PolicyVersion.org_id == org_id)
        if scope is not None:
            stmt = stmt.where(PolicyVersion.scope == scope)
        if scope_id is not None:
            stmt = stmt.where(PolicyVersion.scope_id == scope_id)
        cursor = after_id or before_id
        if cursor is not None:
            anchor = await self._session.get(PolicyVersion, cursor)
            mark = anchor.version if anchor is not None and anchor.org_id == org_id else None
            if mark is None:
                return VersionsPage([], False)
            stmt = stmt.where(PolicyVersion.version < mark if after_id else PolicyVersion.version > mark)
        order = PolicyVersion.version.asc() if before_id and not after_id else PolicyVersion.version.desc()
        rows = list((await self._session.execute(stmt.order_by(order).limit(limit + 1))).scalars().all())
        page = rows[:limit]
        if before_id and not after_id:
            page.reverse()
        return VersionsPage(page, len(rows) > limit)


class PolicyRepository:
    """Reads outside admin transactions: versions for the snapshot, shadow decisions for the report."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def org_versions(self) -> dict[str, int]:
        """Each organization's current policy version."""
        async with self._sessions() as session:
            rows = (await session.execute(select(PolicyVersion.org_id, func.max(PolicyVersion.version))
                                          .group_by(PolicyVersion.org_id))).all()
        return {str(org): int(version or 0) for org, version in rows}

    async def shadow_counts(self, org_id: str, starting_at: datetime, ending_at: datetime,
                            workspace_id: str | None = None) -> dict[tuple[str | None, str], int]:
        """(workspace id, rule) -> how many requests a shadow-mode rule would have refused in the window.

        The rules live in each request's audit event (``data.policy.shadow``); the JSON is read here rather than
        queried, which works the same on SQLite and PostgreSQL.
        """
        stmt = (select(AuditEvent.workspace_id, AuditEvent.data)
                .where(AuditEvent.org_id == org_id, AuditEvent.event == "api_call",
                       AuditEvent.created_at >= starting_at, AuditEvent.created_at < ending_at))
        if workspace_id is not None:
            stmt = stmt.where(AuditEvent.workspace_id == workspace_id)
        counts: dict[tuple[str | None, str], int] = {}
        async with self._sessions() as session:
            result = await session.stream(stmt.execution_options(yield_per=1000))
            async for row in result:
                workspace: str | None = row[0]
                for rule in _shadow_rules(row[1]):
                    counts[(workspace, rule)] = counts.get((workspace, rule), 0) + 1
        return counts


def _shadow_rules(data: Any) -> list[str]:
    policy = data.get("policy") if isinstance(data, dict) else None
    shadow = policy.get("shadow") if isinstance(policy, dict) else None
    return [str(rule) for rule in shadow] if isinstance(shadow, list) else []
