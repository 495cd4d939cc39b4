"""The shipper's heartbeat: a small JSON file beside the journal, rewritten about once a second.

The shipper usually runs in its own process (``steward ship``), so this file is how the gateway's ``/readyz`` and
``/metrics`` learn that it is alive, whether the database answers it, what it has quarantined and which errors it
met. Backlog and lag are not taken from here: the gateway measures them from the journal itself
(``journal.backlog``), so they stay true when the shipper is dead.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

STATUS_FILE = "shipper.status.json"
WRITE_EVERY = 1.0  # seconds; a rename per round would cost more than the round


@dataclass(slots=True)
class ShipStatus:
    """What one shipper process reports (counters are since that process started)."""

    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    database_error: str | None = None  # set while the database does not answer (an outage)
    outage_since: float | None = None
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count: database, parse, torn, data, internal
    shipped_lines: int = 0
    shipped_bytes: int = 0

    def count(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def record_bytes(self) -> float | None:
        """The mean size of a shipped line: how the gateway turns a backlog in bytes into records."""
        return self.shipped_bytes / self.shipped_lines if self.shipped_lines else None

    def to_json(self) -> bytes:
        return orjson.dumps({"pid": self.pid, "started_at": self.started_at, "updated_at": self.updated_at,
                             "database_error": self.database_error, "outage_since": self.outage_since,
                             "errors": self.errors, "shipped_lines": self.shipped_lines,
                             "shipped_bytes": self.shipped_bytes})


class StatusFile:
    """Writes a shipper's status (throttled) and reads it back for the gateway."""

    def __init__(self, journal_dir: Path) -> None:
        self.path = journal_dir / STATUS_FILE
        self._written = 0.0

    def write(self, status: ShipStatus, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < WRITE_EVERY:
            return
        self._written = now
        status.updated_at = time.time()
        temporary = self.path.with_name(f".{STATUS_FILE}.{status.pid}")
        try:
            temporary.write_bytes(status.to_json())
            os.replace(temporary, self.path)
        except OSError:  # a full disk must not stop shipping; readiness reports the journal directory itself
            return

    def read(self) -> ShipStatus | None:
        try:
            doc = orjson.loads(self.path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        return ShipStatus(pid=int(doc["pid"]), started_at=float(doc["started_at"]),
                          updated_at=float(doc["updated_at"]), database_error=doc.get("database_error"),
                          outage_since=doc.get("outage_since"), errors=dict(doc.get("errors") or {}),
                          shipped_lines=int(doc.get("shipped_lines") or 0),
                          shipped_bytes=int(doc.get("shipped_bytes") or 0))
