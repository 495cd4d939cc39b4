"""Retention purges only stored content, after the group's days, never under a legal hold; usage records and
audit events stay, and each purge run leaves one ``compliance.retention.purge`` event with counts only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from steward.compliance.retention import PURGE_EVENT, PurgeReport, purge
from steward.controlplane.services import ControlPlane
from steward.storage.engine import Database
from steward.storage.models import AuditEvent
from steward.storage.repositories.governance import ContentRepository
from tests.compliance.conftest import full_audit, stored_rows, wait_stored
from tests.support import Gateway

MODEL = "claude-sonnet-4-6"


def run_purge(gateway: Gateway, days_ahead: float, *, dry_run: bool = False) -> PurgeReport:
    async def action() -> PurgeReport:
        database = Database(gateway.settings.resolved_database_url())
        try:
            return await purge(ContentRepository(database.sessions), dry_run=dry_run,
                               now=datetime.now(UTC) + timedelta(days=days_ahead))
        finally:
            await database.close()
    return asyncio.run(action())


def purge_events(gateway: Gateway) -> list[AuditEvent]:
    async def read() -> list[AuditEvent]:
        database = Database(gateway.settings.resolved_database_url())
        try:
            async with database.sessions() as session:
                stmt = select(AuditEvent).where(AuditEvent.event == PURGE_EVENT).order_by(AuditEvent.created_at)
                return list((await session.execute(stmt)).scalars().all())
        finally:
            await database.close()
    return asyncio.run(read())


def set_hold(gateway: Gateway, group_id: str, enabled: bool) -> None:
    async def action(plane: ControlPlane) -> dict[str, Any]:
        return await plane.admin.compliance_groups.legal_hold(await plane.system(), group_id, enabled, "case 17")
    gateway.control(action)


def test_retention_purges_only_content_and_respects_legal_hold(gateway: Gateway) -> None:
    group = full_audit(gateway, days=1)
    client = gateway.client("eng")
    ids = [client.messages.with_raw_response.create(
        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": f"note {i}"}]).headers["request-id"]
        for i in range(3)]
    gateway.wait_usage(ids)
    assert len(wait_stored(gateway, 3)) == 3

    assert run_purge(gateway, 0.5).deleted == 0  # not due yet
    dry = run_purge(gateway, 2, dry_run=True)
    assert (dry.deleted, dry.held) == (3, 0) and len(stored_rows(gateway)) == 3
    assert purge_events(gateway) == []  # a dry run writes nothing

    set_hold(gateway, group["id"], True)
    held = run_purge(gateway, 2)
    assert (held.deleted, held.held) == (0, 3) and len(stored_rows(gateway)) == 3

    set_hold(gateway, group["id"], False)
    done = run_purge(gateway, 2)
    assert (done.deleted, done.held) == (3, 0)
    assert stored_rows(gateway) == []
    assert len(gateway.usage(ids)) == 3  # metadata stays
    assert {a.request_id for a in gateway.audit(ids)} == set(ids)
    events = purge_events(gateway)
    assert [(e.data["deleted"], e.data["held_by_legal_hold"]) for e in events] == [(0, 3), (3, 0)]
    assert run_purge(gateway, 2).organizations == ()  # nothing left: no event either
    assert len(purge_events(gateway)) == 2
