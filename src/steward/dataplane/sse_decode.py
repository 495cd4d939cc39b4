"""The one server-sent events decoder: bytes in, ``(event name, data)`` out, per the WHATWG EventSource rules.

Used by the stream watcher on the hot path and by content capture; it never changes the relayed bytes. Lines end
with CRLF, LF or CR; one leading BOM is dropped; a field's name runs to the first colon and one space after the
colon is removed; ``:`` lines are comments; ``data`` lines are joined with LF; an empty line dispatches an event
that has data (named ``message`` when no ``event`` field was given); ``id`` and ``retry`` are not needed here.
An incomplete event at the end of the stream is never dispatched. Memory is bounded: an event larger than
``max_event_bytes`` (counted after line endings are normalised to LF) is dropped and counted, not buffered.
"""

from __future__ import annotations

import re

_BOM = b"\xef\xbb\xbf"
_LF, _CR = 10, 13
# The largest request body the gateway accepts (STEWARD_MAX_BODY_BYTES' default): no real event comes near it.
MAX_EVENT_BYTES = 32 * 1024 * 1024

Event = tuple[bytes, bytes]
# One event line with a non-empty name, one data line, LF endings, then the empty line.
_match_simple = re.compile(rb"event: ([^\n]+)\ndata: ([^\n]*)\n\n").match


class SseDecoder:
    """Feed it a stream's chunks in order; each call returns the events the chunk completed."""

    __slots__ = ("_head", "_parts", "_size", "_skip_lf", "_skipping", "_slow", "dropped", "max_event_bytes")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self.dropped = 0                    # events over max_event_bytes, discarded
        self._head: bytes | None = b""      # bytes held while they may still be the start of a BOM
        self._parts: list[bytes] = []       # the incomplete event, normalised to LF
        self._size = 0
        self._skip_lf = False               # the last chunk ended with CR: an LF opening the next one is its pair
        self._skipping = False              # inside an oversized event, dropping bytes until its end
        self._slow = True                   # any of the four states above is set: a chunk needs _prepare

    def feed(self, chunk: bytes) -> list[Event]:
        """The events completed by ``chunk`` (any split of the stream gives the same events in total)."""
        if self._slow or b"\r" in chunk:
            return self._feed_slow(chunk)
        out: list[Event] = []
        start = 0
        size = len(chunk)
        if size <= self.max_event_bytes:  # then no event in it can be too large
            # The shape of every Anthropic event, one C call each: the regex matches a whole block or nothing.
            while start < size and (m := _match_simple(chunk, start)) is not None:
                out.append(m.groups())  # type: ignore[arg-type]  # two groups, both always set
                start = m.end()
            if start == size:
                return out
        self._split(chunk, start, out)
        return out

    def _feed_slow(self, chunk: bytes) -> list[Event]:
        buf = self._prepare(chunk)
        out: list[Event] = []
        if buf:
            self._split(buf, 0, out)
        return out

    def _split(self, buf: bytes, start: int, out: list[Event]) -> None:
        """Append the events of ``buf`` from ``start`` to ``out`` and hold its incomplete rest."""
        small = len(buf) <= self.max_event_bytes
        while True:
            if small and not self._skipping:
                while (m := _match_simple(buf, start)) is not None:
                    out.append(m.groups())  # type: ignore[arg-type]
                    start = m.end()
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            if self._skipping:  # the end of an event already dropped (and counted) while pending
                self._skipping = False
            elif end - start > self.max_event_bytes:
                self.dropped += 1
            elif (event := _parse_block(buf[start:end])) is not None:
                out.append(event)
            start = end + 2
        if start < len(buf):
            self._keep(buf[start:])
        elif self._slow:
            self._settle()

    def _prepare(self, chunk: bytes) -> bytes:
        """Strip a BOM, normalise line endings, and join the pending event; b"" when nothing can complete."""
        if self._head is not None:
            chunk = self._strip_bom(chunk)
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
        if chunk and b"\r" in chunk:
            self._skip_lf = chunk[-1] == _CR
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        parts = self._parts
        if chunk and parts:
            if b"\n\n" not in chunk and not (chunk[0] == _LF and parts[-1][-1] == _LF):
                self._hold(chunk)
                chunk = b""
            else:
                parts.append(chunk)
                chunk = b"".join(parts)
                self._parts, self._size = [], 0
        self._settle()
        return chunk

    def _settle(self) -> None:
        self._slow = self._head is not None or self._skip_lf or self._skipping or bool(self._parts)

    def _keep(self, rest: bytes) -> None:
        """Hold the incomplete rest of the stream, unless it is already too large to become an event."""
        if not self._skipping and len(rest) <= self.max_event_bytes + 1:  # +1: a last LF may open the empty line
            self._parts = [rest] if rest else []
            self._size = len(rest)
        else:
            self._drop_pending(rest)
        self._settle()

    def _hold(self, chunk: bytes) -> None:
        """Add a chunk that ends no event to the pending one (without re-copying what is already held)."""
        if not self._skipping and self._size + len(chunk) <= self.max_event_bytes + 1:
            self._parts.append(chunk)
            self._size += len(chunk)
        else:
            self._drop_pending(chunk)

    def _drop_pending(self, last: bytes) -> None:
        """Forget the pending event (counted once); keep only a final LF, which may start the empty line."""
        if not self._skipping:
            self.dropped += 1
            self._skipping = True
        self._parts = [b"\n"] if last[-1:] == b"\n" else []
        self._size = len(self._parts)

    def _strip_bom(self, chunk: bytes) -> bytes:
        head = self._head + chunk if self._head else chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        return head[len(_BOM):] if head.startswith(_BOM) else head


def _parse_block(block: bytes) -> Event | None:
    """The event of one block of LF-separated lines (no empty line inside), or None if it carries no data."""
    name = b""
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[0] == 0x3A:  # a leading empty line (after a run of them) or a ":" comment
            continue
        field, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value
    if not data:
        return None
    return name or b"message", b"\n".join(data)


def decode_sse(raw: bytes, max_event_bytes: int = MAX_EVENT_BYTES) -> list[Event]:
    """Every complete event of a whole stream (an unterminated last event is not one)."""
    return SseDecoder(max_event_bytes).feed(raw)


__all__ = ["MAX_EVENT_BYTES", "Event", "SseDecoder", "decode_sse"]
