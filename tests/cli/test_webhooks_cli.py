"""``steward webhooks ...`` as real processes on a fresh SQLite home, delivering to a real local HTTP receiver.

The receiver checks each POST's signature with the secret the CLI printed once, computed here from the
documented scheme (HMAC-SHA256 of ``"{t}.{body}"``), not with Steward's own signing function.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import run_steward


@dataclass(slots=True)
class Receiver:
    url: str
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            found.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/steward"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


def steward(home: Path, *args: str, allow_private: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEWARD_HOME": str(home), "COLUMNS": "200",
           "STEWARD_WEBHOOK_ALLOW_PRIVATE": "true" if allow_private else "false"}
    return run_steward(*args, env=env)


def ok(home: Path, *args: str) -> str:
    result = steward(home, *args)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in headers["steward-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_webhooks_are_created_listed_delivered_changed_and_deleted(tmp_path: Path, receiver: Receiver) -> None:
    ok(tmp_path, "init", "--name", "Acme")
    created = ok(tmp_path, "webhooks", "create", "--url", receiver.url, "--events", "admin.*, spend.alert")
    lines = created.splitlines()
    assert lines[0].startswith("Created webhook whk_") and receiver.url in lines[0]
    assert "events: admin.*, spend.alert" in lines[0]
    assert "Signing secret (shown once" in lines[1]
    secret = lines[2]
    assert secret.startswith("whsec_")
    hook_id = lines[0].split()[2]

    listing = ok(tmp_path, "webhooks", "list")
    assert hook_id in listing and receiver.url in listing and secret not in listing
    shown = json.loads(ok(tmp_path, "webhooks", "get", hook_id, "--json"))
    assert shown["url"] == receiver.url and shown["active"] is True and "secret" not in shown
    assert secret not in ok(tmp_path, "webhooks", "get", hook_id)

    ok(tmp_path, "workspaces", "create", "eng")  # an admin.* event to deliver
    assert "delivery attempt(s)" in ok(tmp_path, "webhooks", "deliver")
    events = sorted(json.loads(body)["type"] for _, body in receiver.posts)
    assert events == ["admin.webhooks.create", "admin.workspaces.create"]
    assert all(verified(secret, headers, body) for headers, body in receiver.posts)
    assert all(headers["steward-webhook-id"] == hook_id for headers, _ in receiver.posts)
    deliveries = json.loads(ok(tmp_path, "webhooks", "deliveries", hook_id, "--json"))
    assert [d["status"] for d in deliveries["data"]] == ["delivered", "delivered"]
    assert all(d["attempts"][0]["status_code"] == 204 for d in deliveries["data"])
    table = ok(tmp_path, "webhooks", "deliveries", hook_id, "--status", "delivered")
    assert f"Deliveries to {receiver.url}" in table and "admin.workspaces.create" in table
    assert json.loads(ok(tmp_path, "webhooks", "deliver", "--json")) == {"attempts": 0}  # nothing sent twice

    changed = ok(tmp_path, "webhooks", "update", hook_id, "--inactive", "--events", "spend.alert")
    assert "(inactive; events: spend.alert)" in changed
    ok(tmp_path, "workspaces", "create", "ops")
    ok(tmp_path, "webhooks", "deliver")
    assert len(receiver.posts) == 2  # switched off: nothing more
    assert "(active; events: spend.alert)" in ok(tmp_path, "webhooks", "update", hook_id, "--active")

    assert f"Deleted webhook {hook_id} for {receiver.url}" in ok(tmp_path, "webhooks", "delete", hook_id)
    gone = steward(tmp_path, "webhooks", "get", hook_id)
    assert gone.returncode == 1 and f"webhook: {hook_id} not found" in gone.stderr


def test_webhook_refusals_exit_1_with_the_service_message(tmp_path: Path) -> None:
    ok(tmp_path, "init", "--name", "Acme")
    inward = steward(tmp_path, "webhooks", "create", "--url", "http://127.0.0.1:9/x", "--events", "admin.*",
                     allow_private=False)
    assert inward.returncode == 1 and "STEWARD_WEBHOOK_ALLOW_PRIVATE" in inward.stderr
    unknown = steward(tmp_path, "webhooks", "create", "--url", "https://hooks.example.com/x", "--events", "oops")
    assert unknown.returncode == 1 and "events:" in unknown.stderr
    missing = steward(tmp_path, "webhooks", "deliveries", "whk_missing")
    assert missing.returncode == 1 and "webhook: whk_missing not found" in missing.stderr
    assert ok(tmp_path, "webhooks", "list").count("whk_") == 0
