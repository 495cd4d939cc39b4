"""The durable local journal: finished requests are appended here before their response completes.

Each serving process takes its own *slot* directory (held with ``flock``), so several workers or
instances on one host never interleave writes. A record is one JSON line written with a single
``write(2)`` on an ``O_APPEND`` descriptor: once the call returns, the bytes are in the kernel and survive
a SIGKILL of the process (``fsync`` per write, for power loss, is a setting). Writers only ever append to
the newest segment of their slot and roll to a new one past ``SEGMENT_BYTES``; the shipper (see
``shipper.py``) reads every slot, records its progress in a ``.shipped`` file per segment, and deletes
segments that are shipped and no longer written.

No line is too long: ``read_lines`` reads 4 MiB at a time and, when a line is longer, keeps reading until its
newline, so memory is bounded by the longest line, not by a fixed chunk. Every line starts with ``{"t":<unix
time>,`` (when it was journaled), so the age of the oldest unshipped record is one small read (``backlog``).
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SEGMENT_BYTES = 64 * 1024 * 1024
MAX_SLOTS = 256
READ_CHUNK = 4 * 1024 * 1024
_STAMP = re.compile(rb'^\{"t":([0-9.]+),')


class Segment:
    """One journal file and its shipped offset (kept in a small side file, rewritten in place)."""

    __slots__ = ("_offset_fd", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset_fd: int | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Segment) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def shipped_path(self) -> Path:
        return self.path.with_suffix(".shipped")

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def shipped_offset(self) -> int:
        try:
            offset = int(self.shipped_path.read_bytes().strip() or 0)
        except (FileNotFoundError, ValueError):
            # A missing or torn offset replays the segment from the start; inserts are idempotent.
            return 0
        # Past the end: an offset left behind by an earlier segment of this number (a crash between the two deletes
        # of ``remove``, or a stray file), never this file's: replayed from the start rather than skipped.
        return offset if offset <= self.size() else 0

    def mark_shipped(self, offset: int) -> None:
        """Overwrite the offset in place: one small pwrite, no rename (renames cost milliseconds here)."""
        if self._offset_fd is None:
            self._offset_fd = os.open(self.shipped_path, os.O_RDWR | os.O_CREAT, 0o600)
        os.pwrite(self._offset_fd, f"{offset:020d}".encode(), 0)

    def close(self) -> None:
        if self._offset_fd is not None:
            os.close(self._offset_fd)
            self._offset_fd = None

    def remove(self) -> None:
        self.close()
        # The offset first: a crash between the two deletes leaves a segment that replays (idempotent), never an
        # offset that a new segment of the same number would inherit.
        for path in (self.shipped_path, self.path):
            with suppress(FileNotFoundError):
                path.unlink()


def lock_file(path: Path) -> int | None:
    """An exclusive ``flock`` on ``path`` (created if needed), or None when another holder has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def unlock_file(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def slot_paths(directory: Path) -> Iterator[Path]:
    return (directory / f"slot-{i:03d}" for i in range(MAX_SLOTS))


def segment_paths(slot: Path) -> list[Path]:
    """A slot's segments, oldest first."""
    return sorted(slot.glob("*.jsonl"))


class Journal:
    """Appends records to the newest segment of this process's slot."""

    def __init__(self, directory: Path, *, fsync: bool = False) -> None:
        self.directory = directory
        self._fsync = fsync
        self.slot, self._lock_fd = self._acquire()
        existing = segment_paths(self.slot)
        self._open_segment(int(existing[-1].stem) + 1 if existing else 1)

    def _acquire(self) -> tuple[Path, int]:
        for path in slot_paths(self.directory):
            fd = lock_file(path / "lock")
            if fd is not None:
                return path, fd
        raise RuntimeError(f"all {MAX_SLOTS} journal slots in {self.directory} are taken")

    def _open_segment(self, number: int) -> None:
        self.current = self.slot / f"{number:012d}.jsonl"
        self._fd = os.open(self.current, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        if self._size == 0:  # a new segment: an offset file of that number is stale (nothing of it shipped yet)
            with suppress(FileNotFoundError):
                self.current.with_suffix(".shipped").unlink()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (against process death) before the response completes."""
        # The journaling time leads the line (found without parsing a line of any size). One writev: still a
        # single append, without copying the body to add the stamp and the newline.
        body = orjson.dumps(record)
        parts: list[bytes | memoryview] = (
            [b'{"t":%.3f,' % time.time(), memoryview(body)[1:], b"\n"] if len(body) > 2 else [b"{}\n"])
        total = sum(len(part) for part in parts)
        written = os.writev(self._fd, parts)
        if written != total:  # regular files do not short-write short of a full disk
            raise OSError(f"journal short write ({written} of {total} bytes)")
        if self._fsync:
            os.fsync(self._fd)
        self._size += written
        if self._size >= SEGMENT_BYTES:
            os.close(self._fd)
            self._open_segment(int(self.current.stem) + 1)

    def close(self) -> None:
        os.close(self._fd)
        unlock_file(self._lock_fd)


def read_lines(path: Path, offset: int, chunk: int = READ_CHUNK) -> bytes:
    """The complete lines from ``offset``: up to the last newline of one chunk or, when the chunk holds none (a
    line longer than the chunk), up to the first newline beyond it, read chunk by chunk. Empty when no newline
    follows ``offset`` yet (a tail still being written, or torn)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return b""
    with fh:
        fh.seek(offset)
        data = fh.read(chunk)
        end = data.rfind(b"\n")
        if end >= 0:
            return data[: end + 1]
        parts = [data]
        while more := fh.read(chunk):
            found = more.find(b"\n")
            if found >= 0:
                parts.append(more[: found + 1])
                return b"".join(parts)
            parts.append(more)
        return b""


def read_tail(path: Path, offset: int) -> bytes:
    """Everything from ``offset`` to the end (a torn last line, once nobody writes the segment any more)."""
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read()


@dataclass(slots=True, frozen=True)
class SlotBacklog:
    """What one slot holds that is not shipped yet."""

    slot: str
    bytes: int
    oldest_at: float | None  # when its oldest unshipped line was journaled (None: nothing waits)


def journaled_at(path: Path, offset: int) -> float | None:
    """The journaling time of the line at ``offset`` (lines from before the stamp: the segment's mtime)."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            head = fh.read(32)
            found = _STAMP.match(head)
            return float(found.group(1)) if found else os.fstat(fh.fileno()).st_mtime
    except (FileNotFoundError, ValueError):
        return None


def backlog(directory: Path) -> list[SlotBacklog]:
    """Unshipped bytes per slot and the age of each slot's oldest unshipped line, from file sizes and the shipped
    offsets alone: true whether or not a shipper is running. A few ``stat`` calls and one small read per slot."""
    found: list[SlotBacklog] = []
    for slot in slot_paths(directory):
        if not slot.exists():
            break
        waiting, oldest = 0, None
        for path in segment_paths(slot):
            segment = Segment(path)
            shipped, size = segment.shipped_offset(), segment.size()
            if size > shipped:
                waiting += size - shipped
                if oldest is None:
                    oldest = journaled_at(path, shipped)
        found.append(SlotBacklog(slot.name, waiting, oldest))
    return found
