"""``admin.rate_limits``, ``admin.workspaces.rate_limits``, ``admin.keys.rate_limits``, ``admin.spend_limits`` and
``admin.spend_limits.increase_requests`` against a real gateway: limits set through the SDK are enforced on the
data plane (the official ``anthropic`` SDK sees the 429 or the 400), and an approved increase lifts a cap."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

import steward
from steward.sdk.errors import BadRequestError, ConflictError, NotFoundError
from steward.sdk.models import (
    AsyncPage,
    EffectiveSpendLimit,
    KeyRateLimitEntry,
    RateLimitEntry,
    SpendLimit,
    SpendLimitIncreaseRequest,
    WorkspaceRateLimitEntry,
)
from steward.sdk.resources.base import endpoint, listing
from steward.sdk.resources.limits import IncreaseRequests, KeyRateLimits, RateLimits, SpendLimits, WorkspaceRateLimits
from tests.support import Gateway

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
CAP_REFUSAL = "workspace marketing's monthly limit of $0.01"
HAIKU: Any = {"model": "claude-haiku-4-5", "max_tokens": 400, "messages": [{"role": "user", "content": "hi"}],
              "extra_headers": {"x-sim-output-tokens": "400"}}  # 400 Haiku output tokens: $0.002 a call


@pytest.fixture
def admin(gateway: Gateway) -> Iterator[steward.AdminClient]:
    with steward.AdminClient(base_url=gateway.url, api_key=gateway.admin_key, max_retries=0) as client:
        yield client


def calls(gateway: Gateway, workspace: str, n: int) -> list[str]:
    """``ok`` per admitted call, else the refusal's class name and message."""
    results = []
    with anthropic.Anthropic(base_url=gateway.url, api_key=gateway.keys[workspace], max_retries=0) as client:
        for _ in range(n):
            try:
                client.messages.create(**HAIKU)
                results.append("ok")
            except anthropic.APIStatusError as exc:
                results.append(f"{type(exc).__name__}: {exc.body['error']['message']}")  # type: ignore[index]
    return results


def test_rate_limits_set_at_each_level_are_enforced(gateway: Gateway, admin: steward.AdminClient) -> None:
    mkt, key_id = gateway.workspace_ids["marketing"], gateway.key_ids["marketing"]
    groups = list(admin.rate_limits.list())
    assert {"rl_haiku", "rl_batch"} <= {g.id for g in groups} and all(isinstance(g, RateLimitEntry) for g in groups)
    assert [g.id for g in admin.rate_limits.list(group_type="batch")] == ["rl_batch"]
    haiku = next(g for g in groups if g.id == "rl_haiku")
    assert haiku.group.type == "model_group" and "claude-haiku-4-5" in (haiku.models or [])

    entry = admin.workspaces.rate_limits.update(mkt, "rl_haiku", limits=[{"type": "requests_per_minute", "value": 2}])
    assert isinstance(entry, WorkspaceRateLimitEntry) and entry.workspace_id == mkt
    assert [(v.type, v.value, v.source.type) for v in entry.limits] == [("requests_per_minute", 2, "workspace")]
    gateway.sync_config()
    results = calls(gateway, "marketing", 3)
    assert results[:2] == ["ok", "ok"] and re.match(r"RateLimitError: .*workspace marketing", results[2])

    admin.rate_limits.update("rl_haiku", limits=[{"type": "tokens_per_day", "value": 10_000_000},
                                                 {"type": "requests_per_minute", "value": 500}])
    own = admin.workspaces.rate_limits.list(mkt)
    assert [(e.rate_limit_id, [v.type for v in e.limits]) for e in own] == [("rl_haiku", ["requests_per_minute"])]
    assert own.data[0].limits[0].org_limit == 500
    inherited = admin.workspaces.rate_limits.list(mkt, include_inherited=True).data[0].limits
    assert [(v.type, v.value, v.source.type) for v in inherited] == [
        ("requests_per_minute", 2, "workspace"), ("tokens_per_day", 10_000_000, "organization")]
    admin.workspaces.rate_limits.update(mkt, "rl_haiku", limits=[{"type": "requests_per_minute", "value": None}])
    assert list(admin.workspaces.rate_limits.list(mkt)) == []

    keyed = admin.keys.rate_limits.update(key_id, "rl_haiku", limits=[{"type": "requests_per_minute", "value": 1}])
    assert isinstance(keyed, KeyRateLimitEntry) and keyed.api_key_id == key_id
    assert [e.rate_limit_id for e in admin.keys.rate_limits.list(key_id)] == ["rl_haiku"]
    gateway.sync_config()
    results = calls(gateway, "marketing", 2)
    assert results[0] == "ok" and re.match(r"RateLimitError: .*API key", results[1])

    admin.rate_limits.update("rl_haiku", limits=[{"type": "requests_per_minute", "value": 1}])
    gateway.sync_config()
    results = calls(gateway, "eng", 2)
    assert results[0] == "ok" and re.match(r"RateLimitError: .*organization", results[1])
    cleared = admin.rate_limits.update("rl_haiku", limits=[{"type": "requests_per_minute", "value": None},
                                                           {"type": "tokens_per_day", "value": None}])
    assert cleared.limits == []
    gateway.sync_config()
    assert calls(gateway, "eng", 1) == ["ok"]


def test_rate_limit_mistakes_are_refused(admin: steward.AdminClient, gateway: Gateway) -> None:
    with pytest.raises(TypeError, match="a list"):
        admin.rate_limits.update("rl_haiku", limits={"type": "requests_per_minute", "value": 5})  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        admin.rate_limits.update("rl_nope", limits=[{"type": "requests_per_minute", "value": 5}])
    with pytest.raises(BadRequestError, match=r"limits\.type"):
        admin.keys.rate_limits.update(gateway.key_ids["eng"], "rl_haiku", limits=[{"type": "rpm", "value": 5}])
    with pytest.raises(BadRequestError, match="positive integer"):
        admin.workspaces.rate_limits.update(gateway.workspace_ids["eng"], "rl_haiku",
                                            limits=[{"type": "requests_per_minute", "value": 0}])


def test_spend_cap_refuses_then_an_approved_increase_lifts_it(gateway: Gateway, admin: steward.AdminClient) -> None:
    mkt = gateway.workspace_ids["marketing"]
    cap = admin.spend_limits.create(scope={"type": "workspace", "workspace_id": mkt}, period="monthly", amount="1")
    assert isinstance(cap, SpendLimit) and (cap.amount, cap.hard, cap.alert_thresholds) == ("1", True, [50, 80, 95])
    assert cap.scope.workspace_id == mkt and str(cap.amount_usd) == "0.01"
    person = admin.spend_limits.create(scope={"type": "person", "user_id": gateway.admin_user_id}, period="daily",
                                       amount=500)
    assert (person.scope.type, person.scope.user_id) == ("person", gateway.admin_user_id)
    end_user = admin.spend_limits.create(scope={"type": "end_user", "user_id": "customer-42"}, period="daily",
                                         amount=500)
    assert (end_user.scope.type, end_user.scope.user_id) == ("end_user", "customer-42")
    with pytest.raises(ConflictError):
        admin.spend_limits.create(scope={"type": "workspace", "workspace_id": mkt}, period="monthly", amount=5)
    gateway.sync_config()
    results = calls(gateway, "marketing", 10)  # $0.002 a call against a $0.01 cap
    admitted = results.count("ok")
    assert 1 <= admitted <= 5 and results[:admitted] == ["ok"] * admitted
    assert all(r.startswith("BadRequestError: ") and CAP_REFUSAL in r for r in results[admitted:])

    time.sleep(0.5)  # the effective view counts shipped usage records
    row = next(r for r in admin.spend_limits.effective() if r.spend_limit_id == cap.id)
    assert isinstance(row, EffectiveSpendLimit) and row.amount == "1" and 0 < row.spent_usd <= row.amount_usd
    assert row.period_start < row.period_end

    asked = admin.spend_limits.increase_requests.create(spend_limit_id=cap.id, amount="500", reason="launch week")
    assert isinstance(asked, SpendLimitIncreaseRequest) and asked.status == "pending"
    assert asked.actor is not None and asked.actor.user_id == gateway.admin_user_id
    assert [r.id for r in admin.spend_limits.increase_requests.list(status="pending")] == [asked.id]
    assert admin.spend_limits.increase_requests.get(asked.id).reason == "launch week"
    approved = admin.spend_limits.increase_requests.approve(asked.id, note="ok for the launch")
    assert approved.status == "approved" and approved.resolved_at is not None
    assert approved.spend_limit is not None and approved.spend_limit.amount == "500"
    assert admin.spend_limits.get(cap.id).amount == "500"
    gateway.sync_config()
    assert calls(gateway, "marketing", 2) == ["ok", "ok"]
    with pytest.raises(BadRequestError, match="already approved"):
        admin.spend_limits.increase_requests.deny(asked.id)


def test_spend_limit_changes_denials_and_deletion(gateway: Gateway, admin: steward.AdminClient) -> None:
    org = admin.spend_limits.create(scope={"type": "organization"}, period="daily", amount=100_000, hard=False,
                                    alert_thresholds=[90, 10])
    assert org.scope.type == "organization" and org.alert_thresholds == [10, 90] and not org.hard
    key = admin.spend_limits.create(scope={"type": "api_key", "api_key_id": gateway.key_ids["eng"]},
                                    period="weekly", amount="2500")
    assert [s.id for s in admin.spend_limits.list()] == sorted([org.id, key.id])
    changed = admin.spend_limits.update(key.id, amount=3000, hard=False, alert_thresholds=[75])
    assert (changed.amount, changed.hard, changed.alert_thresholds, changed.period) == ("3000", False, [75], "weekly")
    with pytest.raises(TypeError, match="cents"):
        admin.spend_limits.update(key.id, amount=12.5)  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="amount"):
        admin.spend_limits.update(key.id, amount="12.50")
    with pytest.raises(NotFoundError):
        admin.spend_limits.create(scope={"type": "workspace", "workspace_id": "wrkspc_nope"}, period="monthly",
                                  amount="1")

    asked = admin.spend_limits.increase_requests.create(spend_limit_id=key.id, amount=9000)
    with pytest.raises(BadRequestError, match="above the current limit"):
        admin.spend_limits.increase_requests.create(spend_limit_id=key.id, amount="3000")
    denied = admin.spend_limits.increase_requests.deny(asked.id, note="not this quarter")
    assert denied.status == "denied" and admin.spend_limits.get(key.id).amount == "3000"
    assert [r.id for r in admin.spend_limits.increase_requests.list(status="denied")] == [asked.id]
    assert list(admin.spend_limits.increase_requests.list(status="pending")) == []

    deleted = admin.spend_limits.delete(key.id)
    assert (deleted.id, deleted.type) == (key.id, "spend_limit_deleted")
    with pytest.raises(NotFoundError):
        admin.spend_limits.get(key.id)
    assert [row.spend_limit_id for row in admin.spend_limits.effective()] == [org.id]


def test_an_unknown_request_status_is_refused(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.url}/v1/organizations/spend_limit_increase_requests", params={"status": "bogus"},
                         headers={"x-api-key": gateway.admin_key})
    assert response.status_code == 400, response.text


def test_a_user_spend_limit_names_an_end_user(admin: steward.AdminClient) -> None:
    # "user" scopes cap an end user: the opaque metadata.user_id a client sends, not a Steward account, so
    # any id is accepted (unknown workspaces and keys are 404s because those are Steward's own objects).
    created = admin.spend_limits.create(scope={"type": "user", "user_id": "end-user-7f3a"}, period="daily",
                                        amount="100")
    assert created.scope.user_id == "end-user-7f3a"


async def test_async_limits(gateway: Gateway) -> None:
    eng = gateway.workspace_ids["eng"]
    async with steward.AsyncAdminClient(base_url=gateway.url, api_key=gateway.admin_key) as admin:
        groups = await admin.rate_limits.list()
        assert isinstance(groups, AsyncPage) and "rl_haiku" in [g.id async for g in groups]
        await admin.workspaces.rate_limits.update(eng, "rl_sonnet", limits=[{"type": "tokens_per_minute",
                                                                              "value": 90_000}])
        own = await admin.workspaces.rate_limits.list(eng)
        assert [(e.rate_limit_id, e.limits[0].value) async for e in own] == [("rl_sonnet", 90_000)]
        cap = await admin.spend_limits.create(scope={"type": "workspace", "workspace_id": eng}, period="monthly",
                                              amount="50000", alert_thresholds=[80])
        asked = await admin.spend_limits.increase_requests.create(spend_limit_id=cap.id, amount="60000")
        approved = await admin.spend_limits.increase_requests.approve(asked.id, amount="55000")
        assert approved.spend_limit is not None and approved.spend_limit.amount == "55000"
        assert [r.amount async for r in await admin.spend_limits.effective()] == ["55000"]
        assert (await admin.spend_limits.delete(cap.id)).type == "spend_limit_deleted"


def test_every_limits_call_is_in_the_reference() -> None:
    resources = {"rate_limits": RateLimits, "workspaces.rate_limits": WorkspaceRateLimits,
                 "keys.rate_limits": KeyRateLimits, "spend_limits": SpendLimits,
                 "spend_limits.increase_requests": IncreaseRequests}
    text = DOC.read_text()
    found = [f"{prefix}.{name}" for prefix, resource in resources.items()
             for name, value in vars(resource).items() if isinstance(value, endpoint | listing)]
    assert len(found) == 17
    for call in found:
        assert f"| `{call}(" in text, call
