"""The journal's quarantine: lines that could not be parsed or stored, kept beside the journal, never dropped.

One JSON-lines file per slot (``<journal>/quarantine/<slot>.jsonl``); an entry holds where the line was (slot,
segment, byte offset: together its id), why it failed, when, and the raw line (as text when it is UTF-8, else
base64). The shipper appends; ``steward journal quarantine reship`` removes the entries that now store. Both
take ``quarantine/.lock`` so an append never races a rewrite. Entries may hold request metadata: they stay on
disk with the journal's permissions (0600) and are never logged.
"""

from __future__ import annotations

import base64
import fcntl
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

QUARANTINE_DIR = "quarantine"


@dataclass(slots=True, frozen=True)
class Entry:
    """One quarantined line."""

    slot: str
    segment: str
    offset: int
    kind: str  # "parse" (not a JSON record), "torn" (no newline, nobody writes it), "data" (the database refused it)
    error: str
    quarantined_at: str
    line: bytes

    @property
    def id(self) -> str:
        return f"{self.slot}:{self.segment}:{self.offset}"

    def to_json(self) -> bytes:
        doc: dict[str, object] = {"id": self.id, "slot": self.slot, "segment": self.segment, "offset": self.offset,
                                  "kind": self.kind, "error": self.error, "quarantined_at": self.quarantined_at}
        try:
            doc["line"] = self.line.decode()
        except UnicodeDecodeError:
            doc["line_b64"] = base64.b64encode(self.line).decode()
        return orjson.dumps(doc) + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Entry:
        doc = orjson.loads(raw)
        line = doc["line"].encode() if "line" in doc else base64.b64decode(doc["line_b64"])
        return cls(doc["slot"], doc["segment"], int(doc["offset"]), doc["kind"], doc["error"],
                   doc["quarantined_at"], line)


class Quarantine:
    """The quarantine of one journal directory."""

    def __init__(self, journal_dir: Path) -> None:
        self.directory = journal_dir / QUARANTINE_DIR
        self._counts: dict[Path, tuple[int, int, int]] = {}  # path -> (mtime_ns, size, lines)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _file(self, slot: str) -> Path:
        return self.directory / f"{slot}.jsonl"

    def add(self, slot: str, segment: str, offset: int, kind: str, error: str, line: bytes) -> Entry:
        """Keep one line (appended in one write, like the journal)."""
        entry = Entry(slot, segment, offset, kind, error, datetime.now(UTC).isoformat(), line)
        with self._locked():
            fd = os.open(self._file(slot), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, entry.to_json())
            finally:
                os.close(fd)
        return entry

    def entries(self) -> list[Entry]:
        """Every quarantined line, oldest first per slot; a line quarantined twice (a replay) is listed once."""
        found: dict[str, Entry] = {}
        for path in sorted(self.directory.glob("*.jsonl")) if self.directory.exists() else []:
            for raw in path.read_bytes().splitlines():
                if raw.strip():
                    entry = Entry.from_json(raw)
                    found.setdefault(entry.id, entry)
        return list(found.values())

    def replace(self, resolved: Collection[str], still_failing: dict[str, str]) -> None:
        """Drop the ``resolved`` ids and record the new error of the ones that failed again (one rewrite per slot,
        renamed into place)."""
        with self._locked():
            for path in sorted(self.directory.glob("*.jsonl")):
                kept: dict[str, Entry] = {}
                for raw in path.read_bytes().splitlines():
                    if not raw.strip():
                        continue
                    entry = Entry.from_json(raw)
                    if entry.id in resolved or entry.id in kept:
                        continue
                    if entry.id in still_failing:
                        entry = Entry(entry.slot, entry.segment, entry.offset, entry.kind, still_failing[entry.id],
                                      entry.quarantined_at, entry.line)
                    kept[entry.id] = entry
                if not kept:
                    path.unlink()
                    continue
                temporary = path.with_suffix(".tmp")
                temporary.write_bytes(b"".join(e.to_json() for e in kept.values()))
                os.chmod(temporary, 0o600)
                os.replace(temporary, path)

    def counts(self) -> dict[str, int]:
        """Lines kept per slot; a file is recounted only when it changed (cheap enough for every scrape)."""
        counts: dict[str, int] = {}
        for path in self.directory.glob("*.jsonl") if self.directory.exists() else []:
            try:
                stat = path.stat()
                cached = self._counts.get(path)
                if cached is None or cached[:2] != (stat.st_mtime_ns, stat.st_size):
                    cached = (stat.st_mtime_ns, stat.st_size, path.read_bytes().count(b"\n"))
                    self._counts[path] = cached
            except FileNotFoundError:
                continue
            counts[path.stem] = cached[2]
        return counts
