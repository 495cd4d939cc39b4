"""SSE decoding cost: the spec-compliant decoder against the two ad-hoc parsers it replaced, in one run.

Decodes a realistic 200-event stream in the simulator's shape (message_start, a text block with 194 deltas of
about three tokens, message_delta, message_stop) three ways: the metering watcher fed one event per chunk (how
the simulator sends), the watcher fed 4 KiB chunks (what TCP coalescing gives), and content capture's one-shot
split of the whole stream. The old code is copied here as the baseline. Prints µs per stream and new/old ratios.

    .venv/bin/python bench/sse_bench.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from steward.dataplane.sse import SseWatcher
from steward.dataplane.sse_decode import decode_sse
from steward.governance.usage import StreamMeter
from steward.simulator.stream import sse

WORDS = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while", "the", "gateway",
         "meters", "every", "token", "it", "relays."]


def stream_events() -> list[bytes]:
    """200 events: start, block start, ping, 194 text deltas, block stop, message_delta, message_stop."""
    message: dict[str, Any] = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "content": [],
        "model": "claude-sonnet-4-6", "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 1200, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": 1, "service_tier": "standard"}}
    events = [sse("message_start", {"type": "message_start", "message": message}),
              sse("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}}),
              sse("ping", {"type": "ping"})]
    for i in range(194):
        text = " " + " ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(3))
        events.append(sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                  "delta": {"type": "text_delta", "text": text}}))
    events.append(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                           "stop_sequence": None},
                                        "usage": {"output_tokens": 585}}))
    events.append(sse("message_stop", {"type": "message_stop"}))
    return events


class OldSseWatcher:
    """The watcher as it was before the shared decoder (baseline only)."""

    def __init__(self, meter: StreamMeter) -> None:
        self.meter = meter
        self._buf = b""
        self.finished = False
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
        if raw.startswith(b"event: content_block_delta"):
            self.delta_events += 1
            self.delta_bytes += len(raw)
            return
        if raw.startswith(b"event: ping") or not raw.startswith(b"event: "):
            return
        name, _, rest = raw.partition(b"\n")
        data_at = rest.find(b"data: ")
        if data_at < 0:
            return
        try:
            data = orjson.loads(rest[data_at + 6:])
        except orjson.JSONDecodeError:
            return
        if isinstance(data, dict):
            name = name[7:].strip()
            if name == b"message_start":
                self.meter.on_message_start(data)
            elif name == b"content_block_start":
                self.meter.on_content_block_start(data)
            elif name == b"message_delta":
                self.meter.on_message_delta(data)
            elif name == b"message_stop":
                self.meter.on_message_stop()
                self.finished = True


def old_sse_events(raw: bytes) -> Iterable[tuple[bytes, Any]]:
    """Content capture's splitter before the shared decoder (baseline only)."""
    if b"\r\n" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    for chunk in raw.split(b"\n\n"):
        if not chunk.startswith(b"event:"):
            continue
        end = chunk.find(b"\n")
        at = chunk.find(b"data:", end)
        if end < 0 or at < 0:
            continue
        try:
            yield chunk[6:end].strip(), orjson.loads(chunk[at + 5:])
        except orjson.JSONDecodeError:
            continue


def new_sse_events(raw: bytes) -> Iterable[tuple[bytes, Any]]:
    for name, data in decode_sse(raw):
        try:
            yield name, orjson.loads(data)
        except orjson.JSONDecodeError:
            continue


def watch(cls: Callable[[StreamMeter], Any], chunks: list[bytes]) -> Callable[[], object]:
    def run() -> object:
        watcher = cls(StreamMeter())
        for chunk in chunks:
            watcher.feed(chunk)
        assert watcher.finished and watcher.delta_events == 194
        return watcher.meter.result()
    return run


def timed_us(fn: Callable[[], object], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - started) / rounds * 1e6


def compare(old: Callable[[], object], new: Callable[[], object], rounds: int, repeats: int) -> tuple[float, float]:
    """Best µs per call of each, old and new runs interleaved so that a noisy neighbour hits both alike."""
    best_old = best_new = float("inf")
    for _ in range(repeats):
        best_old = min(best_old, timed_us(old, rounds))
        best_new = min(best_new, timed_us(new, rounds))
    return best_old, best_new


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    events = stream_events()
    raw = b"".join(events)
    coalesced = [raw[i:i + 4096] for i in range(0, len(raw), 4096)]
    old_events = list(old_sse_events(raw))
    assert old_events == list(new_sse_events(raw)) and len(old_events) == 200
    cases = [
        ("watcher, one event per chunk", watch(OldSseWatcher, events), watch(SseWatcher, events)),
        ("watcher, 4 KiB chunks", watch(OldSseWatcher, coalesced), watch(SseWatcher, coalesced)),
        ("capture, whole stream + JSON", lambda: list(old_sse_events(raw)), lambda: list(new_sse_events(raw))),
    ]
    print(f"stream: {len(events)} events, {len(raw)} bytes; best of {args.repeats} x {args.rounds} rounds")
    print(f"{'case':34} {'old µs':>9} {'new µs':>9} {'new/old':>8}")
    for name, old, new in cases:
        old_us, new_us = compare(old, new, args.rounds, args.repeats)
        print(f"{name:34} {old_us:9.1f} {new_us:9.1f} {new_us / old_us:8.2f}")


if __name__ == "__main__":
    main()
