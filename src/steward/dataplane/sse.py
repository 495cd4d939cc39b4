"""Watches a relayed SSE byte stream for the few events metering needs, without changing a byte.

Events come from the one decoder (``sse_decode``). Text deltas (the bulk of a stream) are only counted, never
parsed; message_start, content_block_start, message_delta, message_stop and error are parsed with orjson.
Events are recognised by their ``event`` name, as the official SDKs do.
"""

from __future__ import annotations

from typing import Any

import orjson

from steward.dataplane.sse_decode import MAX_EVENT_BYTES, SseDecoder
from steward.governance.usage import StreamMeter

_DELTA = b"content_block_delta"
_PARSED = frozenset((b"message_start", b"content_block_start", b"message_delta", b"message_stop", b"error"))
# Bytes of ``event: content_block_delta\ndata: `` around each delta's data: ``delta_bytes`` counts deltas in
# the canonical framing whatever the upstream's spacing or line endings (the cut-stream estimate relies on it).
_DELTA_FRAMING = len(b"event: content_block_delta\ndata: ")


class SseWatcher:
    """Feed it chunks in order; it tells the meter what happened and whether the stream has ended."""

    __slots__ = ("_decode", "_decoder", "_delta_data_bytes", "delta_events", "error", "finished", "meter")

    def __init__(self, meter: StreamMeter, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.meter = meter
        self._decoder = SseDecoder(max_event_bytes)
        self._decode = self._decoder.feed
        self.finished = False
        self.error: dict[str, Any] | None = None
        self.delta_events = 0
        self._delta_data_bytes = 0

    @property
    def delta_bytes(self) -> int:
        """Size of the text-delta events seen, each counted as ``event: content_block_delta\\ndata: <data>``."""
        return self._delta_data_bytes + _DELTA_FRAMING * self.delta_events

    @property
    def dropped_events(self) -> int:
        """Events too large to buffer, skipped (see ``sse_decode.MAX_EVENT_BYTES``)."""
        return self._decoder.dropped

    def feed(self, chunk: bytes) -> None:
        for name, data in self._decode(chunk):
            if name == _DELTA:
                self.delta_events += 1
                self._delta_data_bytes += len(data)
            elif name in _PARSED:
                self._parsed(name, data)

    def _parsed(self, name: bytes, raw: bytes) -> None:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        if name == b"message_start":
            self.meter.on_message_start(data)
        elif name == b"content_block_start":
            self.meter.on_content_block_start(data)
        elif name == b"message_delta":
            self.meter.on_message_delta(data)
        elif name == b"message_stop":
            self.meter.on_message_stop()
            self.finished = True
        else:
            self.error = data
            self.finished = True
