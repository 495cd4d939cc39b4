"""The audit table refuses UPDATE and DELETE inside the database, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, text, update
from sqlalchemy.exc import DBAPIError

from steward.storage.engine import Database
from steward.storage.models import AuditEvent
from steward.storage.repositories.records import RecordsRepository

EVENT = {"id": "activity_1", "created_at": datetime.now(UTC), "org_id": "org", "event": "api_call",
         "request_id": "req_1", "workspace_id": None, "api_key_id": None, "actor": None, "model": None,
         "input_tokens": None, "output_tokens": None, "tools_used": None, "stop_reason": None,
         "latency_ms": 1, "status": 200, "decision": "allowed", "reason": None, "data": None}


def test_audit_rows_cannot_be_changed_or_deleted(database_url: str) -> None:
    async def main() -> None:
        db = Database(database_url)
        try:
            await RecordsRepository(db.sessions, db.dialect).insert([], [EVENT])
            await RecordsRepository(db.sessions, db.dialect).insert([], [EVENT])  # a replay is ignored
            for statement in (update(AuditEvent).values(decision="refused"), delete(AuditEvent)):
                with pytest.raises(DBAPIError, match="append-only"):
                    async with db.sessions.begin() as session:
                        await session.execute(statement)
            async with db.sessions() as session:
                count = await session.scalar(text("SELECT count(*) FROM audit_events"))
                decision = await session.scalar(text("SELECT decision FROM audit_events"))
            assert (count, decision) == (1, "allowed")
        finally:
            await db.close()
    asyncio.run(main())


def test_audit_chain_and_checkpoints_cannot_be_changed_or_deleted(database_url: str) -> None:
    from steward.storage.models import AuditChainLink, AuditCheckpoint

    link = {"org_id": "org", "seq": 1, "event_id": "activity_1", "event_hash": "a" * 64, "link": "b" * 64,
            "sealed_at": datetime.now(UTC)}
    checkpoint = {"org_id": "org", "seq": 1, "link": "b" * 64, "created_at": datetime.now(UTC), "key_id": "k",
                  "signature": "s"}

    async def main() -> None:
        db = Database(database_url)
        try:
            async with db.sessions.begin() as session:
                await session.execute(insert(AuditChainLink), [link])
                await session.execute(insert(AuditCheckpoint), [checkpoint])
            for model in (AuditChainLink, AuditCheckpoint):
                for statement in (update(model).values(link="c" * 64), delete(model)):
                    with pytest.raises(DBAPIError, match="append-only"):
                        async with db.sessions.begin() as session:
                            await session.execute(statement)
            async with db.sessions() as session:
                links = await session.scalar(text("SELECT link FROM audit_chain"))
                signed = await session.scalar(text("SELECT link FROM audit_checkpoints"))
            assert (links, signed) == ("b" * 64, "b" * 64)
        finally:
            await db.close()
    asyncio.run(main())
