"""The hash chain end to end on SQLite and PostgreSQL: sealing, checkpoints, and every kind of tampering
(edit, delete, reorder, truncate, rewritten content hash) detected and located online and offline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from steward.compliance.chain import Chains, Verification
from steward.storage.engine import Database
from tests.audit.helpers import ORG, chains, event, insert, run_offline, sql, unguard

N = 12


async def _sealed(db: Database) -> tuple[Chains, list[dict[str, Any]]]:
    events = [event(n) for n in range(1, N + 1)]
    # Shippers deliver late and out of order: the chain's order is the sealer's, fixed once sealed.
    await insert(db, events[6:])
    chain = chains(db)
    assert await chain.seal_once() == N - 6
    await insert(db, events[:6])
    assert await chain.seal_once() == 6
    assert await chain.checkpoint(ORG, force=True) is not None
    return chain, events


async def _seq_of(db: Database, seq: int) -> str:
    async with db.sessions() as session:
        from sqlalchemy import text
        found = await session.scalar(text("SELECT event_id FROM audit_chain WHERE org_id = :o AND seq = :s"),
                                     {"o": ORG, "s": seq})
    return str(found)


def test_sealed_chain_verifies_online_and_offline(database_url: str, tmp_path: Path) -> None:
    async def main() -> tuple[Verification, dict[str, Any]]:
        db = Database(database_url)
        try:
            chain, _ = await _sealed(db)
            assert await chain.seal_once() == 0  # nothing is sealed twice
            await insert(db, [event(N + 1, org=None)])  # no organization: a chain of its own
            assert await chain.seal_once() == 1
            assert sorted(await chain.repo.chains()) == ["", ORG]
            return await chain.verify(ORG), await chain.export(ORG, tmp_path / "bundle")
        finally:
            await db.close()

    result, manifest = asyncio.run(main())
    assert (result.problems, result.head_seq, result.checked, result.checkpoint_seq) == ([], N, N, N)
    assert (manifest["first_seq"], manifest["last_seq"], manifest["events"]) == (1, N, N)
    lines = (tmp_path / "bundle" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == [f"req_{n}" for n in range(7, N + 1)] + \
        [f"req_{n}" for n in range(1, 7)]
    done = run_offline(tmp_path / "bundle", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK: organization {ORG}, positions 1..{N} intact")


async def _edit(db: Database, seq: int) -> None:
    await sql(db, "UPDATE audit_events SET output_tokens = 999 WHERE id = :i", i=await _seq_of(db, seq))


async def _rewrite_content_hash(db: Database, seq: int) -> None:
    data = json.dumps({"endpoint": "messages", "content_sha256": "f" * 64, "cost_usd": "0.001"})
    cast = "CAST(:d AS JSONB)" if db.dialect == "postgresql" else ":d"
    await sql(db, f"UPDATE audit_events SET data = {cast} WHERE id = :i", d=data, i=await _seq_of(db, seq))


async def _delete(db: Database, seq: int) -> None:
    event_id = await _seq_of(db, seq)
    await sql(db, "DELETE FROM audit_chain WHERE event_id = :i", i=event_id)
    await sql(db, "DELETE FROM audit_events WHERE id = :i", i=event_id)


async def _delete_event_only(db: Database, seq: int) -> None:
    await sql(db, "DELETE FROM audit_events WHERE id = :i", i=await _seq_of(db, seq))


async def _reorder(db: Database, seq: int) -> None:
    """Swap the events sealed at ``seq`` and ``seq + 3`` (their ids and hashes; the links stay)."""
    async with db.sessions() as session:
        from sqlalchemy import text
        rows = (await session.execute(text("SELECT seq, event_id, event_hash FROM audit_chain WHERE org_id = :o "
                                           "AND seq IN (:a, :b) ORDER BY seq"),
                                      {"o": ORG, "a": seq, "b": seq + 3})).all()
    (a, id_a, h_a), (b, id_b, h_b) = rows
    await sql(db, "UPDATE audit_chain SET event_id = :i, event_hash = :h WHERE org_id = :o AND seq = :s",
              i="swap-tmp", h=h_b, o=ORG, s=a)
    await sql(db, "UPDATE audit_chain SET event_id = :i, event_hash = :h WHERE org_id = :o AND seq = :s",
              i=id_a, h=h_a, o=ORG, s=b)
    await sql(db, "UPDATE audit_chain SET event_id = :i WHERE org_id = :o AND seq = :s", i=id_b, o=ORG, s=a)


async def _truncate(db: Database, seq: int) -> None:
    """Remove every event from ``seq`` on, with its chain positions."""
    for position in range(seq, N + 1):
        await _delete(db, position)


Tamper = Callable[[Database, int], Awaitable[None]]
TAMPERS: dict[str, tuple[Tamper, int, set[tuple[str, int]]]] = {
    "edit": (_edit, 5, {("edited", 5)}),
    "content_hash": (_rewrite_content_hash, 7, {("edited", 7)}),
    "delete": (_delete, 4, {("deleted", 4)}),
    "delete_event_only": (_delete_event_only, 8, {("deleted", 8)}),
    "reorder": (_reorder, 3, {("reordered", 3), ("reordered", 6)}),
    "truncate": (_truncate, 10, {("truncated", 10)}),
}


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_tampering_is_detected_and_located_online_and_offline(database_url: str, tmp_path: Path, kind: str) -> None:
    tamper, seq, expected = TAMPERS[kind]

    async def main() -> tuple[Verification, Verification]:
        db = Database(database_url)
        try:
            chain, _ = await _sealed(db)
            before = await chain.verify(ORG)
            await unguard(db)
            await tamper(db, seq)
            await chain.export(ORG, tmp_path / "bundle")
            return before, await chain.verify(ORG)
        finally:
            await db.close()

    before, after = asyncio.run(main())
    assert before.problems == []
    assert {(p.kind, p.seq) for p in after.problems} == expected, after.problems
    done = run_offline(tmp_path / "bundle", tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    for found_kind, found_seq in expected:
        assert f"TAMPERED: {found_kind} at seq {found_seq}" in done.stdout, done.stdout


def test_offline_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    import ast
    import sys

    from steward.compliance import verify_offline

    tree = ast.parse(Path(verify_offline.__file__).read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module}
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}


def _edit_line(path: Path, index: int, change: Callable[[dict[str, Any]], None]) -> None:
    lines = path.read_text().splitlines()
    row = json.loads(lines[index])
    change(row)
    lines[index] = json.dumps(row, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")


def _swap_lines(path: Path, a: int, b: int) -> None:
    lines = path.read_text().splitlines()
    lines[a], lines[b] = lines[b], lines[a]
    path.write_text("\n".join(lines) + "\n")


def _delete_line(path: Path, index: int) -> None:
    lines = path.read_text().splitlines()
    del lines[index]
    path.write_text("\n".join(lines) + "\n")


def _drop_lines(path: Path, keep: slice) -> None:
    path.write_text("\n".join(path.read_text().splitlines()[keep]) + "\n")


BUNDLE_TAMPERS: dict[str, tuple[Callable[[Path], None], str]] = {
    "edit": (lambda b: _edit_line(b / "events.jsonl", 4, lambda e: e.update(output_tokens=1)), "edited at seq 5"),
    "content_hash": (lambda b: _edit_line(b / "events.jsonl", 6, lambda e: e["data"].update(content_sha256="0" * 64)),
                     "edited at seq 7"),
    "delete": (lambda b: _delete_line(b / "events.jsonl", 2), "deleted at seq 3"),
    "reorder": (lambda b: _swap_lines(b / "events.jsonl", 2, 5), "reordered at seq"),
    "truncate": (lambda b: [_drop_lines(b / name, slice(None, 9)) for name in ("events.jsonl", "chain.jsonl")]
                 and None, "truncated at seq 10"),
    "forged_checkpoint": (lambda b: _edit_line(b / "checkpoints.jsonl", 0, lambda c: c.update(created_at="x")),
                          "bad_signature at seq 12"),
    "manifest": (lambda b: (b / "manifest.json").write_text((b / "manifest.json").read_text().replace(
        '"last_seq": 12', '"last_seq": 9')) and None, "bad_signature at chain"),
}


@pytest.mark.parametrize("kind", sorted(BUNDLE_TAMPERS))
def test_a_tampered_bundle_fails_offline_with_the_position(tmp_path: Path, kind: str) -> None:
    async def main() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}")
        try:
            from steward.storage.migrate import upgrade
            await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}")
            chain, _ = await _sealed(db)
            await chain.export(ORG, tmp_path / "bundle")
        finally:
            await db.close()
    asyncio.run(main())
    assert run_offline(tmp_path / "bundle", tmp_path).returncode == 0
    tamper, expected = BUNDLE_TAMPERS[kind]
    tamper(tmp_path / "bundle")
    done = run_offline(tmp_path / "bundle", tmp_path)
    assert done.returncode == 1 and f"TAMPERED: {expected}" in done.stdout, done.stdout + done.stderr


def test_late_events_are_sealed_in_the_next_round_in_arrival_order(database_url: str) -> None:
    """The sealer's queue is fed by a trigger on insert: events shipped late (created days ago) are sealed in the
    next round, in the order they arrived; a replayed insert queues nothing twice; an empty round reads nothing."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from steward.storage.models import AuditChainLink, AuditPending

    late: list[dict[str, Any]] = []

    async def main() -> tuple[list[int], list[str], int]:
        db = Database(database_url)
        try:
            chain = chains(db)
            now = datetime.now(UTC)
            counts = [await chain.seal_once()]
            late.extend([event(1, base=now - timedelta(minutes=10)), event(2, base=now - timedelta(days=30)),
                         event(3, base=now - timedelta(days=2))])
            await insert(db, late)
            await insert(db, late[:2])  # a journal replay: already there, nothing new queued
            counts.append(await chain.seal_once())
            counts.append(await chain.seal_once())
            async with db.sessions() as session:
                order = list((await session.execute(select(AuditChainLink.event_id).where(
                    AuditChainLink.org_id == ORG).order_by(AuditChainLink.seq))).scalars())
                queued = int(await session.scalar(select(func.count()).select_from(AuditPending)) or 0)
            counts.append((await chain.verify(ORG)).head_seq)
            return counts, order, queued
        finally:
            await db.close()

    counts, order, queued = asyncio.run(main())
    assert counts == [0, 3, 0, 3] and queued == 0
    assert order == [e["id"] for e in late]  # arrival order, not creation time


def test_concurrent_sealers_never_fork_a_chain(database_url: str) -> None:
    """Several processes seal at once (each gateway or shipper runs a sealer): every event gets one position."""
    async def main() -> tuple[list[int], Verification]:
        databases = [Database(database_url) for _ in range(3)]
        try:
            first = chains(databases[0])
            sealers = [first] + [chains(db, first.key) for db in databases[1:]]
            for sealer in sealers:
                sealer.batch_size = 7  # many small transactions interleave
            counts = []
            for round_ in range(4):
                await insert(databases[0], [event(round_ * 50 + n) for n in range(50)])
                counts += await asyncio.gather(*(s.seal_once() for s in sealers))
            return counts, await first.verify(ORG)
        finally:
            for db in databases:
                await db.close()

    counts, result = asyncio.run(main())
    assert sum(counts) == 200 and result.head_seq == 200 and result.problems == []
