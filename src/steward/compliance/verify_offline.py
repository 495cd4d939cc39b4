"""Standalone verifier of a Steward audit export: ``python verify_offline.py BUNDLE_DIR``.

One file, standard library and ``cryptography`` only (no Steward import), so an auditor can read all of it.
It also defines the chain itself (canonical event hash, link, checkpoint message), and Steward's online
verifier imports these definitions: the two can never disagree. Exit 0: intact; 1: tampering found (each
problem located by sequence number and event id); 2: the bundle is unusable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
# The audit event's columns covered by its hash (version 1 of the chain). Content is never in an event: a
# request with stored content carries only data["content_sha256"], so purging content never breaks a link.
EVENT_FIELDS = ("id", "created_at", "org_id", "event", "request_id", "workspace_id", "api_key_id", "actor",
                "model", "input_tokens", "output_tokens", "tools_used", "stop_reason", "latency_ms", "status",
                "decision", "reason", "data")


def canonical(event: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of an event: its v1 fields, sorted keys, no spaces, UTF-8."""
    body = {name: event.get(name) for name in EVENT_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical event."""
    return hashlib.sha256(canonical(event)).hexdigest()


def chain_link(previous: str, seq: int, digest: str) -> str:
    """link(seq) = SHA-256(link(seq - 1) || seq as 8 bytes big-endian || event hash); link(0) is GENESIS."""
    return hashlib.sha256(bytes.fromhex(previous) + seq.to_bytes(8, "big") + bytes.fromhex(digest)).hexdigest()


def checkpoint_message(org_id: str, seq: int, link: str, created_at: str) -> bytes:
    """The bytes an Ed25519 checkpoint signature covers."""
    return f"steward-audit-checkpoint/v1\n{org_id}\n{seq}\n{link}\n{created_at}".encode()


def key_id(public_raw: bytes) -> str:
    """A public key's id: the first 16 hex digits of SHA-256 over its raw 32 bytes."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(slots=True, frozen=True)
class Problem:
    """One located finding: what kind, at which sequence number and event."""

    kind: str
    seq: int | None
    event_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "chain"
        return f"{self.kind} at {where}" + (f" (event {self.event_id})" if self.event_id else "") + f": {self.message}"


@dataclass
class ChainVerifier:
    """Walks one organization's chain in sequence order; re-synchronises after each finding so that every
    tampered position is reported once instead of everything after it."""

    org_id: str
    public_keys: Mapping[str, bytes]
    checkpoints: Sequence[Mapping[str, Any]]
    next_seq: int = 1
    previous: str = GENESIS
    problems: list[Problem] = field(default_factory=list)
    links_checked: int = 0

    def __post_init__(self) -> None:
        self.checkpoints = sorted(self.checkpoints, key=lambda c: int(c["seq"]))
        self._pending = {int(c["seq"]): c for c in self.checkpoints}
        self._mismatches: list[tuple[int, str, Mapping[str, Any]]] = []

    def _found(self, kind: str, seq: int | None, event_id: str | None, message: str) -> None:
        self.problems.append(Problem(kind, seq, event_id, message))

    def feed(self, row: Mapping[str, Any], event: Mapping[str, Any] | None) -> None:
        """Check the chain row at the next position and the event it names (None: the event is gone)."""
        seq, event_id = int(row["seq"]), str(row["event_id"])
        in_place = seq == self.next_seq
        if seq > self.next_seq:
            self._found("deleted", self.next_seq, None,
                        f"chain positions {self.next_seq}..{seq - 1} are missing (links deleted)")
        elif seq < self.next_seq:
            self._found("reordered", seq, event_id, f"position {seq} appears after position {self.next_seq - 1}")
        if event is None:
            self._found("deleted", seq, event_id, "the audit event this position seals is missing")
        elif str(event.get("id")) != event_id:
            self._found("reordered", seq, event_id, f"found event {event.get('id')} where {event_id} was sealed")
        elif event_hash(event) != row["event_hash"]:
            self._found("edited", seq, event_id, "the event's content no longer matches its sealed hash")
        if in_place and chain_link(self.previous, seq, str(row["event_hash"])) != row["link"]:
            self._found("link_mismatch", seq, event_id, "the link does not follow from the previous one "
                                                        "(chain rewritten here)")
            if len(self._mismatches) < 10_000:
                self._mismatches.append((seq, self.previous, row))
        self._check_checkpoint(seq, str(row["link"]), event_id)
        self.previous, self.next_seq = str(row["link"]), max(self.next_seq, seq + 1)
        self.links_checked += 1

    def _check_checkpoint(self, seq: int, link: str, event_id: str) -> None:
        checkpoint = self._pending.pop(seq, None)
        if checkpoint is not None and checkpoint["link"] != link:
            self._found("checkpoint_mismatch", seq, event_id,
                        "the chain differs from the signed checkpoint (events or links rewritten up to here)")

    def finish(self) -> list[Problem]:
        """Check signatures and truncation once every row was fed; returns every problem found."""
        for checkpoint in self.checkpoints:
            self._check_signature(checkpoint)
        if self._pending:
            self._found("truncated", self.next_seq, None,
                        f"the chain ends at position {self.next_seq - 1} but a signed checkpoint covers position "
                        f"{max(self._pending)}")
        self._find_swaps()
        return self.problems

    def _find_swaps(self) -> None:
        """Two link mismatches that swapping their events would repair are a reordering: say so."""
        for i, (seq_a, prev_a, row_a) in enumerate(self._mismatches):
            for seq_b, prev_b, row_b in self._mismatches[i + 1:]:
                if (chain_link(prev_a, seq_a, str(row_b["event_hash"])) == row_a["link"]
                        and chain_link(prev_b, seq_b, str(row_a["event_hash"])) == row_b["link"]):
                    self.problems = [p for p in self.problems if p.kind != "link_mismatch" or p.seq not in
                                     (seq_a, seq_b)]
                    self._found("reordered", seq_a, str(row_a["event_id"]),
                                f"this event was sealed at position {seq_b}; positions {seq_a} and {seq_b} swapped")
                    self._found("reordered", seq_b, str(row_b["event_id"]),
                                f"this event was sealed at position {seq_a}; positions {seq_a} and {seq_b} swapped")

    def _check_signature(self, checkpoint: Mapping[str, Any]) -> None:
        seq, kid = int(checkpoint["seq"]), str(checkpoint["key_id"])
        raw = self.public_keys.get(kid)
        if raw is None:
            self._found("bad_signature", seq, None, f"checkpoint signed by an unknown key {kid}")
            return
        message = checkpoint_message(self.org_id, seq, str(checkpoint["link"]), str(checkpoint["created_at"]))
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(checkpoint["signature"]), message)
        except (InvalidSignature, ValueError):
            self._found("bad_signature", seq, None, "the checkpoint's signature does not verify")


def _lines(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def verify_bundle(directory: Path) -> tuple[list[Problem], dict[str, Any]]:
    """Verify an export bundle; returns the problems found and the (signed) manifest."""
    manifest_bytes = (directory / "manifest.json").read_bytes()
    manifest: dict[str, Any] = json.loads(manifest_bytes)
    keys = {key_id(base64.b64decode(k)): base64.b64decode(k) for k in manifest["public_keys"]}
    problems: list[Problem] = []
    try:
        signer = Ed25519PublicKey.from_public_bytes(keys[manifest["signed_by"]])
        signer.verify(base64.b64decode((directory / "manifest.sig").read_text().strip()), manifest_bytes)
    except (KeyError, InvalidSignature, ValueError, FileNotFoundError):
        problems.append(Problem("bad_signature", None, None, "manifest.json is not signed by its key"))
    events: dict[str, tuple[int, dict[str, Any] | None]] = {}
    for number, line_event in enumerate(_lines(directory / "events.jsonl")):
        events[str(line_event.get("id"))] = (number, line_event)
    verifier = ChainVerifier(manifest["organization_id"], keys, list(_lines(directory / "checkpoints.jsonl")),
                             next_seq=int(manifest["first_seq"]), previous=str(manifest["anchor_link"]))
    last_line = -1
    for row in _lines(directory / "chain.jsonl"):
        line, event = events.get(str(row["event_id"]), (-1, None))
        if event is not None and line < last_line:
            problems.append(Problem("reordered", int(row["seq"]), str(row["event_id"]),
                                    "events.jsonl lists this event out of chain order"))
        last_line = max(last_line, line)
        verifier.feed(row, event)
    problems += verifier.finish()
    if verifier.next_seq - 1 < int(manifest["last_seq"]) and not any(p.kind == "truncated" for p in problems):
        problems.append(Problem("truncated", verifier.next_seq, None,
                                f"the manifest exports up to position {manifest['last_seq']} but the chain ends at "
                                f"{verifier.next_seq - 1}"))
    stale = _stale_checkpoint(manifest, verifier.checkpoints)
    if stale is not None:
        problems.append(stale)
    return problems, manifest


def _stale_checkpoint(manifest: Mapping[str, Any], checkpoints: Sequence[Mapping[str, Any]]) -> Problem | None:
    """The export signs the chain head first, so its newest checkpoint covers the last position exported; one
    that does not, and is older than two checkpoint intervals at export time, means checkpoints were removed.
    (Bundles written before the manifest carried ``checkpoint_interval`` skip this check.)"""
    interval, last_seq = manifest.get("checkpoint_interval"), int(manifest["last_seq"])
    newest = max(checkpoints, key=lambda c: int(c["seq"]), default=None)
    if interval is None or (newest is not None and int(newest["seq"]) >= last_seq):
        return None
    if newest is None:
        return Problem("stale_checkpoint", None, None, f"no signed checkpoint covers positions up to {last_seq}")
    exported, signed = _time(str(manifest["exported_at"])), _time(str(newest["created_at"]))
    age = (exported - signed).total_seconds()
    if age <= 2 * float(interval):
        return None
    return Problem("stale_checkpoint", int(newest["seq"]), None,
                   f"the newest checkpoint (position {newest['seq']}, signed {newest['created_at']}) is {age:.0f} s "
                   f"older than the export but positions up to {last_seq} follow it (allowed: two checkpoint "
                   f"intervals, {2 * float(interval):g} s): checkpoints were removed")


def _time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python verify_offline.py BUNDLE_DIR", file=sys.stderr)
        return 2
    try:
        problems, manifest = verify_bundle(Path(argv[1]))
    except (OSError, ValueError, KeyError) as exc:
        print(f"unusable bundle: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"TAMPERED: {problem}")
    if problems:
        return 1
    print(f"OK: organization {manifest['organization_id']}, positions {manifest['first_seq']}.."
          f"{manifest['last_seq']} intact; head signed by key {manifest['signed_by']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
