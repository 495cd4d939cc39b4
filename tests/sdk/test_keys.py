"""``admin.keys`` against a real gateway: secrets that work on the data plane, rotation with and without grace,
revocation, the hygiene report, filters and pagination over every page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import anthropic
import pytest

import steward
from steward.controlplane.services import ControlPlane
from steward.sdk import APIKey, BadRequestError
from tests.support import Gateway


@pytest.fixture
def admin(gateway: Gateway) -> Iterator[steward.AdminClient]:
    with steward.AdminClient(base_url=gateway.url, api_key=gateway.admin_key) as client:
        yield client


def _works(gateway: Gateway, secret: str) -> bool:
    with anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0) as client:
        try:
            return client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                          messages=[{"role": "user", "content": "hi"}]).type == "message"
        except anthropic.AuthenticationError:
            return False


def _within(gateway: Gateway, secret: str, accepted: bool, seconds: float = 1.0) -> float:
    """Seconds until the data plane accepts (or refuses) ``secret``: it sees admin changes at its next snapshot."""
    started = time.monotonic()
    while _works(gateway, secret) != accepted:
        assert time.monotonic() - started < seconds, f"secret still {'refused' if accepted else 'accepted'}"
        time.sleep(0.02)
    return time.monotonic() - started


def _accepted_within(gateway: Gateway, secret: str) -> float:
    return _within(gateway, secret, accepted=True)


def _refused_within(gateway: Gateway, secret: str) -> float:
    return _within(gateway, secret, accepted=False)


def test_created_key_works_on_the_data_plane(gateway: Gateway, admin: steward.AdminClient) -> None:
    eng = gateway.workspace_ids["eng"]
    key = admin.keys.create(workspace_id=eng, name="ml-prod-inference", expires_in_days=30, scopes=["claude-haiku-*"])
    assert key.secret and key.secret.startswith("sk-stw-api01-")
    assert key.status == "active" and key.workspace_id == eng and key.expires_at is not None
    assert key.scopes is not None and key.scopes.models == ["claude-haiku-*"]
    assert key.created_by is not None and key.created_by.id == gateway.admin_user_id
    assert key.secret not in repr(key)
    _accepted_within(gateway, key.secret)

    fetched = admin.keys.get(key.id)
    assert fetched.secret is None and fetched.partial_key_hint == key.partial_key_hint

    renamed = admin.keys.update(key.id, name="ml-prod-chatbot")
    assert renamed.name == "ml-prod-chatbot" and admin.keys.get(key.id).name == "ml-prod-chatbot"
    assert admin.keys.update(key.id, status="inactive").status == "inactive"
    _refused_within(gateway, key.secret)
    assert admin.keys.update(key.id, status="active").status == "active"
    _accepted_within(gateway, key.secret)

    revoked = admin.keys.revoke(key.id)
    assert revoked.status == "archived"
    _refused_within(gateway, key.secret)
    with pytest.raises(BadRequestError) as refused:
        admin.keys.update(key.id, status="active")
    assert refused.value.status == 400 and refused.value.type == "invalid_request_error"


def test_rotation_keeps_the_old_secret_for_the_grace_period(gateway: Gateway, admin: steward.AdminClient) -> None:
    by_default = admin.keys.rotate(gateway.key_ids["eng"])  # the gateway's default grace: an hour
    assert by_default.secret is not None
    _accepted_within(gateway, by_default.secret)
    assert _works(gateway, gateway.keys["eng"])

    key = admin.keys.create(workspace_id=gateway.workspace_ids["eng"], name="ml-prod-rotating")
    assert key.secret is not None
    _accepted_within(gateway, key.secret)
    rotated = admin.keys.rotate(key.id, grace_period_seconds=600)
    assert rotated.id == key.id and rotated.secret and rotated.secret != key.secret
    assert rotated.rotated_at is not None and rotated.partial_key_hint != key.partial_key_hint
    _accepted_within(gateway, rotated.secret)  # so the gateway has the rotated key in its snapshot
    assert _works(gateway, key.secret), "the old secret must work within the grace period"

    again = admin.keys.rotate(key.id, grace_period_seconds=0)
    assert again.secret is not None
    _refused_within(gateway, rotated.secret)
    _accepted_within(gateway, again.secret)
    assert not _works(gateway, key.secret)


def test_filters_and_every_page(gateway: Gateway, admin: steward.AdminClient) -> None:
    eng, marketing = gateway.workspace_ids["eng"], gateway.workspace_ids["marketing"]
    made = [admin.keys.create(workspace_id=eng, name=f"ml-test-batch{i}") for i in range(3)]
    every = {k.id for k in admin.keys.list(limit=1000)}
    assert every == {k.id for k in made} | set(gateway.key_ids.values())

    first = admin.keys.list(limit=1)
    assert len(first.data) == 1 and first.has_more and first.first_id == first.last_id == first.data[0].id
    assert [k.id for k in first] == [k.id for k in admin.keys.list(limit=1000).data]  # newest first, 5 pages
    assert sum(1 for _ in first.iter_pages()) == len(every)
    last_page = list(first.iter_pages())[-1]
    assert not last_page.has_more and last_page.next_page() is None
    backwards = admin.keys.list(limit=2, before_id=last_page.data[0].id)
    assert {k.id for k in backwards} == every - {last_page.data[0].id}

    assert {k.id for k in admin.keys.list(workspace_id=marketing)} == {gateway.key_ids["marketing"]}
    assert {k.id for k in admin.keys.list(created_by=gateway.admin_user_id)} == {k.id for k in made}
    admin.keys.revoke(made[0].id)
    assert [k.id for k in admin.keys.list(status="archived")] == [made[0].id]
    assert made[0].id not in {k.id for k in admin.keys.list(status="active")}


def test_hygiene_report(gateway: Gateway, admin: steward.AdminClient) -> None:
    old_id = gateway.key_ids["marketing"]

    async def age(plane: ControlPlane) -> None:
        await plane.repo.update_key(old_id, {"created_at": datetime.now(UTC) - timedelta(days=120)})
    gateway.control(age)

    report = admin.keys.report()
    assert report.rotation_age_days == 90 and report.unused_days == 30
    assert [k.id for k in report.rotation_due] == [old_id] and [k.id for k in report.unused] == [old_id]
    assert all(isinstance(k, APIKey) and k.secret is None for k in report.rotation_due)
    assert admin.keys.report(rotation_age_days=200, unused_days=200).rotation_due == []
