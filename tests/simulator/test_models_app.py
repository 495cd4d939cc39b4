"""Models (list, get, aliases, pagination) and the app's own endpoints (health, request history, headers)."""

from __future__ import annotations

import anthropic
import httpx2
import pytest

from steward.simulator import SimulatorServer, create_app
from steward.simulator.app import SimulatorApp
from steward.simulator.models import CATALOG

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


def test_list_models_newest_first(client: anthropic.Anthropic) -> None:
    page = client.models.list()
    assert len(page.data) == 19 and not page.has_more
    assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id
    created = [m.created_at for m in page.data]
    assert created == sorted(created, reverse=True)
    ids = {m.id for m in page.data}
    assert {"claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101",
            "claude-opus-4-6", "claude-sonnet-5-5"} <= ids
    haiku = next(m for m in page.data if m.id == "claude-haiku-4-5-20251001")
    assert haiku.display_name == "Claude Haiku 4.5" and haiku.max_input_tokens == 200_000
    assert haiku.max_tokens == 64_000 and haiku.lifecycle == "active" and haiku.capabilities is not None
    assert haiku.capabilities.thinking.types.enabled.supported


def test_pagination(client: anthropic.Anthropic) -> None:
    first = client.models.list(limit=5)
    assert len(first.data) == 5 and first.has_more
    second = client.models.list(limit=5, after_id=first.last_id)
    assert second.data[0].id not in {m.id for m in first.data}
    back = client.models.list(limit=5, before_id=second.first_id)
    assert [m.id for m in back.data] == [m.id for m in first.data]
    assert len(list(client.models.list(limit=4))) == len(CATALOG)  # auto-pagination walks every page
    with pytest.raises(anthropic.BadRequestError, match="limit"):
        client.models.list(limit=1001)


def test_get_model_by_id_and_alias(client: anthropic.Anthropic) -> None:
    by_alias = client.models.retrieve("claude-sonnet-4-5")
    assert by_alias.id == "claude-sonnet-4-5-20250929" and by_alias.lifecycle == "deprecated"
    assert by_alias.retires_at is not None
    assert client.models.retrieve("claude-opus-4-6").display_name == "Claude Opus 4.6"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nope")


def test_every_response_has_request_id_and_organization(server: SimulatorServer) -> None:
    for response in (httpx2.get(f"{server.url}/healthz"), httpx2.get(f"{server.url}/v1/models", headers=HEADERS),
                     httpx2.get(f"{server.url}/v1/nothing", headers=HEADERS)):
        assert response.headers["request-id"].startswith("req_01")
        assert len(response.headers["anthropic-organization-id"]) == 36
    assert httpx2.get(f"{server.url}/healthz").json() == {"status": "ok"}


def test_request_history(server: SimulatorServer) -> None:
    httpx2.delete(f"{server.url}/_sim/requests")
    with anthropic.Anthropic(base_url=server.url, api_key="sk-ant-seen", max_retries=0,
                             default_headers={"anthropic-beta": "files-api-2025-04-14"}) as client:
        client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    seen = httpx2.get(f"{server.url}/_sim/requests").json()
    assert len(seen) == 1 and seen[0]["method"] == "POST" and seen[0]["path"] == "/v1/messages"
    headers = seen[0]["headers"]
    # SDK 2.x sends the API key as a bearer token and its own anthropic-version.
    assert headers["authorization"] == "Bearer sk-ant-seen" and headers["anthropic-version"]
    assert headers["anthropic-beta"] == "files-api-2025-04-14"
    httpx2.get(f"{server.url}/v1/models", headers=HEADERS)
    assert httpx2.get(f"{server.url}/_sim/requests").json()[-1]["headers"]["x-api-key"] == "k"
    httpx2.delete(f"{server.url}/_sim/requests")
    assert httpx2.get(f"{server.url}/_sim/requests").json() == []


def test_create_app_builds_a_fresh_simulator() -> None:
    app = create_app()
    assert isinstance(app, SimulatorApp) and app.config.default_output_tokens == 48
