"""The one SSE decoder: the WHATWG event-stream rules under any chunking, bounded memory, and metering of
upstream streams that use the spec's freedoms (``data:`` without a space, CRLF or CR endings, comments)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steward.asgi import Receive, Scope, Send
from steward.compliance.content import assemble_stream
from steward.dataplane.sse import SseWatcher
from steward.dataplane.sse_decode import SseDecoder, decode_sse
from steward.governance.usage import StreamMeter
from steward.serving import BackgroundServer
from tests.conftest import UPSTREAM_KEY
from tests.support import start_gateway

ENDINGS = (b"\r\n", b"\n", b"\r")
# Field values: any text without CR or LF (those end a line), as UTF-8.
values = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=12)


class Writer:
    """Encodes lines with random endings, never writing CR then the LF of an empty line (that is one CRLF)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.out: list[bytes] = []
        self.last = b""

    def line(self, text: bytes) -> None:
        choices = [e for e in ENDINGS if not (text == b"" and self.last == b"\r" and e == b"\n")]
        self.last = self.draw(st.sampled_from(choices))
        self.out += [text, self.last]

    def field(self, name: bytes, value: bytes) -> None:
        if value == b"" and self.draw(st.booleans()):
            self.line(name)  # a field without a colon has an empty value
        elif value.startswith(b" ") or self.draw(st.booleans()):
            self.line(name + b": " + value)  # the one optional space; needed when the value starts with one
        else:
            self.line(name + b":" + value)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A random stream and the events a conforming decoder must yield from it."""
    writer = Writer(draw)
    expected = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(values).encode() if draw(st.booleans()) else None
        data = [draw(values).encode() for _ in range(draw(st.integers(0, 3)))]  # none: nothing is dispatched
        lines: list[tuple[bytes, bytes]] = [(b"data", d) for d in data]
        if name is not None:
            lines.insert(draw(st.integers(0, len(lines))), (b"event", name))
        for _ in range(draw(st.integers(0, 2))):
            extra = draw(st.sampled_from([(b"", b"comment"), (b"id", b"7"), (b"retry", b"10"), (b"x-other", b"y")]))
            lines.insert(draw(st.integers(0, len(lines))), extra)
        for field, value in lines:
            if field:
                writer.field(field, value)
            else:
                writer.line(b":" + draw(values).encode())
        for _ in range(draw(st.integers(1, 2))):  # the empty line that dispatches, sometimes one more
            writer.line(b"")
        if data:
            expected.append((name or b"message", b"\n".join(data)))
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return bom + b"".join(writer.out), expected


def split(draw: Callable[..., Any], raw: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


def feed_all(decoder: SseDecoder, chunks: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [event for chunk in chunks for event in decoder.feed(chunk)]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.data())
def test_any_split_yields_exactly_the_events(stream: tuple[bytes, list[tuple[bytes, bytes]]], data: st.DataObject,
                                              ) -> None:
    raw, expected = stream
    assert decode_sse(raw) == expected
    assert feed_all(SseDecoder(), split(data.draw, raw)) == expected


@settings(max_examples=200)
@given(streams(), st.data(), st.integers(0, 24))
def test_the_size_cap_drops_the_same_events_under_any_split(stream: tuple[bytes, list[tuple[bytes, bytes]]],
                                                            data: st.DataObject, cap: int) -> None:
    raw, _ = stream
    whole = SseDecoder(cap)
    events = whole.feed(raw)
    chunked = SseDecoder(cap)
    assert feed_all(chunked, split(data.draw, raw)) == events
    assert chunked.dropped == whole.dropped
    assert all(len(value) <= cap for _, value in events)


def test_edge_cases_of_the_spec() -> None:
    assert decode_sse(b"data\n\ndata:\n\ndata: \n\n") == [(b"message", b"")] * 3
    assert decode_sse(b"event:\ndata: x\n\n") == [(b"message", b"x")]  # an empty event name is "message"
    assert decode_sse(b"event: a\ndata: x") == []                      # unterminated: never dispatched
    assert decode_sse(b"event: a:b\ndata:  two spaces\n\n") == [(b"a:b", b" two spaces")]
    assert decode_sse(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []   # only one BOM is removed
    decoder = SseDecoder()
    assert decoder.feed(b"\xef") == decoder.feed(b"\xbb") == decoder.feed(b"\xbfdata: x\r") == []
    assert decoder.feed(b"\n\r") == [(b"message", b"x")]               # CR|LF across chunks is one ending


def test_an_oversized_event_is_dropped_in_bounded_memory() -> None:
    decoder = SseDecoder(max_event_bytes=1 << 20)
    block = b"x" * 65536
    tracemalloc.start()
    try:
        assert decoder.feed(b"event: big\ndata: ") == []
        for _ in range(256):  # 16 MiB of one event
            assert decoder.feed(block) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 << 20
    assert decoder.feed(b"\n\nevent: next\ndata: ok\n\n") == [(b"next", b"ok")]
    assert decoder.dropped == 1


# A stream in the simulator's shape, written as the spec allows and the simulator never does.
USAGE_START = {"input_tokens": 1200, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 300,
               "output_tokens": 1}
EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_01variant", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-6",
        "stop_reason": None, "stop_sequence": None, "usage": USAGE_START}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    *[("content_block_delta", {"type": "content_block_delta", "index": 0,
                               "delta": {"type": "text_delta", "text": f"word{i} "}}) for i in range(30)],
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": 87}}),
    ("message_stop", {"type": "message_stop"}),
]
CANONICAL = b"".join(b"event: " + n.encode() + b"\ndata: " + orjson.dumps(d) + b"\n\n" for n, d in EVENTS)


def variant(events: list[tuple[str, dict[str, Any]]] = EVENTS) -> bytes:
    """``data:`` without a space, CRLF endings, comments, and multi-line data for the larger events."""
    out = [b": upstream keep-alive\r\n\r\n"]
    for name, data in events:
        body = orjson.dumps(data)
        lines = body.split(b',"usage":', 1)  # JSON split at a comma, rejoined by the decoder with LF
        joined = b'\r\ndata:,"usage":'.join(lines) if len(lines) == 2 else body
        out.append(b"event:" + name.encode() + b"\r\n: comment\r\ndata:" + joined + b"\r\n\r\n")
    return b"".join(out)


@settings(max_examples=100)
@given(st.data())
def test_the_watcher_meters_a_variant_stream_like_the_canonical_one(data: st.DataObject) -> None:
    results = []
    for raw in (CANONICAL, variant()):
        watcher = SseWatcher(StreamMeter())
        for chunk in split(data.draw, raw):
            watcher.feed(chunk)
        assert watcher.finished
        results.append((watcher.meter.result(), watcher.delta_events, watcher.delta_bytes))
    assert results[0] == results[1]
    metered, deltas, delta_bytes = results[0]
    assert (metered.usage.input_tokens, metered.usage.output_tokens, metered.usage.cache_read) == (1200, 87, 300)
    # The cut-stream estimate counts delta events as relayed in the canonical framing.
    assert deltas == 30
    relayed = [e for e in CANONICAL.split(b"\n\n") if e.startswith(b"event: content_block_delta")]
    assert delta_bytes == sum(map(len, relayed))


def test_content_capture_assembles_a_variant_stream() -> None:
    assert assemble_stream([variant()[:77], variant()[77:]]) == assemble_stream([CANONICAL])
    message = assemble_stream([variant()])
    assert message["content"] == [{"type": "text", "text": "".join(f"word{i} " for i in range(30))}]
    assert message["usage"]["output_tokens"] == 87


class ReplayUpstream:
    """Stands in for Anthropic: answers every request with a fixed SSE body, sent in small odd-sized chunks."""

    def __init__(self, body: bytes, chunk: int = 29) -> None:
        self.body = body
        self.chunk = chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"request-id", b"req_upstream_variant")]})
        for at in range(0, len(self.body), self.chunk):
            await send({"type": "http.response.body", "body": self.body[at:at + self.chunk], "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_a_stream_with_data_colon_and_no_space_is_metered(database_url: str, tmp_path: Path) -> None:
    with BackgroundServer(ReplayUpstream(variant())) as upstream, \
            start_gateway(database_url, upstream.url, tmp_path / "home", UPSTREAM_KEY) as gw:
        with gw.client() as client, client.messages.stream(
                model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": "hi"}]) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
            request_id = stream.response.headers["request-id"]
        [row] = gw.wait_usage([request_id])
    assert text == "".join(f"word{i} " for i in range(30))  # the client got the stream unchanged
    assert isinstance(final, anthropic.types.Message) and final.usage.output_tokens == 87
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens) == (1200, 87, 300)
    assert row.complete and row.stop_reason == "end_turn" and row.model == "claude-sonnet-4-6"
    # $3 input, $15 output, $0.30 cache read per MTok = pico-USD per token
    assert row.cost_picousd == 1200 * 3_000_000 + 87 * 15_000_000 + 300 * 300_000
