"""Watches a relayed SSE byte stream for the few events metering needs, without changing a byte.

Text deltas (the bulk of a stream) are only counted, never parsed; message_start, content_block_start,
message_delta, message_stop and error are parsed with orjson.
"""

from __future__ import annotations

from typing import Any

import orjson

from steward.governance.usage import StreamMeter

_DELTA = b"event: content_block_delta"
_PING = b"event: ping"


class SseWatcher:
    """Feed it chunks in order; it tells the meter what happened and whether the stream has ended."""

    def __init__(self, meter: StreamMeter) -> None:
        self.meter = meter
        self._buf = b""
        self.finished = False
        self.error: dict[str, Any] | None = None
        self.delta_events = 0
        self.delta_bytes = 0

    def feed(self, chunk: bytes) -> None:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r\n" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            self._event(buf[start:end])
            start = end + 2
        self._buf = buf[start:]

    def _event(self, raw: bytes) -> None:
        if raw.startswith(_DELTA):
            self.delta_events += 1
            self.delta_bytes += len(raw)
            return
        if raw.startswith(_PING) or not raw.startswith(b"event: "):
            return
        name, _, rest = raw.partition(b"\n")
        data_at = rest.find(b"data: ")
        if data_at < 0:
            return
        try:
            data = orjson.loads(rest[data_at + 6:])
        except orjson.JSONDecodeError:
            return
        self._dispatch(name[7:].strip(), data)

    def _dispatch(self, name: bytes, data: Any) -> None:
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
        elif name == b"error":
            self.error = data
            self.finished = True
