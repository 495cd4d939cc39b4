"""Prometheus metrics, served at ``GET /metrics`` (with several workers, summed over all of them: ``render``).

Names are ``steward_*``. The hot path only increments counters (a lock-free-enough few hundred ns); nothing
here does I/O. The journal's numbers (backlog, lag, quarantine, the shipper's errors) are measured by
``dataplane/health.py`` from the journal directory and the shipper's status file (the shipper is usually another
process) and exposed here through ``journal_registry``, one registry per gateway.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when it is imported

REQUESTS = Counter("steward_requests", "Data-plane requests answered, by endpoint and status.",
                   ["endpoint", "status"], registry=REGISTRY)
REFUSALS = Counter("steward_refusals", "Requests Steward refused, by error type.", ["error_type"],
                   registry=REGISTRY)
STORE_UNAVAILABLE = Counter("steward_store_unavailable",
                            "Operations that found Redis unavailable (the fail policy applied), by store.",
                            ["store", "operation"], registry=REGISTRY)
JOURNAL_FAILURES = Counter("steward_journal_write_failures", "Journal writes that failed (records lost).",
                           registry=REGISTRY)
BATCH_RESULTS_UNMETERED = Counter("steward_batch_results_unmetered",
                                  "Message Batch results that could not be metered or priced, by reason (bad_json, "
                                  "no_usage, unpriced); each is logged with its batch id and custom_id.",
                                  ["reason"], registry=REGISTRY)
CONFIG_APPLY_SECONDS = Histogram("steward_config_apply_seconds",
                                 "Time to apply one round of config changes from the change log (the event loop "
                                 "yields between pages of keys; this is the whole round).",
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0),
                                 registry=REGISTRY)
CONFIG_FULL_LOADS = Counter("steward_config_full_loads",
                            "Times this process loaded every key: at start-up, or when the change log no longer "
                            "reached back to its config version.", registry=REGISTRY)
UNAUTHENTICATED = Counter("steward_unauthenticated_refusals",
                          "Data-plane requests refused without a valid key, by reason (missing, admin_key, malformed, "
                          "unknown, inactive, expired, archived_workspace) and whether they were audited one by one "
                          "(audited) or only counted into a per-address summary event (sampled).",
                          ["reason", "outcome"], registry=REGISTRY)
BATCH_METER_ERRORS = Counter("steward_batch_meter_errors",
                             "Batches whose metering failed in a round (retried next round).", registry=REGISTRY)
BATCHES_UNRECORDED = Counter("steward_batches_unrecorded",
                             "Batches the upstream created whose database row could not be written at once "
                             "(kept in memory and retried by the metering worker).", registry=REGISTRY)
DOOR_REFUSALS = Counter("steward_door_refusals",
                        "Connections and requests refused before any handler ran (serving_guard.py and the body "
                        "readers), by reason: header_timeout, headers_too_large, body_timeout, too_many_connections, "
                        "unparsable.",
                        ["reason"], registry=REGISTRY)




@dataclass(slots=True, frozen=True)
class JournalNumbers:
    """One reading of the journal and its shipper."""

    backlog_bytes: Mapping[str, int] = field(default_factory=dict)      # slot -> unshipped bytes
    backlog_records: Mapping[str, int] = field(default_factory=dict)    # slot -> estimated unshipped records
    oldest_age: float = 0.0                                             # seconds; 0 when nothing waits
    quarantined: Mapping[str, int] = field(default_factory=dict)        # slot -> lines kept in quarantine
    ship_errors: Mapping[str, int] = field(default_factory=dict)        # kind -> count (the shipper's process)
    shipper_heartbeat_age: float | None = None                          # None: no shipper has reported


class _JournalCollector(Collector):
    def __init__(self, read: Callable[[], JournalNumbers]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        numbers = self._read()
        by_slot = (("steward_journal_backlog_bytes", "Journal bytes not shipped to the database yet, by slot.",
                    numbers.backlog_bytes),
                   ("steward_journal_backlog_records", "Journal records not shipped yet, by slot (estimated from "
                    "the mean shipped line size).", numbers.backlog_records),
                   ("steward_journal_quarantined_lines", "Journal lines kept in quarantine (unparsable, torn, or "
                    "refused by the database), by slot.", numbers.quarantined))
        for name, text, values in by_slot:
            gauge = GaugeMetricFamily(name, text, labels=["slot"])
            for slot, value in sorted(values.items()):
                gauge.add_metric([slot], value)
            yield gauge
        yield GaugeMetricFamily("steward_journal_oldest_unshipped_seconds",
                                "Age of the oldest journal record not shipped yet (0 when nothing waits).",
                                value=numbers.oldest_age)
        errors = CounterMetricFamily("steward_journal_ship_errors",
                                     "Shipper errors by kind (database, parse, torn, data, internal), counted by the "
                                     "running shipper process since it started.", labels=["kind"])
        for kind, count in sorted(numbers.ship_errors.items()):
            errors.add_metric([kind], count)
        yield errors
        yield GaugeMetricFamily("steward_journal_shipper_heartbeat_age_seconds",
                                "Seconds since the shipper last reported (-1: it never did).",
                                value=-1.0 if numbers.shipper_heartbeat_age is None else numbers.shipper_heartbeat_age)


@dataclass(slots=True, frozen=True)
class ConfigNumbers:
    lag_seconds: float  # since this process last confirmed that its config is the database's current one
    version: int


class _ConfigCollector(Collector):
    def __init__(self, read: Callable[[], ConfigNumbers]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        numbers = self._read()
        yield GaugeMetricFamily("steward_config_lag_seconds",
                                "Seconds since this process last confirmed its config is current: a change (a "
                                "revoked key) committed earlier than that is in force here, so this plus the poll "
                                "interval bounds how long a change takes to apply.", value=numbers.lag_seconds)
        yield GaugeMetricFamily("steward_config_version", "The config version this process serves.",
                                value=numbers.version)


def journal_registry(read: Callable[[], JournalNumbers],
                     config: Callable[[], ConfigNumbers] | None = None) -> CollectorRegistry:
    """A registry exposing one gateway's journal (and config) numbers, read at scrape time."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_JournalCollector(read))
    if config is not None:
        registry.register(_ConfigCollector(config))
    return registry


def render(*extra: CollectorRegistry) -> bytes:
    """The text exposition format (the process's metrics, then any ``extra`` registry's). Under ``steward serve
    --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set before the workers start) every worker writes its counters to
    that directory and whichever worker answers sums them all, so a scrape sees the whole server, not one worker."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry) + b"".join(generate_latest(r) for r in extra)
    return generate_latest(REGISTRY) + b"".join(generate_latest(registry) for registry in extra)
