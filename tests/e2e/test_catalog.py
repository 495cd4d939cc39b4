"""Models the catalog does not know, and a catalog updated without a release, through a real gateway and the SDK.

The simulator serves two models Steward has never heard of: ``claude-opus-6`` (family opus: priced by the newest
opus price) and ``claude-zephyr-1`` (no known family: unpriced, flagged, audited and reported, reserved at the
catalog's highest rates). Imports and syncs reach the running gateway through its snapshot, without a restart.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx
import orjson
import pytest

from steward.cli.catalog import unpriced_lines
from steward.controlplane.catalog import fetch_upstream_models
from steward.controlplane.services import ControlPlane
from steward.governance.catalog import packaged_bytes
from steward.sdk import AdminClient
from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway

T = TypeVar("T")
MESSAGES: Any = [{"role": "user", "content": "hello"}]
PICO = Decimal(10) ** 12


@pytest.fixture(scope="module")
def new_models_upstream() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(api_key=UPSTREAM_KEY, extra_models=("claude-opus-6", "claude-zephyr-1"))
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def gw(database_url: str, new_models_upstream: SimulatorServer, tmp_path: Path) -> Iterator[Gateway]:
    with start_gateway(database_url, new_models_upstream.url, tmp_path / "home", UPSTREAM_KEY) as gateway:
        yield gateway


def poll(check: Callable[[], T | None], timeout: float = 5.0) -> T:
    """The first truthy value of ``check`` (the gateway's snapshot moves within its poll interval)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, "the gateway did not pick the change up in time"
            return found
        time.sleep(0.05)


def cost_usd(gw: Gateway, response: Any) -> tuple[Decimal, str | None, bool]:
    [row] = gw.wait_usage([response.headers["request-id"]])
    return Decimal(row.cost_picousd) / PICO, row.pricing_version, row.unpriced


def test_an_unknown_model_is_forwarded_and_priced_by_its_family(gw: Gateway) -> None:
    with gw.client("eng") as client:
        raw = client.messages.with_raw_response.create(model="claude-opus-6", max_tokens=16, messages=MESSAGES)
        message = raw.parse()
        with pytest.raises(anthropic.NotFoundError):  # the upstream decides what exists; its 404 is relayed
            client.messages.create(model="claude-opus-9", max_tokens=16, messages=MESSAGES)
        assert "claude-opus-6" not in [m.id for m in client.models.list(limit=100)]  # until a sync adds it
    assert message.model == "claude-opus-6"
    cost, version, unpriced = cost_usd(gw, raw)
    # claude-opus-5-5 is the newest opus with a price: 4 / 20 USD per million tokens.
    expected = (Decimal(message.usage.input_tokens) * 4 + Decimal(message.usage.output_tokens) * 20) / 10**6
    assert (cost, version, unpriced) == (expected, "2026-11-29.1", False)


def test_a_model_of_no_known_family_is_unpriced_audited_reported_and_reserved_at_the_highest_rates(
        gw: Gateway) -> None:
    with gw.client("eng") as client:
        first = client.messages.with_raw_response.create(model="claude-zephyr-1", max_tokens=16, messages=MESSAGES)
        second = client.messages.with_raw_response.create(model="claude-zephyr-1", max_tokens=16, messages=MESSAGES)
    assert cost_usd(gw, first) == (Decimal(0), None, True)
    gw.wait_usage([second.headers["request-id"]])
    events = [e for e in gw.control(lambda p: p.records.latest_audit(100)) if e.event == "catalog.unpriced_model"]
    assert [e.model for e in events] == ["claude-zephyr-1"]  # once per model and process
    assert "recorded as unpriced (not $0)" in (events[0].reason or "")
    lines = gw.control(lambda p: unpriced_lines(p, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)))
    assert len(lines) == 1 and lines[0].startswith("Unpriced usage (not in the cost above): claude-zephyr-1: "
                                                   "2 requests")

    async def cap(plane: ControlPlane) -> None:  # $0.50 a day: 20,000 output tokens at $50/MTok would be $1
        await plane.admin.spend_limits.create(await plane.system(), {"type": "workspace",
                                              "workspace_id": gw.workspace_ids["eng"]}, "daily", "50")
    gw.control(cap)
    gw.sync_config()
    with gw.client("eng") as client:
        with pytest.raises(anthropic.BadRequestError, match=r"worst case .* does not fit in workspace eng's daily"):
            client.messages.create(model="claude-zephyr-1", max_tokens=20_000, messages=MESSAGES)
        client.messages.create(model="claude-haiku-4-5", max_tokens=20_000, messages=MESSAGES)  # $0.10 at worst


def test_unpriced_usage_is_charged_to_hard_caps_at_the_highest_rates(gw: Gateway) -> None:
    async def cap(plane: ControlPlane) -> None:  # $0.01 a day; each call costs ~$0.001 at the ceiling rates
        await plane.admin.spend_limits.create(await plane.system(), {"type": "workspace",
                                              "workspace_id": gw.workspace_ids["eng"]}, "daily", "1")
    gw.control(cap)
    gw.sync_config()
    served = 0
    with gw.client("eng") as client:
        for _ in range(60):
            try:
                client.messages.create(model="claude-zephyr-1", max_tokens=16, messages=MESSAGES)
            except anthropic.BadRequestError as refused:
                assert "workspace eng's daily limit of $0.01" in str(refused)
                break
            served += 1
            time.sleep(0.02)  # settlement is asynchronous; give it a moment between calls
    assert 0 < served < 60  # before the fix unpriced usage settled at $0 and never reached the cap


def test_refuse_setting_names_itself_and_the_way_to_add_the_model(
        database_url: str, new_models_upstream: SimulatorServer, tmp_path: Path) -> None:
    with start_gateway(database_url, new_models_upstream.url, tmp_path / "home", UPSTREAM_KEY,
                       unknown_models="refuse") as gw, gw.client("eng") as client:
        with pytest.raises(anthropic.NotFoundError) as refused:
            client.messages.create(model="claude-opus-6", max_tokens=16, messages=MESSAGES)
        text = refused.value.body["error"]["message"]  # type: ignore[index]
        assert "STEWARD_UNKNOWN_MODELS=refuse" in text and "steward catalog sync" in text
        assert "steward catalog import" in text
        client.messages.create(model="claude-opus-5", max_tokens=16, messages=MESSAGES)  # listed: served
        with pytest.raises(anthropic.NotFoundError):  # refuse: the upstream is not asked about unlisted ids
            client.models.retrieve("claude-opus-6")


def _document(version: str) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(orjson.loads(packaged_bytes()))
    document["version"] = version
    return document


def _model(document: dict[str, Any], model_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in document["models"] if m["id"] == model_id)
    return found


def test_an_imported_price_version_applies_from_its_effective_date_without_a_restart(gw: Gateway) -> None:
    today, tomorrow = datetime.now(UTC).date(), datetime.now(UTC).date() + timedelta(days=1)
    document = _document("2026-12-06.import")
    _model(document, "claude-haiku-4-5-20251001")["prices"].append(
        {"effective_from": today.isoformat(), "input": "2", "output": "10"})
    _model(document, "claude-opus-5")["prices"].append(
        {"effective_from": tomorrow.isoformat(), "input": "50", "output": "250"})
    with gw.client("eng") as client:
        before = client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=16,
                                                          messages=MESSAGES)
        response = httpx.post(f"{gw.url}/v1/admin/catalog", json=document, headers={"x-api-key": gw.admin_key})
        assert response.status_code == 200, response.text
        assert response.json()["version"] == "2026-12-06.import"

        def repriced() -> Any:
            raw = client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=16,
                                                           messages=MESSAGES)
            return raw if cost_usd(gw, raw)[1] == "2026-12-06.import" else None
        after = poll(repriced)
        opus = client.messages.with_raw_response.create(model="claude-opus-5", max_tokens=16, messages=MESSAGES)
    old, new = before.parse().usage, after.parse().usage
    assert cost_usd(gw, before)[0] == (Decimal(old.input_tokens) * 1 + Decimal(old.output_tokens) * 5) / 10**6
    assert cost_usd(gw, after)[0] == (Decimal(new.input_tokens) * 2 + Decimal(new.output_tokens) * 10) / 10**6
    usage = opus.parse().usage  # tomorrow's price is not today's
    assert cost_usd(gw, opus)[0] == (Decimal(usage.input_tokens) * 5 + Decimal(usage.output_tokens) * 25) / 10**6
    shown = httpx.get(f"{gw.url}/v1/admin/catalog", headers={"x-api-key": gw.admin_key}).json()
    assert shown["version"] == "2026-12-06.import" and shown["source"] == "stored"
    events = [e for e in gw.control(lambda p: p.records.latest_audit(100)) if e.event == "catalog.import"]
    assert len(events) == 1 and events[0].actor is not None


def test_an_invalid_catalog_is_refused_with_the_path_of_the_bad_field(gw: Gateway) -> None:
    document = _document("broken")
    document["models"][2]["prices"][0]["input"] = "three"
    response = httpx.post(f"{gw.url}/v1/admin/catalog", json=document, headers={"x-api-key": gw.admin_key})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == "catalog: catalog.models[2].prices[0].input: 'three' is not a decimal"
    assert gw.control(_versions) == []  # nothing was stored


async def _versions(plane: ControlPlane) -> list[dict[str, Any]]:
    return await plane.admin.catalog.versions(await plane.system())


def test_sync_adds_the_models_the_api_serves_and_the_catalog_lacks(
        gw: Gateway, new_models_upstream: SimulatorServer) -> None:
    async def sync(plane: ControlPlane) -> dict[str, Any]:
        models = await fetch_upstream_models(new_models_upstream.url, UPSTREAM_KEY)
        return await plane.admin.catalog.sync(await plane.system(), models)

    result = gw.control(sync)
    assert sorted(result["added"]) == ["claude-mythos-preview", "claude-opus-6", "claude-zephyr-1"]
    again = gw.control(sync)
    assert (again["added"], again["updated"], again["version"]) == ([], [], None)  # nothing new the second time
    with gw.client("eng") as client:
        listed = poll(lambda: [m for m in client.models.list(limit=100) if m.id == "claude-opus-6"])
        assert listed[0].display_name == "Claude Opus 6" and listed[0].lifecycle == "active"
        assert "claude-mythos-preview" not in [m.id for m in client.models.list(limit=100)]  # synced as retired
    shown = gw.control(_show)
    rows = {m["id"]: m for m in shown["data"]}
    assert rows["claude-opus-6"]["priced"] == "family rule" and rows["claude-opus-6"]["family"] == "opus"


async def _show(plane: ControlPlane) -> dict[str, Any]:
    return await plane.admin.catalog.show(await plane.system())


def test_a_retired_model_is_not_listed_and_is_refused_naming_its_replacement(gw: Gateway) -> None:
    with gw.client("eng") as client:
        assert not [m for m in client.models.list(limit=100) if m.id.startswith("claude-sonnet-4-5")]
        with pytest.raises(anthropic.NotFoundError) as gone:
            client.models.retrieve("claude-sonnet-4-5")
        assert "retired on 2026-11-30; use claude-sonnet-5-5 instead" in str(gone.value)
        with pytest.raises(anthropic.NotFoundError, match="use claude-sonnet-5-5 instead"):
            client.messages.count_tokens(model="claude-sonnet-4-5-20250929", messages=MESSAGES)


def _sync(upstream: SimulatorServer) -> Callable[[ControlPlane], Any]:
    async def sync(plane: ControlPlane) -> dict[str, Any]:
        models = await fetch_upstream_models(upstream.url, UPSTREAM_KEY)
        return await plane.admin.catalog.sync(await plane.system(), models)
    return sync


def test_sync_updates_the_lifecycle_dates_of_listed_models_from_the_api(
        gw: Gateway, new_models_upstream: SimulatorServer) -> None:
    document = _document("2026-12-06.stale")
    stale = _model(document, "claude-opus-4-5-20251101")  # the API: deprecated 2026-07-22, retiring 2027-01-22
    stale.update(status="active", deprecated_at=None, retires_at="2027-06-01")
    response = httpx.post(f"{gw.url}/v1/admin/catalog", json=document, headers={"x-api-key": gw.admin_key})
    assert response.status_code == 200, response.text
    result = gw.control(_sync(new_models_upstream))
    updated = {u["id"]: u["changes"] for u in result["updated"]}
    assert updated["claude-opus-4-5-20251101"] == {"status": ["active", "deprecated"],
                                                   "deprecated_at": [None, "2026-07-22"],
                                                   "retires_at": ["2027-06-01", "2027-01-22"]}
    assert updated["claude-sonnet-4-5-20250929"] == {"deprecated_at": [None, "2026-05-29"]}
    assert "claude-opus-4-5-20251101 retires_at 2027-06-01 -> 2027-01-22" in result["version"]["summary"]
    with gw.client("eng") as client:
        info = poll(lambda: (m := client.models.retrieve("claude-opus-4-5")).deprecated_at is not None and m)
    assert info.lifecycle == "deprecated"
    assert info.retires_at is not None and info.retires_at.date().isoformat() == "2027-01-22"
    assert info.deprecated_at is not None and info.deprecated_at.date().isoformat() == "2026-07-22"
    assert gw.control(_sync(new_models_upstream))["updated"] == []


def test_an_unlisted_model_is_looked_up_upstream_when_the_policy_admits_it(gw: Gateway) -> None:
    with gw.client("eng") as client:
        info = client.models.retrieve("claude-opus-6")  # before: Steward's own 404
        assert (info.id, info.display_name, info.line) == ("claude-opus-6", "Claude Opus 6", "opus")
        with pytest.raises(anthropic.NotFoundError):  # the API's own 404, relayed
            client.models.retrieve("claude-opus-9")
        with pytest.raises(anthropic.NotFoundError):  # not a model id: not asked
            client.models.retrieve("claude opus\n6")
    with gw.client("marketing") as client, pytest.raises(anthropic.NotFoundError):  # only claude-haiku-* here
        client.models.retrieve("claude-opus-6")
    with AdminClient(base_url=gw.url, api_key=gw.admin_key, max_retries=0) as admin:
        admin.policies.put({"models": {"deny": ["claude-opus-6*"]}})
    with gw.client("eng") as client:
        poll(lambda: _missing(client, "claude-opus-6"))  # a denied name is not looked up
        assert client.models.retrieve("claude-zephyr-1").id == "claude-zephyr-1"


def _missing(client: anthropic.Anthropic, model: str) -> bool:
    try:
        client.models.retrieve(model)
    except anthropic.NotFoundError:
        return True
    return False


def test_reports_split_cost_with_the_catalog_in_force(gw: Gateway) -> None:
    document = _document("2026-12-06.report")
    _model(document, "claude-haiku-4-5-20251001")["prices"].append(
        {"effective_from": datetime.now(UTC).date().isoformat(), "input": "2", "output": "10"})
    response = httpx.post(f"{gw.url}/v1/admin/catalog", json=document, headers={"x-api-key": gw.admin_key})
    assert response.status_code == 200, response.text
    gw.sync_config()  # the gateway serves the import; every request below uses it
    with gw.client("eng") as client:
        haiku_raw = client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=16,
                                                             messages=MESSAGES)
        opus_raw = client.messages.with_raw_response.create(model="claude-opus-6", max_tokens=16,
                                                            messages=MESSAGES)  # priced by its family
    rows = gw.wait_usage([haiku_raw.headers["request-id"], opus_raw.headers["request-id"]])
    assert {r.pricing_version for r in rows} == {"2026-12-06.report"}
    with AdminClient(base_url=gw.url, api_key=gw.admin_key, max_retries=0) as admin:
        report = admin.reports.cost_totals(group_by=["model"])
    by_model = {r["model"]: r for r in report.data}

    def output_usd(model: str, rate: int) -> Decimal:
        return sum((Decimal(r.output_tokens) * rate / 10**6 for r in rows if r.model == model), Decimal(0))
    haiku = next(m for m in by_model if m.startswith("claude-haiku-4-5"))
    # Before: split with the packaged file (5/MTok output for haiku; opus-6 unknown), the rest went to input.
    assert Decimal(by_model[haiku]["cost_output_usd"]) == output_usd(haiku, 10) > 0
    assert Decimal(by_model["claude-opus-6"]["cost_output_usd"]) == output_usd("claude-opus-6", 20) > 0


def test_rate_limit_groups_follow_the_imported_catalog(gw: Gateway) -> None:
    document = _document("2026-12-06.zephyr")
    document["models"].insert(0, {**_model(document, "claude-haiku-4-5-20251001"), "id": "claude-zephyr-1",
                                  "aliases": [], "display_name": "Claude Zephyr 1", "family": "zephyr",
                                  "created_at": "2026-12-01"})
    with AdminClient(base_url=gw.url, api_key=gw.admin_key, max_retries=0) as admin:
        assert "rl_zephyr" not in [e.id for e in admin.rate_limits.list()]
        response = httpx.post(f"{gw.url}/v1/admin/catalog", json=document, headers={"x-api-key": gw.admin_key})
        assert response.status_code == 200, response.text
        assert "rl_zephyr" in [e.id for e in admin.rate_limits.list()]  # before: the packaged file's groups only
        entry = admin.rate_limits.update("rl_zephyr", limits=[{"type": "requests_per_minute", "value": 5}])
    assert entry.models == ["claude-zephyr-1"]
