"""The tamper-evident audit trail: sealing events into per-organization hash chains, signed checkpoints,
online verification and the export bundle that ``verify_offline.py`` checks.

The chain's definitions (canonical event hash, link, checkpoint message) live in ``verify_offline.py`` so the
online and offline verifiers share one definition. Events are sealed in arrival order (the order the sealer
finds them in), which is fixed once sealed; the sealer never reads content, only ``data["content_sha256"]``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from steward.compliance import verify_offline
from steward.compliance.export import Bundle
from steward.compliance.verify_offline import EVENT_FIELDS, GENESIS, ChainVerifier, Problem, chain_link
from steward.settings import Settings
from steward.storage.engine import Database
from steward.storage.models import AuditChainLink, AuditCheckpoint, AuditEvent
from steward.storage.repositories.audit import AuditRepository, Sealing, plain_json

KEY_FILE = "audit_signing_key"
PAGE = 5000
# Verification can run inside a gateway process (GET /v1/admin/audit/verify): pages this small keep each stretch
# of hashing between two awaits near 50 ms, so requests served by the same process are not held up longer.
VERIFY_PAGE = 1000
# How many request ids a missing-audit finding names (the count is always exact).
MISSING_SHOWN = 20
# Seconds a chain head may wait for its checkpoint before a stale newest checkpoint is reported: a sealing round
# under load, or a gateway between its sealing and signing, must not make verification of a live system fail.
FRESHNESS_GRACE = 30.0


def iso(value: datetime) -> str:
    """A UTC timestamp as the chain writes it: microseconds and a ``Z``."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_hash(event: Mapping[str, Any]) -> str:
    """``verify_offline.event_hash``, several times faster: the canonical bytes written by orjson when they are
    provably the same (``plain_json``), else by the reference. Verification always uses the reference."""
    body = {name: event.get(name) for name in EVENT_FIELDS}
    if plain_json(body):
        try:
            return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except orjson.JSONEncodeError:  # e.g. a lone surrogate: the reference raises its own error
            pass
    return verify_offline.event_hash(event)


def event_dict(event: AuditEvent | Mapping[str, Any]) -> dict[str, Any]:
    """The event's columns as the chain hashes them (and as an export writes them)."""
    if isinstance(event, Mapping):
        out = {name: event[name] for name in verify_offline.EVENT_FIELDS}
    else:
        out = {name: getattr(event, name) for name in verify_offline.EVENT_FIELDS}
    out["created_at"] = iso(out["created_at"])
    return out


class SigningKey:
    """The Ed25519 key that signs checkpoints, plus the public keys a verifier trusts."""

    def __init__(self, private: Ed25519PrivateKey, trusted: Sequence[bytes] = ()) -> None:
        self._private = private
        self.public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = verify_offline.key_id(self.public_raw)
        self.trusted: dict[str, bytes] = {verify_offline.key_id(raw): raw for raw in trusted}
        self.trusted[self.key_id] = self.public_raw

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._private.sign(message)).decode()

    def public_pem(self) -> bytes:
        return Ed25519PublicKey.from_public_bytes(self.public_raw).public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    @classmethod
    def load(cls, seed_b64: str | None, home: Path, trusted_b64: Sequence[str] = ()) -> SigningKey:
        """From a base64 seed (production), else from ``home/audit_signing_key``, created once with mode 0600."""
        trusted = [base64.b64decode(k) for k in trusted_b64]
        if seed_b64:
            return cls(Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64)), trusted)
        return cls(Ed25519PrivateKey.from_private_bytes(_seed_file(home / KEY_FILE)), trusted)


def _seed_file(path: Path) -> bytes:
    """Read the seed, or create it atomically (several processes may start at once: the first link wins)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    return base64.b64decode(path.read_text().strip())


@dataclass(slots=True)
class Chains:
    """Seals, checkpoints, verifies and exports every organization's chain."""

    repo: AuditRepository
    key: SigningKey
    checkpoint_interval: float = 60.0
    batch_size: int = 2000

    async def seal_once(self) -> int:
        """Seal every queued event (``audit_pending``, filled by a database trigger on each insert), chain by
        chain, in arrival order: late and out-of-order events included, and a round costs what arrived since
        the last one, whatever the size of the trail."""
        sealed = 0
        for org in await self.repo.pending_orgs():
            while True:
                count = await self.repo.seal(org, self.batch_size, sealing_for(org))
                sealed += count
                if count == 0:  # drained, or another sealer is at it: the next round goes on
                    break
        return sealed

    async def checkpoint(self, org_id: str, *, force: bool = False) -> AuditCheckpoint | None:
        """Sign the chain head if it moved and the interval passed (or ``force``); returns the new checkpoint."""
        head = await self.repo.head(org_id)
        if head is None:
            return None
        last = await self.repo.last_checkpoint(org_id)
        now = datetime.now(UTC)
        if last is not None and (last.seq >= head.seq or (
                not force and (now - last.created_at).total_seconds() < self.checkpoint_interval)):
            return None
        created = iso(now)
        row = {"org_id": org_id, "seq": head.seq, "link": head.link, "created_at": now, "key_id": self.key.key_id,
               "signature": self.key.sign(verify_offline.checkpoint_message(org_id, head.seq, head.link, created))}
        if not await self.repo.add_checkpoint(row):
            return None
        return AuditCheckpoint(**row)

    async def checkpoint_all(self, *, force: bool = False) -> int:
        made = 0
        for org in await self.repo.chain_candidates():  # a chain that does not exist has no head: skipped
            made += await self.checkpoint(org, force=force) is not None
        return made

    async def verify(self, org_id: str, *, since: datetime | None = None) -> Verification:
        """Recompute one chain from the database and check its checkpoints and their signatures, that the newest
        checkpoint is fresh, and that every usage record (created at or after ``since``) has its audit event."""
        checkpoints = [_checkpoint_dict(c) for c in await self.repo.checkpoints(org_id)]
        verifier = ChainVerifier(org_id, self.key.trusted, checkpoints)
        after = 0
        while True:
            links = await self.repo.links(org_id, after, VERIFY_PAGE)
            if not links:
                break
            events = await self.repo.events([link.event_id for link in links])
            for link in links:
                found = events.get(link.event_id)
                verifier.feed(_link_dict(link), event_dict(found) if found else None)
            after = links[-1].seq
        problems = verifier.finish()
        problems += await self._gaps(org_id, since)
        stale = await self._stale_checkpoint(org_id)
        if stale is not None:
            problems.append(stale)
        return Verification(org_id, verifier.next_seq - 1, verifier.links_checked,
                            max((int(c["seq"]) for c in checkpoints), default=0),
                            await self.repo.unsealed_count(org_id), problems)

    async def _gaps(self, org_id: str, since: datetime | None) -> list[Problem]:
        """Usage records whose audit event is gone: what a cut of the trail leaves behind even when the
        checkpoints after it were deleted too. A usage record and its event are shipped in one transaction,
        so a live system has no window in which one exists without the other (no grace period needed)."""
        if org_id == "":  # requests without an organization have no usage record
            return []
        count, first = await self.repo.missing_audit(org_id, since, MISSING_SHOWN)
        if not count:
            return []
        shown = ", ".join(first) + (f" and {count - len(first)} more" if count > len(first) else "")
        return [Problem("missing_audit", None, None,
                        f"{count} usage record(s) have no api_call audit event (events deleted): {shown}")]

    async def _stale_checkpoint(self, org_id: str) -> Problem | None:
        """The newest checkpoint must cover the chain, or be younger than two checkpoint intervals at the time
        the newest position was sealed: otherwise checkpoints were deleted (or the sealer stopped signing).
        Grace: the sealer signs in the round after it seals, so the head must also be older than
        ``max(interval, FRESHNESS_GRACE)`` before its missing checkpoint counts; a stopped gateway whose last
        positions (sealed within two intervals of its last checkpoint) were never signed is not a failure."""
        head, last = await self.repo.head(org_id), await self.repo.last_checkpoint(org_id)
        if head is None or last is None or last.seq >= head.seq:
            return None
        allowed, sealed = 2 * self.checkpoint_interval, _utc(head.sealed_at)
        gap = (sealed - _utc(last.created_at)).total_seconds()
        waited = (datetime.now(UTC) - sealed).total_seconds()
        if gap <= allowed or waited <= max(self.checkpoint_interval, FRESHNESS_GRACE):
            return None
        return Problem("stale_checkpoint", last.seq, None,
                       f"the newest checkpoint (position {last.seq}, signed {iso(last.created_at)}) is "
                       f"{gap:.0f} s older than position {head.seq}, sealed {iso(sealed)} (allowed: two "
                       f"checkpoint intervals, {allowed:g} s): checkpoints after position {last.seq} were deleted "
                       "or the sealer stopped signing")

    async def export(self, org_id: str, directory: Path, start: datetime | None = None,
                     end: datetime | None = None) -> dict[str, Any]:
        """Write a bundle for positions covering [start, end), extended to a signed checkpoint."""
        await self.seal_once()
        await self.checkpoint(org_id, force=True)
        bounds = await self.repo.seq_bounds(org_id, start, end)
        if bounds is None:
            raise ValueError("no sealed audit events in that period")
        first, last = bounds
        tail = [c for c in await self.repo.checkpoints(org_id, last) if c.seq >= last][:1]
        last = tail[0].seq if tail else last
        anchor = GENESIS if first == 1 else (await self.repo.link_at(org_id, first - 1) or _missing(first - 1)).link
        bundle = Bundle(directory)
        try:
            after = first - 1
            while links := await self.repo.links(org_id, after, PAGE, until_seq=last):
                events = await self.repo.events([link.event_id for link in links])
                for link in links:
                    found = events.get(link.event_id)
                    bundle.add(_link_dict(link), event_dict(found) if found else None)
                after = links[-1].seq
            for checkpoint in await self.repo.checkpoints(org_id, first, last):
                bundle.add_checkpoint(_checkpoint_dict(checkpoint))
        finally:
            bundle.close()
        manifest = {"format": "steward-audit-export/v1", "organization_id": org_id, "first_seq": first,
                    "last_seq": last, "anchor_link": anchor, "events": bundle.events,
                    "exported_at": iso(datetime.now(UTC)), "signed_by": self.key.key_id,
                    "checkpoint_interval": self.checkpoint_interval,
                    "public_keys": sorted(base64.b64encode(raw).decode() for raw in self.key.trusted.values())}
        bundle.finish(manifest, self.key.sign, self.key.public_pem(), self.key.key_id)
        return manifest


@dataclass(slots=True, frozen=True)
class Verification:
    """The result of verifying one organization's chain."""

    org_id: str
    head_seq: int
    checked: int
    checkpoint_seq: int
    unsealed: int
    problems: list[Problem]

    def as_dict(self) -> dict[str, Any]:
        return {"organization_id": self.org_id or None, "valid": not self.problems, "head_seq": self.head_seq,
                "links_checked": self.checked, "last_checkpoint_seq": self.checkpoint_seq,
                "unsealed_events": self.unsealed,
                "problems": [{"kind": p.kind, "seq": p.seq, "event_id": p.event_id, "message": p.message}
                             for p in self.problems]}


def build_chains(settings: Settings, database: Database) -> Chains:
    """The audit chains (sealing, checkpoints, verification) with the configured signing key."""
    seed = settings.audit_signing_key.get_secret_value() if settings.audit_signing_key else None
    key = SigningKey.load(seed, settings.home, settings.audit_trusted_public_keys)
    return Chains(AuditRepository(database.sessions, database.dialect), key,
                  checkpoint_interval=settings.audit_checkpoint_interval)


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def sealing_for(org_id: str) -> Sealing:
    """The function that turns one chain's head and its next events into chain rows (the shipper seals with it
    inside its own transaction; ``Chains.seal_once`` for everything else)."""
    def sealing(head_seq: int, head_link: str, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        rows, link, now = [], head_link or GENESIS, datetime.now(UTC)
        for offset, event in enumerate(events, start=1):
            digest = event_hash(event_dict(event))
            link = chain_link(link, head_seq + offset, digest)
            rows.append({"org_id": org_id, "seq": head_seq + offset, "event_id": event["id"], "event_hash": digest,
                         "link": link, "sealed_at": now})
        return rows
    return sealing


def _link_dict(link: AuditChainLink) -> dict[str, Any]:
    return {"seq": link.seq, "event_id": link.event_id, "event_hash": link.event_hash, "link": link.link}


def _checkpoint_dict(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {"seq": checkpoint.seq, "link": checkpoint.link, "created_at": iso(checkpoint.created_at),
            "key_id": checkpoint.key_id, "signature": checkpoint.signature}


def _missing(seq: int) -> AuditChainLink:
    raise ValueError(f"chain position {seq} is missing: run `steward audit verify`")

