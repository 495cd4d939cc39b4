"""The access log (steward/access_log.py): one line per request, with the ids a person needs and no secret."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import httpx
import pytest

from steward.access_log import public_path
from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import start_gateway

BODY = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "a secret prompt"}]}


def _database(template: Path, tmp_path: Path) -> str:
    shutil.copyfile(template, tmp_path / "steward.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "steward.access"]


def test_one_line_per_request_with_ids_and_no_secret(sqlite_template: Path, simulator: SimulatorServer,
                                                     tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="steward.access")  # the gateway installs the log when INFO is on
    database = _database(sqlite_template, tmp_path)
    with start_gateway(database, simulator.url, tmp_path / "home", UPSTREAM_KEY) as gw:
        key, admin = gw.keys["eng"], gw.admin_key
        with httpx.Client(base_url=gw.url, timeout=30) as http:
            ok = http.post("/v1/messages?beta=true", json=BODY,
                           headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
            refused = http.post("/v1/messages", json=BODY, headers={"x-api-key": key + "x",
                                                                     "anthropic-version": "2023-06-01"})
            listed = http.get("/v1/organizations/workspaces?limit=5",
                              headers={"x-api-key": admin, "anthropic-version": "2023-06-01"})
            http.get("/console/link/tok-9f8e7d6c5b4a-sign-in-secret")
    assert ok.status_code == 200 and refused.status_code == 401 and listed.status_code == 200
    lines = _lines(caplog)
    assert len(lines) == 4, lines
    first, second, third, fourth = lines
    assert first.startswith("POST /v1/messages 200 ")
    assert f"request_id={ok.headers['request-id']}" in first
    assert f"workspace={gw.workspace_ids['eng']} key={gw.key_ids['eng']}" in first
    assert second.startswith("POST /v1/messages 401 ") and f"request_id={refused.headers['request-id']}" in second
    assert second.endswith("workspace=- key=-")  # a key that does not authenticate names nothing
    assert third.startswith("GET /v1/organizations/workspaces 200 ")
    assert f"request_id={listed.headers['request-id']}" in third
    assert fourth.startswith("GET /console/link/[redacted] ")
    everything = "\n".join(lines)
    for secret in (key, key[-12:], admin, admin[-12:], "sign-in-secret", "beta=true", "limit=5", "a secret prompt",
                   UPSTREAM_KEY, "x-api-key", "127.0.0.1"):
        assert secret not in everything


def test_off_when_the_setting_says_so(sqlite_template: Path, simulator: SimulatorServer, tmp_path: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="steward.access")
    database = _database(sqlite_template, tmp_path)
    with start_gateway(database, simulator.url, tmp_path / "home", UPSTREAM_KEY, access_log=False) as gw:
        gw.client().messages.create(**BODY)  # type: ignore[arg-type]
    assert _lines(caplog) == []


def test_tokens_in_console_paths_are_redacted() -> None:
    assert public_path("/console/invite/abc123") == "/console/invite/[redacted]"
    assert public_path("/console/link/abc/def") == "/console/link/[redacted]"
    assert public_path("/console/usage") == "/console/usage"
    assert public_path("/v1/messages") == "/v1/messages"


def test_a_key_pasted_into_a_path_is_redacted() -> None:
    secret = "sk-stw-api01-" + "a" * 40
    assert public_path(f"/v1/admin/keys/{secret}") == "/v1/admin/keys/[redacted]"
    rotate = f"/v1/organizations/api_keys/{secret}/rotate"
    assert public_path(rotate) == "/v1/organizations/api_keys/[redacted]/rotate"
    assert public_path("/v1/admin/keys/apikey_123") == "/v1/admin/keys/apikey_123"
