"""A built-in Anthropic-compatible upstream for the demo, the tests and the benchmarks.

It behaves like api.anthropic.com (Messages, streaming, count_tokens, prompt caching, batches,
models, errors and rate-limit headers) with deterministic output and injectable faults. It is the
only simulated part of Steward and must never be used to answer real traffic.
"""

from __future__ import annotations

from steward.simulator.app import SimulatorApp, create_app
from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer, run

__all__ = ["SimulatorApp", "SimulatorConfig", "SimulatorServer", "create_app", "run"]
