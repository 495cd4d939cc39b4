"""The truth about lag: /readyz fails while no shipper runs or records wait too long, and recovers; /metrics shows the
journal's backlog, the oldest unshipped record's age, quarantined lines and ship errors."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, child, start_gateway

BODY: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def readyz(gw: Gateway) -> tuple[int, dict[str, Any]]:
    status, body = get(f"{gw.url}/readyz")
    return status, orjson.loads(body)


def wait_ready(gw: Gateway, want: int, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, doc = readyz(gw)
        if status == want:
            return doc
        assert time.monotonic() < deadline, doc
        time.sleep(0.2)


def metric(text: str, name: str, **labels: str) -> float:
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{name}{{{re.escape(selector)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name} {labels} not in /metrics"
    return float(found.group(1))


def test_readyz_fails_without_a_shipper_and_with_lag_and_recovers(database_url: str, simulator: SimulatorServer,
                                                                  tmp_path: Path) -> None:
    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY, journal_ship_inline=False,
                       journal_max_lag=1.0, journal_shipper_timeout=2.0) as gw:
        assert get(f"{gw.url}/healthz")[0] == 200  # liveness is not readiness
        doc = wait_ready(gw, 503)
        assert doc["status"] == "unavailable" and "no shipper" in doc["checks"]["shipper"]
        assert doc["checks"]["database"] == "ok" and doc["checks"]["journal"] == "ok"
        with gw.client() as client:
            request_id = client.messages.with_raw_response.create(**BODY).headers["request-id"]
        time.sleep(1.5)
        doc = wait_ready(gw, 503)
        assert "oldest unshipped record" in doc["checks"]["ship_lag"]
        text = get(f"{gw.url}/metrics")[1].decode()
        assert metric(text, "steward_journal_backlog_bytes", slot="slot-000") > 0
        assert metric(text, "steward_journal_backlog_records", slot="slot-000") >= 1
        assert metric(text, "steward_journal_oldest_unshipped_seconds") > 1.0

        env = {**os.environ, "STEWARD_DATABASE_URL": database_url,
               "STEWARD_JOURNAL_DIR": str(gw.settings.resolved_journal_dir()), "STEWARD_LOG_LEVEL": "warning",
               "STEWARD_JOURNAL_SHIP_INTERVAL": "0.05"}
        with child([sys.executable, "-m", "steward", "ship"], env=env) as shipper:
            assert wait_ready(gw, 200)["checks"]["ship_lag"] == "ok"
            assert gw.wait_usage([request_id])
            text = get(f"{gw.url}/metrics")[1].decode()
            assert metric(text, "steward_journal_oldest_unshipped_seconds") == 0.0
            os.kill(shipper.pid, signal.SIGKILL)  # the process we started, by its id
            shipper.wait(timeout=10)
            doc = wait_ready(gw, 503)
            assert "no report from the shipper" in doc["checks"]["shipper"]


def test_metrics_count_quarantined_lines_and_ship_errors(database_url: str, simulator: SimulatorServer,
                                                         tmp_path: Path) -> None:
    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY) as gw:
        assert wait_ready(gw, 200)["checks"] == {"database": "ok", "journal": "ok", "snapshot": "ok",
                                                 "shipper": "ok", "ship_lag": "ok"}
        segment = sorted((gw.settings.resolved_journal_dir() / "slot-000").glob("*.jsonl"))[-1]
        with segment.open("ab") as fh:
            fh.write(b'{"usage": broken}\n')
        with gw.client() as client:
            request_id = client.messages.with_raw_response.create(**BODY).headers["request-id"]
        assert gw.wait_usage([request_id])  # the line after the broken one ships
        deadline = time.monotonic() + 10
        while True:
            text = get(f"{gw.url}/metrics")[1].decode()
            if 'steward_journal_quarantined_lines{slot="slot-000"} 1.0' in text and \
                    'steward_journal_ship_errors_total{kind="parse"} 1.0' in text:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        assert readyz(gw)[0] == 200  # a quarantined line is counted, not a reason to stop serving
