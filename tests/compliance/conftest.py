"""Helpers for the compliance tests: a full-audit group on a workspace, and the stored content rows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from steward.controlplane.services import ControlPlane
from steward.storage.engine import Database
from steward.storage.models import StoredContent
from tests.support import Gateway


def full_audit(gateway: Gateway, workspace: str = "eng", *, days: int | None = 30, name: str = "Finance audit",
               wait: bool = True) -> dict[str, Any]:
    """A group with audit_level full holding ``workspace``; waits for the gateway's snapshot to see it."""
    async def action(plane: ControlPlane) -> dict[str, Any]:
        me = await plane.system()
        group = await plane.admin.compliance_groups.create(
            me, name, restrictions={"audit_level": "full", "data_retention_days": days, "require_encryption": True})
        return await plane.admin.compliance_groups.add_workspace(me, group["id"], gateway.workspace_ids[workspace])
    group: dict[str, Any] = gateway.control(action)
    if wait:
        gateway.sync_config()
    return group


def stored_rows(gateway: Gateway) -> list[StoredContent]:
    async def read() -> list[StoredContent]:
        database = Database(gateway.settings.resolved_database_url())
        try:
            async with database.sessions() as session:
                return list((await session.execute(select(StoredContent))).scalars().all())
        finally:
            await database.close()
    return asyncio.run(read())


def wait_stored(gateway: Gateway, count: int, timeout: float = 10.0) -> list[StoredContent]:
    deadline = time.monotonic() + timeout
    while True:
        rows = stored_rows(gateway)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
