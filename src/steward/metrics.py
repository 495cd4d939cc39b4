"""Prometheus metrics of one process, served at ``GET /metrics`` (each worker reports its own).

Names are ``steward_*``. The hot path only increments counters (a lock-free-enough few hundred ns); nothing
here does I/O.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("steward_requests", "Data-plane requests answered, by endpoint and status.",
                   ["endpoint", "status"], registry=REGISTRY)
REFUSALS = Counter("steward_refusals", "Requests Steward refused, by error type.", ["error_type"],
                   registry=REGISTRY)
STORE_UNAVAILABLE = Counter("steward_store_unavailable",
                            "Operations that found Redis unavailable (the fail policy applied), by store.",
                            ["store", "operation"], registry=REGISTRY)
JOURNAL_FAILURES = Counter("steward_journal_write_failures", "Journal writes that failed (records lost).",
                           registry=REGISTRY)


def render() -> bytes:
    """The text exposition format."""
    return generate_latest(REGISTRY)
