"""Shared fixtures: one simulator per test module over a real socket, and SDK clients for it."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from steward.simulator import SimulatorConfig, SimulatorServer


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(batch_processing_seconds=0.3)) as running:
        yield running


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk

