"""OTLP/HTTP ingest of Claude Code telemetry: decode (protobuf or JSON, gzip), map to day counters, store.

Only Claude Code's own metrics (``claude_code.*``) and events are kept; other points are accepted and dropped.
A point of a known metric that cannot be counted (not a monotonic sum, negative, not a number) is rejected and
reported in ``partial_success``. Delta points are added as they are; cumulative points add their difference
from the series' last value (``storage.repositories.claude_code.difference``). Decoding runs in a thread: the
event loop never parses a large export itself. Must not know about HTTP beyond the two content types.
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, NumberDataPoint

from steward.errors import InvalidRequestError, RequestTooLargeError
from steward.governance.money import PICO_PER_USD, to_picousd
from steward.storage.repositories.claude_code import ClaudeCodeRepository, Counter, Cumulative, Delta

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PROJECT_ATTRIBUTES = ("project", "project.name", "repository", "repository.name", "vcs.repository.name")
_PICO = Decimal(PICO_PER_USD)  # the stored unit of cost counters
_TOKEN_TYPES = {"input": "tokens.input", "output": "tokens.output", "cacheRead": "tokens.cache_read",
                "cacheCreation": "tokens.cache_creation"}
_EVENT_TOKENS = {"input_tokens": "tokens.input", "output_tokens": "tokens.output",
                 "cache_read_tokens": "tokens.cache_read", "cache_creation_tokens": "tokens.cache_creation"}


@dataclass(slots=True, frozen=True)
class Exporter:
    """Who sent the export: the workspace key that authenticated it."""

    org_id: str
    workspace_id: str
    key_name: str


@dataclass(slots=True)
class Mapped:
    """What one export adds, and how many of its points or records were refused."""

    deltas: list[Delta] = field(default_factory=list)
    cumulative: list[Cumulative] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 3 and reason not in self.reasons:
            self.reasons.append(reason)


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind in ("string_value", "int_value", "double_value", "bool_value") else None


def _attrs(*groups: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in groups:
        for kv in group:
            assert isinstance(kv, KeyValue)
            out[kv.key] = _value(kv.value)
    return out


def _text(attrs: dict[str, Any], *names: str) -> str | None:
    """The first of ``names`` that is set, as text without NUL (which PostgreSQL refuses in text)."""
    for name in names:
        value = attrs.get(name)
        if value not in (None, ""):
            return str(value).replace("\x00", "") or None
    return None


# The most one point or event may add to a day counter (tokens, pico-USD: $10,000, milliseconds), so that no
# sum of them can overflow the database's 64-bit integers; a larger value is refused, not stored.
MAX_AMOUNT = 10**16
INT64_MAX = 2**63 - 1


def _day(time_ns: int) -> date | None:
    """The UTC day of a timestamp (now when it is unset); None when it is not a time (before 1970, past 2262)."""
    if not time_ns:
        return datetime.now(UTC).date()
    if not 0 < time_ns <= INT64_MAX:
        return None
    return datetime.fromtimestamp(time_ns / 1e9, UTC).date()


def _amount(value: Decimal) -> int | None:
    """A counter increment: a finite, non-negative number up to ``MAX_AMOUNT``, as an integer; None otherwise."""
    if not value.is_finite() or not 0 <= value <= MAX_AMOUNT:
        return None
    return int(value.to_integral_value())


def counter(exporter: Exporter, attrs: dict[str, Any], day: date, source: str, metric: str,
            dimension: str = "") -> Counter:
    """The day counter an attributed amount belongs to (docs/claude-code.md: actor, project, session)."""
    email = _text(attrs, "user.email")
    return Counter(day=day, actor_type="user_actor" if email else "api_actor",
                   actor=(email or exporter.key_name)[:320],
                   project=(_text(attrs, *PROJECT_ATTRIBUTES) or exporter.workspace_id)[:200],
                   session_id=(_text(attrs, "session.id") or "")[:128], source=source, metric=metric,
                   dimension=dimension[:100], workspace_id=exporter.workspace_id,
                   terminal_type=(_text(attrs, "terminal.type") or "")[:64] or None)


def _metric_target(name: str, attrs: dict[str, Any]) -> tuple[str, str, Decimal] | None:
    """(counter, dimension, scale to the stored unit) for a Claude Code metric point, None to drop it."""
    model = _text(attrs, "model") or "unknown"
    match name:
        case "claude_code.session.count":
            return "sessions", "", Decimal(1)
        case "claude_code.lines_of_code.count":
            kind = _text(attrs, "type")
            return (f"lines_{kind}", "", Decimal(1)) if kind in ("added", "removed") else None
        case "claude_code.pull_request.count":
            return "pull_requests", "", Decimal(1)
        case "claude_code.commit.count":
            return "commits", "", Decimal(1)
        case "claude_code.cost.usage":
            return "cost_picousd", model, _PICO
        case "claude_code.token.usage":
            target = _TOKEN_TYPES.get(_text(attrs, "type") or "")
            return (target, model, Decimal(1)) if target else None
        case "claude_code.code_edit_tool.decision":
            decision = {"accept": "accepted", "reject": "rejected"}.get(_text(attrs, "decision") or "")
            tool = _text(attrs, "tool_name", "tool") or "unknown"
            return (f"tool.{decision}", tool, Decimal(1)) if decision else None
        case "claude_code.active_time.total":
            return "active_ms", _text(attrs, "type") or "", Decimal(1000)
    return None


def _number(point: NumberDataPoint) -> Decimal:
    if point.WhichOneof("value") == "as_int":
        return Decimal(point.as_int)
    return Decimal(repr(point.as_double))


def _series(name: str, attrs: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps([name, sorted(attrs.items())], default=str)).hexdigest()


def map_metrics(request: ExportMetricsServiceRequest, exporter: Exporter) -> Mapped:
    """Claude Code metric points as day-counter deltas and cumulative points."""
    out = Mapped()
    for rm in request.resource_metrics:
        resource = _attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name.startswith("claude_code."):
                    _map_metric(metric, resource, exporter, out)
    return out


def _map_metric(metric: Any, resource: dict[str, Any], exporter: Exporter, out: Mapped) -> None:
    kind = metric.WhichOneof("data")
    if kind != "sum":
        points = getattr(metric, kind).data_points if kind else []
        for _ in points or [None]:
            out.reject(f"{metric.name}: expected a monotonic sum, got {kind or 'no data'}")
        return
    cumulative = metric.sum.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    for point in metric.sum.data_points:
        attrs = {**resource, **_attrs(point.attributes)}
        target = _metric_target(metric.name, attrs)
        if target is None:
            continue
        value = _number(point) * target[2]
        amount, day = _amount(value), _day(point.time_unix_nano)
        if amount is None or day is None or point.start_time_unix_nano > INT64_MAX:
            out.reject(f"{metric.name}: a counter point needs a value from 0 to {MAX_AMOUNT} (in its stored unit) "
                       f"and a time, not {value:.6g}")
            continue
        where = counter(exporter, attrs, day, "metric", target[0], target[1])
        if cumulative:
            out.cumulative.append(Cumulative(where, _series(metric.name, attrs), point.start_time_unix_nano, amount))
        else:
            out.deltas.append(Delta(where, amount))


def _int(value: Any) -> int | None:
    try:
        return _amount(Decimal(str(value)))
    except InvalidOperation:
        return None


def map_logs(request: ExportLogsServiceRequest, exporter: Exporter) -> Mapped:
    """Claude Code events as day-counter deltas (source ``event``)."""
    out = Mapped()
    for rl in request.resource_logs:
        resource = _attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            for record in sl.log_records:
                attrs = {**resource, **_attrs(record.attributes)}
                name = _text(attrs, "event.name") or _value(record.body) or ""
                if isinstance(name, str) and (name.startswith("claude_code.") or "event.name" in attrs):
                    _map_event(name.removeprefix("claude_code."), attrs,
                               record.time_unix_nano or record.observed_time_unix_nano, exporter, out)
    return out


def _map_event(name: str, attrs: dict[str, Any], time_ns: int, exporter: Exporter, out: Mapped) -> None:
    day = _day(time_ns)
    if day is None:
        out.reject(f"claude_code.{name}: the event's time is not a time")
        return

    def add(metric: str, value: int, dimension: str = "") -> None:
        out.deltas.append(Delta(counter(exporter, attrs, day, "event", metric, dimension), value))

    if name == "api_request":
        model = _text(attrs, "model") or "unknown"
        amounts = {target: _int(attrs.get(source, 0)) for source, target in _EVENT_TOKENS.items()}
        micros = _int(attrs["cost_usd_micros"]) if "cost_usd_micros" in attrs else None
        try:
            usd = Decimal(str(attrs.get("cost_usd", 0)))
        except InvalidOperation:
            usd = Decimal("NaN")
        cost = micros * 10**6 if micros is not None else \
            to_picousd(usd) if usd.is_finite() and 0 <= usd * PICO_PER_USD <= MAX_AMOUNT else None
        if any(v is None for v in amounts.values()) or cost is None or cost > MAX_AMOUNT:
            out.reject("claude_code.api_request: token counts and cost must be numbers from 0 to "
                       f"{MAX_AMOUNT} (cost in pico-USD)")
            return
        add("requests", 1, model)
        add("cost_picousd", cost, model)
        for target, value in amounts.items():
            add(target, value or 0, model)
    elif name == "tool_decision":
        decision = {"accept": "accepted", "reject": "rejected"}.get(_text(attrs, "decision") or "")
        if decision:
            add(f"tool.{decision}", 1, _text(attrs, "tool_name", "tool") or "unknown")
    elif name == "user_prompt":
        add("prompts", 1)
    elif name == "tool_result":
        add("tool_results", 1, _text(attrs, "tool_name") or "unknown")
    else:
        add("events", 1, name)


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The request body, gunzipped when ``Content-Encoding: gzip`` (refusing more than ``limit`` bytes)."""
    if not encoding or encoding.strip().lower() == "identity":
        return body
    if encoding.strip().lower() != "gzip":
        raise InvalidRequestError(f"Unsupported Content-Encoding {encoding!r}; use gzip or none.")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidRequestError(f"The gzip body could not be decompressed: {exc}") from exc
    if len(out) > limit:
        raise RequestTooLargeError(f"The decompressed body exceeds the limit of {limit} bytes.")
    return out


def _strip_ids(payload: Any) -> Any:
    # OTLP/JSON writes trace and span ids as hex, the protobuf JSON mapping expects base64; they are not used.
    for rl in payload.get("resourceLogs", []) if isinstance(payload, dict) else []:
        for sl in rl.get("scopeLogs", []) if isinstance(rl, dict) else []:
            for record in sl.get("logRecords", []) if isinstance(sl, dict) else []:
                if isinstance(record, dict):
                    for key in ("traceId", "spanId", "trace_id", "span_id"):
                        record.pop(key, None)
    return payload


def decode(message: Message, body: bytes, content_type: str) -> None:
    """Fill ``message`` from a protobuf or OTLP/JSON body; 400 ``invalid_request_error`` when malformed."""
    try:
        if content_type == PROTOBUF:
            message.ParseFromString(body)
        else:
            json_format.ParseDict(_strip_ids(orjson.loads(body or b"{}")), message, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, orjson.JSONDecodeError, RecursionError, TypeError) as exc:
        raise InvalidRequestError(f"Malformed OTLP {content_type} body: {str(exc)[:200]}") from exc


def media_type(header: str | None) -> str:
    """The request's OTLP encoding from its Content-Type (415-like errors are 400 ``invalid_request_error``)."""
    value = (header or "").split(";")[0].strip().lower()
    if value in (PROTOBUF, JSON):
        return value
    raise InvalidRequestError(f"Content-Type must be {PROTOBUF} or {JSON}, got {header!r}.")


def encode(response: Message, content_type: str) -> bytes:
    """The response in the request's encoding (an empty message when everything was accepted)."""
    if content_type == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


class OtlpIngester:
    """Decodes an export off the event loop, maps it, and stores it in one transaction."""

    def __init__(self, repo: ClaudeCodeRepository, max_body: int) -> None:
        self._repo = repo
        self._max_body = max_body
        self._lock = asyncio.Lock()  # one ingest at a time per process: cumulative state is read-modify-write

    async def metrics(self, exporter: Exporter, body: bytes, content_type: str, encoding: str | None) -> bytes:
        mapped = await asyncio.to_thread(self._map, ExportMetricsServiceRequest(), map_metrics, exporter, body,
                                         content_type, encoding)
        await self._store(exporter, mapped)
        response = ExportMetricsServiceResponse()
        if mapped.rejected:
            response.partial_success.rejected_data_points = mapped.rejected
            response.partial_success.error_message = "; ".join(mapped.reasons)
        return encode(response, content_type)

    async def logs(self, exporter: Exporter, body: bytes, content_type: str, encoding: str | None) -> bytes:
        mapped = await asyncio.to_thread(self._map, ExportLogsServiceRequest(), map_logs, exporter, body,
                                         content_type, encoding)
        await self._store(exporter, mapped)
        response = ExportLogsServiceResponse()
        if mapped.rejected:
            response.partial_success.rejected_log_records = mapped.rejected
            response.partial_success.error_message = "; ".join(mapped.reasons)
        return encode(response, content_type)

    def _map(self, message: Any, mapper: Any, exporter: Exporter, body: bytes, content_type: str,
             encoding: str | None) -> Mapped:
        decode(message, inflate(body, encoding, self._max_body), content_type)
        result: Mapped = mapper(message, exporter)
        return result

    async def _store(self, exporter: Exporter, mapped: Mapped) -> None:
        if mapped.deltas or mapped.cumulative:
            async with self._lock:
                await self._repo.ingest(exporter.org_id, mapped.deltas, mapped.cumulative)
