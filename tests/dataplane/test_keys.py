"""Key lifecycle as the data plane sees it: status changes, expiry, archived workspaces, last use, hashing."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import anthropic
import pytest

from steward.controlplane.services import ControlPlane
from steward.errors import InvalidRequestError
from tests.support import Gateway

BODY = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def _refused_within(gateway: Gateway, workspace: str, seconds: float = 1.0) -> str:
    deadline = time.monotonic() + seconds
    with gateway.client(workspace) as client:
        while True:
            try:
                client.messages.create(**BODY)  # type: ignore[arg-type]
            except anthropic.AuthenticationError as exc:
                return str(exc.body["error"]["message"])  # type: ignore[index]
            assert time.monotonic() < deadline, "key still accepted"
            time.sleep(0.02)


def test_deactivate_and_reactivate(gateway: Gateway) -> None:
    key_id = gateway.key_ids["eng"]
    gateway.control(lambda p: p.set_key_status(key_id, "inactive"))
    assert "inactive" in _refused_within(gateway, "eng")
    gateway.control(lambda p: p.set_key_status(key_id, "active"))
    gateway.sync_config()  # reactivation is not a timed promise (revocation is: _refused_within)
    with gateway.client() as client:
        assert client.messages.create(**BODY).type == "message"  # type: ignore[arg-type]


def test_revoked_key_cannot_come_back(gateway: Gateway) -> None:
    key_id = gateway.key_ids["eng"]
    gateway.control(lambda p: p.set_key_status(key_id, "archived"))
    _refused_within(gateway, "eng")
    with pytest.raises(InvalidRequestError, match="archived key cannot be changed"):
        gateway.control(lambda p: p.set_key_status(key_id, "active"))


def test_expired_key_is_refused(gateway: Gateway) -> None:
    async def expire(plane: ControlPlane) -> None:
        await plane.repo.update_key(gateway.key_ids["eng"],
                                             {"expires_at": datetime.now(UTC) - timedelta(seconds=1)})
    gateway.control(expire)
    assert "expired" in _refused_within(gateway, "eng")


def test_archived_workspace_stops_its_keys(gateway: Gateway) -> None:
    gateway.control(lambda p: p.archive_workspace("marketing"))
    assert "archived" in _refused_within(gateway, "marketing")
    with gateway.client("eng") as client:
        assert client.messages.create(**BODY).type == "message"  # type: ignore[arg-type]


def test_keys_are_stored_hashed_and_last_use_is_tracked(gateway: Gateway) -> None:
    with gateway.client() as client:
        client.messages.create(**BODY)  # type: ignore[arg-type]
    secret = gateway.keys["eng"]
    deadline = time.monotonic() + 5
    while True:
        key = gateway.control(lambda p: p.repo.get_key(gateway.key_ids["eng"]))
        if key.last_used_at is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert key.last_used_at is not None
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(key.__dict__)
    assert key.partial_key_hint.startswith("sk-stw-api01-") and key.partial_key_hint.endswith(secret[-4:])
    assert len(key.partial_key_hint) < 25
