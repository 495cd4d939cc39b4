"""The files of an audit export bundle (docs/audit.md): canonical events and chain rows in chain order, the
signed checkpoints, a signed manifest, the public key, a copy of ``verify_offline.py`` and a README. Writing only:
``chain.Chains.export`` decides what goes in."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from steward.compliance import verify_offline


class Bundle:
    """The files of an export bundle, written as the chain is read."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.events = 0
        self._events = (directory / "events.jsonl").open("w", encoding="utf-8")
        self._chain = (directory / "chain.jsonl").open("w", encoding="utf-8")
        self._checkpoints = (directory / "checkpoints.jsonl").open("w", encoding="utf-8")

    def add(self, link: Mapping[str, Any], event: Mapping[str, Any] | None) -> None:
        self._chain.write(json.dumps(link, sort_keys=True) + "\n")
        if event is not None:
            self._events.write(verify_offline.canonical(event).decode() + "\n")
            self.events += 1

    def add_checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        self._checkpoints.write(json.dumps(checkpoint, sort_keys=True) + "\n")

    def close(self) -> None:
        for handle in (self._events, self._chain, self._checkpoints):
            handle.close()

    def finish(self, manifest: Mapping[str, Any], sign: Callable[[bytes], str], public_pem: bytes,
               key_id: str) -> None:
        """The signed manifest, the public key, the verifier and the README."""
        body = json.dumps(manifest, sort_keys=True, indent=2).encode()
        (self.directory / "manifest.json").write_bytes(body)
        (self.directory / "manifest.sig").write_text(sign(body) + "\n")
        (self.directory / "public_key.pem").write_bytes(public_pem)
        shutil.copyfile(verify_offline.__file__, self.directory / "verify_offline.py")
        (self.directory / "README.md").write_text(README.format(key_id=key_id))


README = """# Steward audit export

Files:
- `events.jsonl`: the audit events, one canonical JSON object per line, in chain order.
- `chain.jsonl`: for each position `seq`: the event id, the SHA-256 of the canonical event, and
  `link = SHA-256(previous link || seq as 8 bytes big-endian || event hash)`.
- `checkpoints.jsonl`: chain heads signed with Ed25519 (`key_id` = first 16 hex digits of SHA-256 of the key).
- `manifest.json` (+ `manifest.sig`, signed by the same key): organization, the positions exported, the link
  before the first one (`anchor_link`) and the trusted public keys.
- `public_key.pem`: the signing key, id `{key_id}`. Compare this id with the one your Steward operator
  publishes (e.g. `steward audit verify` prints it): a bundle is only as trustworthy as that comparison.
- `verify_offline.py`: the verifier. Python 3.11+ and the `cryptography` package; it imports nothing else.

Run `python verify_offline.py .` in this folder. Exit code 0: intact. 1: tampering found, each problem printed
with its position and event id. 2: the bundle cannot be read.
"""
