"""Budget refusals that explain themselves, and per-person caps, through the real gateway with the official SDK,
on the in-process and the Redis spend store: the refusal names the cap, says whether it is spent or the request's
worst case does not fit, how much is left and the largest ``max_tokens`` that fits (which is then admitted); a
person cap refuses a second key of the same person once the first spent it, and leaves another person's key alone;
end-user caps stay distinct from person caps."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import redis

from steward.controlplane.principal import Principal
from steward.controlplane.services import ControlPlane
from steward.errors import PermissionDeniedError
from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway

REDIS_URL = "redis://127.0.0.1:6379/0"
ASK: Any = [{"role": "user", "content": "hi"}]
HAIKU = "claude-haiku-4-5"
BIG = {"x-sim-output-tokens": "400"}  # 400 Haiku output tokens: $0.002 a call


@pytest.fixture(params=["in-process", "redis"])
def gw(request: pytest.FixtureRequest, database_url: str, simulator: SimulatorServer,
       tmp_path: Path) -> Iterator[Gateway]:
    extra: dict[str, Any] = {}
    if request.param == "redis":
        extra = {"redis_url": REDIS_URL, "redis_key_prefix": f"stw-test-{uuid.uuid4().hex[:12]}:"}
    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY, **extra) as gateway:
        yield gateway
    if extra:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{extra['redis_key_prefix']}*"):
            client.delete(key)
        client.close()


def create_limit(gw: Gateway, scope: dict[str, Any], cents: int, period: str = "monthly") -> dict[str, Any]:
    with httpx.Client(base_url=gw.url, headers={"x-api-key": gw.admin_key}, timeout=10) as http:
        response = http.post("/v1/organizations/spend_limits",
                             json={"scope": scope, "period": period, "amount": str(cents)})
    assert response.status_code == 200, response.text
    gw.sync_config()
    body: dict[str, Any] = response.json()
    return body


def refusal(client: anthropic.Anthropic, max_tokens: int, **extra: Any) -> anthropic.BadRequestError:
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model=HAIKU, max_tokens=max_tokens, messages=ASK, **extra)
    return refused.value


def test_a_worst_case_that_does_not_fit_says_so_and_how_to_fit(gw: Gateway) -> None:
    cap = create_limit(gw, {"type": "workspace", "workspace_id": gw.workspace_ids["marketing"]}, 1)  # $0.01
    with gw.client("marketing", max_retries=2) as client:
        error = refusal(client, 2000)  # $0.00 spent: the cap is not reached, the worst case is too big for it
    assert error.status_code == 400 and error.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    text = error.body["error"]["message"]  # type: ignore[index]
    found = re.fullmatch(
        r"This request's worst case \(\$0\.01\d+: its input and max_tokens 2000 of output on claude-haiku-4-5\) "
        r"does not fit in workspace marketing's monthly limit of \$0\.01: \$0\.01 is left \(\$0\.00 spent, "
        r"\$0\.00 held by requests in flight\)\. Lower max_tokens to (\d+) or less to fit, or ask an admin to "
        r"raise the limit: `steward spend-requests create --limit (spl_\w+) --amount-usd 0\.02` \(or the "
        r"console's Limits page\)\.", text)
    assert found is not None, text
    fitting = int(found[1])
    assert found[2] == cap["id"] and 1900 <= fitting < 2000, text  # Haiku: $5/MTok out, $1/MTok in
    assert len([r for r in gw.usage() if r.status == 200]) == 0
    with gw.client("marketing", max_retries=0) as client:
        again = refusal(client, fitting + 1)  # one token more does not fit: the suggestion is the largest
        assert f"Lower max_tokens to {fitting} or less" in again.body["error"]["message"]  # type: ignore[index]
        client.messages.create(model=HAIKU, max_tokens=fitting, messages=ASK)  # the suggestion is admitted


def test_a_spent_cap_says_it_is_spent_and_when_access_returns(gw: Gateway) -> None:
    cap = create_limit(gw, {"type": "workspace", "workspace_id": gw.workspace_ids["marketing"]}, 100)  # $1.00
    with gw.client("marketing", max_retries=0) as client:
        for _ in range(6):  # $0.012
            client.messages.create(model=HAIKU, max_tokens=400, messages=ASK, extra_headers=BIG)
        time.sleep(0.3)  # settlement is asynchronous
        with httpx.Client(base_url=gw.url, headers={"x-api-key": gw.admin_key}, timeout=10) as http:
            lowered = http.post(f"/v1/organizations/spend_limits/{cap['id']}", json={"amount": "1"})  # $0.01
        assert lowered.status_code == 200, lowered.text
        gw.sync_config()
        text = refusal(client, 16).body["error"]["message"]  # type: ignore[index]
    assert re.fullmatch(r"You have reached your specified API usage limits: workspace marketing's monthly limit of "
                        r"\$0\.01 is spent \(\$0\.01\d+ used\)\. You will regain access on \d{4}-\d\d-01 at 00:00 "
                        r"\(UTC\)\. To continue sooner, ask an admin to raise the limit: `steward spend-requests "
                        r"create --limit spl_\w+ --amount-usd 0\.0\d` \(or the console's Limits page\)\.", text), text


def _people(gw: Gateway) -> dict[str, Any]:
    """Alice with two keys in eng, Bob with one: invited, accepted, and their keys created as themselves."""
    eng = gw.workspace_ids["eng"]

    async def action(plane: ControlPlane) -> dict[str, Any]:
        system = await plane.system()
        out: dict[str, Any] = {}
        for name, keys in (("alice", ("alice-eng-one", "alice-eng-two")), ("bob", ("bob-eng-one",))):
            invite = await plane.admin.invitations.create(system, f"{name}@example.com", "developer",
                                                          workspaces=[{"workspace_id": eng,
                                                                       "workspace_role": "workspace_developer"}])
            user = (await plane.admin.invitations.accept(invite["token"], name.title()))["user"]
            me = Principal(org_id=system.org_id, role="developer", user_id=user["id"], key_id=None,
                           memberships={eng: "workspace_developer"})
            out[name] = user["id"]
            for key in keys:
                out[key] = (await plane.admin.keys.create(me, eng, key))["secret"]
        return out
    found: dict[str, Any] = gw.control(action)
    gw.sync_config()
    return found


def test_a_person_cap_spans_the_persons_keys_and_no_one_elses(gw: Gateway) -> None:
    people = _people(gw)
    cap = create_limit(gw, {"type": "person", "user_id": people["alice"]}, 1, "daily")
    assert cap["scope"] == {"type": "person", "user_id": people["alice"]}
    first = anthropic.Anthropic(base_url=gw.url, api_key=people["alice-eng-one"], max_retries=0)
    second = anthropic.Anthropic(base_url=gw.url, api_key=people["alice-eng-two"], max_retries=0)
    bob = anthropic.Anthropic(base_url=gw.url, api_key=people["bob-eng-one"], max_retries=0)
    admitted = 0
    for _ in range(20):  # $0.002 a call against $0.01: the first key spends the cap
        try:
            first.messages.create(model=HAIKU, max_tokens=400, messages=ASK, extra_headers=BIG)
            admitted += 1
        except anthropic.BadRequestError:
            break
    assert 1 <= admitted <= 5
    error = refusal(second, 400, extra_headers=BIG)  # alice's other key: the same cap
    text = error.body["error"]["message"]  # type: ignore[index]
    assert "person alice@example.com's daily limit of $0.01" in text and cap["id"] in text, text
    for _ in range(admitted + 2):  # bob's key is untouched by alice's cap
        bob.messages.create(model=HAIKU, max_tokens=400, messages=ASK, extra_headers=BIG)
    for client in (first, second, bob):
        client.close()


def test_an_organization_cap_refuses_without_its_figures(gw: Gateway) -> None:
    """Any key holder hits the organization's cap; its spend is not theirs to read (the adversary read it to the
    micro-dollar by varying max_tokens), so the refusal names the cap and gives no amount, id or max_tokens."""
    create_limit(gw, {"type": "organization"}, 1)
    with gw.client("eng", max_retries=0) as client:
        text = refusal(client, 2000).body["error"]["message"]  # type: ignore[index]
    assert re.fullmatch(r"This request's worst case \(\$[\d.]+\) does not fit in what is left of organization "
                        r"Test Org's monthly limit \(its spend is not shown to API keys\)\. Lower max_tokens, or "
                        r"ask an admin to raise the limit\.", text), text


def test_a_key_made_for_a_person_by_the_operator_counts_under_their_cap(gw: Gateway) -> None:
    """`steward keys create --owner alice@...` (the operator has no user of its own): the key is Alice's, so her
    person cap covers it; a developer may not hand a key of theirs to someone else."""
    people = _people(gw)
    eng = gw.workspace_ids["eng"]

    async def make(plane: ControlPlane) -> dict[str, Any]:
        made = await plane.create_key("eng", "alice-made-by-ops", owner="alice@example.com")
        system = await plane.system()
        bob = Principal(org_id=system.org_id, role="developer", user_id=people["bob"], key_id=None,
                        memberships={eng: "workspace_developer"})
        try:
            await plane.admin.keys.create(bob, eng, "bob-for-alice", owner=people["alice"])
        except PermissionDeniedError as exc:
            return {**made, "refused": exc.message}
        return {**made, "refused": ""}
    made = gw.control(make)
    assert made["created_by"]["id"] == people["alice"] and "users.write" in made["refused"]
    gw.sync_config()
    create_limit(gw, {"type": "person", "user_id": people["alice"]}, 1, "daily")
    with anthropic.Anthropic(base_url=gw.url, api_key=made["secret"], max_retries=0) as ops_made:
        error = refusal(ops_made, 2000)
    assert "person alice@example.com's daily limit of $0.01" in error.body["error"]["message"]  # type: ignore[index]


def test_end_user_caps_stay_distinct_from_person_caps(gw: Gateway) -> None:
    old = create_limit(gw, {"type": "user", "user_id": "customer-42"}, 1)  # the older name of the type
    assert old["scope"] == {"type": "end_user", "user_id": "customer-42"}
    with httpx.Client(base_url=gw.url, headers={"x-api-key": gw.admin_key}, timeout=10) as http:
        person = http.post("/v1/organizations/spend_limits", json={
            "scope": {"type": "person", "user_id": "customer-42"}, "period": "monthly", "amount": "1"})
        assert person.status_code == 404 and "scope type end_user" in person.json()["error"]["message"]
        again = http.post("/v1/organizations/spend_limits", json={
            "scope": {"type": "end_user", "user_id": "customer-42"}, "period": "monthly", "amount": "5"})
        assert again.status_code == 409 and "end user already exists" in again.json()["error"]["message"]
        for bad in ("x" * 100_000, "a\u0000b"):  # a 500 from the database before (the adversary's finding 7)
            odd = http.post("/v1/organizations/spend_limits", json={
                "scope": {"type": "end_user", "user_id": bad}, "period": "monthly", "amount": "5"})
            message = odd.json()["error"]["message"]  # the NUL one is refused at the admin door now
            assert odd.status_code == 400 and ("at most 256 characters" in message or "NUL" in message), odd.text
    with gw.client("eng", max_retries=0) as client:
        error = refusal(client, 2000, metadata={"user_id": "customer-42"})
        text = error.body["error"]["message"]  # type: ignore[index]
        # an end user's spend spans workspaces: the key holder learns which cap, not its figures
        assert "does not fit in what is left of end user customer-42's monthly limit" in text, text
        assert "limit of" not in text and "left (" not in text and "spl_" not in text and "Lower max_tokens," in text
        client.messages.create(model=HAIKU, max_tokens=2000, messages=ASK, metadata={"user_id": "customer-7"})


def test_a_person_cap_added_later_counts_what_their_keys_spent_already(gw: Gateway) -> None:
    people = _people(gw)
    with anthropic.Anthropic(base_url=gw.url, api_key=people["alice-eng-one"], max_retries=0) as first:
        for _ in range(6):  # $0.012 before any cap
            first.messages.create(model=HAIKU, max_tokens=400, messages=ASK, extra_headers=BIG)
    cap = create_limit(gw, {"type": "person", "user_id": people["alice"]}, 1, "daily")
    with anthropic.Anthropic(base_url=gw.url, api_key=people["alice-eng-two"], max_retries=0) as second:
        text = refusal(second, 16).body["error"]["message"]  # type: ignore[index]
    assert text.startswith("You have reached your specified API usage limits: person alice@example.com's daily "
                           "limit of $0.01 is spent ($0.012"), text
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=gw.url, headers={"x-api-key": gw.admin_key}, timeout=10) as http:
        while True:  # the effective view sums the person's keys in the shipped records
            rows = http.get("/v1/organizations/spend_limits/effective").json()["data"]
            row = next(r for r in rows if r["spend_limit_id"] == cap["id"])
            if float(row["period_to_date_spend"]) >= 1.2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert row["scope"] == {"type": "person", "user_id": people["alice"]}
    assert 1.2 <= float(row["period_to_date_spend"]) < 1.3, row  # cents: six calls of $0.002008


def test_a_batch_is_held_to_its_creators_person_cap(gw: Gateway) -> None:
    people = _people(gw)
    create_limit(gw, {"type": "person", "user_id": people["alice"]}, 1, "daily")
    requests: Any = [{"custom_id": f"q-{i}", "params": {"model": HAIKU, "max_tokens": 2000, "messages": ASK}}
                     for i in range(3)]  # $0.005 each at the batch price: $0.015 at worst
    with anthropic.Anthropic(base_url=gw.url, api_key=people["alice-eng-one"], max_retries=0) as alice, \
            pytest.raises(anthropic.BadRequestError) as refused:
        alice.messages.batches.create(requests=requests)
    text = refused.value.body["error"]["message"]  # type: ignore[index]
    assert text.startswith("This batch's worst case ($0.015") and "does not fit in person alice@example.com's " \
        "daily limit of $0.01: $0.01 is left" in text, text
    with anthropic.Anthropic(base_url=gw.url, api_key=people["bob-eng-one"], max_retries=0) as bob:
        bob.messages.batches.create(requests=requests)  # another person's key: not under alice's cap
