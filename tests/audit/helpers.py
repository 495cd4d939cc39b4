"""Shared by the audit tests: events written as the shipper writes them, tampering as an attacker with database
access would (the append-only triggers are switched off first), and running the offline verifier."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cryptography
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from steward.compliance.chain import Chains, SigningKey
from steward.ids import new_id
from steward.storage.engine import Database
from steward.storage.models import Organization
from steward.storage.repositories.audit import AuditRepository
from steward.storage.repositories.records import RecordsRepository

ORG = "org-audit-test"
TABLES = ("audit_events", "audit_chain", "audit_checkpoints")


def event(n: int, *, org: str | None = ORG, base: datetime | None = None, **extra: Any) -> dict[str, Any]:
    created = (base or datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20)) + timedelta(seconds=n)
    row: dict[str, Any] = {
        "id": new_id("activity"), "created_at": created, "org_id": org, "event": "api_call",
        "request_id": f"req_{n}", "workspace_id": "wrkspc_1", "api_key_id": "apikey_1", "actor": "apikey_1",
        "model": "claude-sonnet-4-6", "input_tokens": 10 + n, "output_tokens": 5, "tools_used": None,
        "stop_reason": "end_turn", "latency_ms": 12, "status": 200, "decision": "allowed", "reason": None,
        "data": {"endpoint": "messages", "content_sha256": f"{n:064x}", "cost_usd": "0.001"}}
    row.update(extra)
    return row


def chains(db: Database, key: SigningKey | None = None) -> Chains:
    return Chains(AuditRepository(db.sessions, db.dialect), key or SigningKey(Ed25519PrivateKey.generate()),
                  checkpoint_interval=3600)


async def insert(db: Database, events: Sequence[dict[str, Any]]) -> None:
    """Insert events as the shipper does (their organizations are created first, as in a real deployment)."""
    async with db.sessions.begin() as session:
        for org in {e["org_id"] for e in events if e["org_id"]}:
            if await session.get(Organization, org) is None:
                session.add(Organization(id=org, name=org, created_at=datetime.now(UTC)))
    await RecordsRepository(db.sessions, db.dialect).insert([], list(events))


async def unguard(db: Database) -> None:
    """What an attacker with database access does first: switch the append-only triggers off."""
    async with db.sessions.begin() as session:
        for table in TABLES:
            if db.dialect == "sqlite":
                for verb in ("update", "delete"):
                    await session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
            else:
                await session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


async def sql(db: Database, statement: str, **params: Any) -> None:
    async with db.sessions.begin() as session:
        await session.execute(text(statement), params)


def run_offline(bundle: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run the bundle's own verify_offline.py in an isolated interpreter that can import cryptography only."""
    shim = tmp / "only_cryptography"
    shim.mkdir(exist_ok=True)
    site = Path(cryptography.__file__).parent.parent
    for name in ["cryptography", *(p.name for p in site.glob("_cffi_backend*"))]:  # its compiled dependency
        if not (shim / name).exists():
            (shim / name).symlink_to(site / name)
    # No site-packages (-S), a PYTHONPATH holding cryptography alone, and a scratch working directory: nothing
    # from Steward is importable, so the verifier runs exactly as it would on an auditor's machine.
    env = {"PYTHONPATH": str(shim), "PATH": os.environ.get("PATH", "")}
    return subprocess.run([sys.executable, "-S", str(bundle / "verify_offline.py"), str(bundle)],
                          capture_output=True, text=True, env=env, check=False, cwd=tmp)
