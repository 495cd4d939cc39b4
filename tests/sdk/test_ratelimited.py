"""``RateLimitedClient`` and ``AsyncRateLimitedClient`` against a real gateway: local RPM and TPM pacing, the
server's headers and ``retry-after``, bounded backoff, and nothing retried twice or retried when it must not be."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

import steward
from steward.sdk.ratelimited import _retry_after
from steward.storage.migrate import upgrade
from tests.support import Gateway


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the database plays no part in client-side behaviour (overrides the conftest fixture)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    return url


HAIKU: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 16,
                         "messages": [{"role": "user", "content": "hi"}]}
FAST: dict[str, Any] = {"initial_backoff": 0.05, "max_backoff": 0.08}  # delays 0.05, 0.08, 0.08 (- jitter)


class Attempts:
    """Counts HTTP requests that leave the official client."""

    def __init__(self) -> None:
        self.count = 0

    def hook(self, request: Any) -> None:
        self.count += 1

    async def async_hook(self, request: Any) -> None:
        self.count += 1

    def client(self, gateway: Gateway, **kwargs: Any) -> anthropic.Anthropic:
        http = anthropic.DefaultHttpxClient(event_hooks={"request": [self.hook]})
        return anthropic.Anthropic(base_url=gateway.url, api_key=gateway.keys["eng"], http_client=http, **kwargs)

    def async_client(self, gateway: Gateway, **kwargs: Any) -> anthropic.AsyncAnthropic:
        http = anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [self.async_hook]})
        return anthropic.AsyncAnthropic(base_url=gateway.url, api_key=gateway.keys["eng"], http_client=http,
                                        **kwargs)


def set_limit(gateway: Gateway, limit_type: str, value: int) -> None:
    ws = gateway.workspace_ids["eng"]
    response = httpx.post(f"{gateway.url}/v1/organizations/workspaces/{ws}/rate_limits/rl_haiku",
                          json={"limits": [{"type": limit_type, "value": value}]},
                          headers={"x-api-key": gateway.admin_key})
    assert response.status_code == 200, response.text
    gateway.sync_config()


def output(tokens: int) -> dict[str, Any]:
    """A request for exactly ``tokens`` output tokens (the simulator's ``x-sim-output-tokens``)."""
    return {**HAIKU, "max_tokens": tokens, "extra_headers": {"x-sim-output-tokens": str(tokens)}}


def test_local_rpm_spaces_requests_across_threads(gateway: Gateway) -> None:
    client = steward.RateLimitedClient(gateway.client(), requests_per_minute=120)  # one every 0.5 s
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: client.messages.create(**HAIKU), range(4)))
    elapsed = time.monotonic() - started
    assert [r.type for r in replies] == ["message"] * 4
    assert 1.45 <= elapsed < 3.0, elapsed


def test_local_tpm_settles_with_real_usage_and_waits_for_the_budget(gateway: Gateway) -> None:
    client = steward.RateLimitedClient(gateway.client(), tokens_per_minute=6000)  # refills 100 tokens a second
    started = time.monotonic()
    for _ in range(2):  # each reserves ~5,016 tokens and uses ~18: what was not used comes back at once
        client.messages.create(**{**HAIKU, "max_tokens": 5000})
    client.messages.create(**output(5000))  # uses ~5,008 of the 6,000
    assert time.monotonic() - started < 5.0  # without settlement the second call would wait ~50 s
    started = time.monotonic()
    client.messages.create(**{**HAIKU, "max_tokens": 1100})  # ~1,116 needed, ~992 left: ~1.2 s to refill
    assert 0.9 <= time.monotonic() - started < 4.0  # a refill's wait, not a minute's (a loaded CI took 2.57 s)


def test_server_headers_pace_the_next_request(gateway: Gateway) -> None:
    set_limit(gateway, "output_tokens_per_minute", 600)  # 10 a second
    client = steward.RateLimitedClient(gateway.client(), max_retries=0)  # a 429 would raise
    client.messages.create(**output(590))  # the gateway answers: output-tokens remaining 10, reset in 59 s
    started = time.monotonic()
    reply = client.messages.create(**{**HAIKU, "max_tokens": 20})  # 10 more needed: about 1 s
    assert reply.type == "message"
    assert 0.8 <= time.monotonic() - started < 2.5


def test_gateway_429_is_retried_after_retry_after_then_succeeds(gateway: Gateway) -> None:
    set_limit(gateway, "output_tokens_per_minute", 600)
    gateway.client().messages.create(**output(600))  # another client empties the bucket
    attempts = Attempts()
    client = steward.RateLimitedClient(attempts.client(gateway), max_retries=3, **FAST)
    started = time.monotonic()
    assert client.messages.create(**{**HAIKU, "max_tokens": 10}).type == "message"
    assert attempts.count == 2  # refused with retry-after: 1, then admitted
    assert 0.95 <= time.monotonic() - started < 2.0  # the advertised second, not the 0.05 s backoff


@pytest.mark.parametrize(("fault", "error", "retries", "least"), [
    ("529", anthropic.OverloadedError, 3, 0.75 * (0.05 + 0.08 + 0.08)),
    ("500", anthropic.InternalServerError, 3, 0.75 * (0.05 + 0.08 + 0.08)),
    ("429", anthropic.RateLimitError, 1, 1.0),  # the simulator's retry-after: 1
])
def test_faults_are_retried_with_backoff_then_raised(gateway: Gateway, fault: str, error: type[Exception],
                                                      retries: int, least: float) -> None:
    attempts = Attempts()
    # The wrapped client's own max_retries=5 is overridden: retries are never doubled.
    client = steward.RateLimitedClient(attempts.client(gateway, max_retries=5), max_retries=retries, **FAST)
    assert client.raw.max_retries == 0
    started = time.monotonic()
    with pytest.raises(error):
        client.messages.create(**HAIKU, extra_headers={"x-sim-fault": fault})
    elapsed = time.monotonic() - started
    assert attempts.count == retries + 1
    assert least <= elapsed < least + 0.8, elapsed


def test_bad_requests_are_never_retried_and_count_tokens_passes_through(gateway: Gateway) -> None:
    attempts = Attempts()
    with steward.RateLimitedClient(attempts.client(gateway), max_retries=3, **FAST) as client:
        with pytest.raises(anthropic.BadRequestError):
            client.messages.create(**{**HAIKU, "messages": []})
        assert attempts.count == 1
        counted = client.messages.count_tokens(model="claude-haiku-4-5", messages=HAIKU["messages"])
        assert counted.input_tokens > 0
        with pytest.raises(TypeError, match="stream"):
            client.messages.create(**HAIKU, stream=True)
        assert attempts.count == 2


def test_built_from_arguments(gateway: Gateway) -> None:
    with steward.RateLimitedClient(base_url=gateway.url, api_key=gateway.keys["eng"]) as client:
        assert client.raw.max_retries == 0
        assert client.messages.create(**HAIKU).type == "message"
    with pytest.raises(TypeError, match="not both"):
        steward.RateLimitedClient(gateway.client(), base_url=gateway.url)


async def test_async_pacing_retries_and_refusals(gateway: Gateway) -> None:
    attempts = Attempts()
    paced = steward.AsyncRateLimitedClient(attempts.async_client(gateway), requests_per_minute=120)
    started = time.monotonic()
    replies = await asyncio.gather(*(paced.messages.create(**HAIKU) for _ in range(4)))
    assert [r.type for r in replies] == ["message"] * 4
    assert 1.45 <= time.monotonic() - started < 3.0
    client = steward.AsyncRateLimitedClient(attempts.async_client(gateway, max_retries=5), max_retries=2, **FAST)
    with pytest.raises(anthropic.InternalServerError):
        await client.messages.create(**HAIKU, extra_headers={"x-sim-fault": "500"})
    assert attempts.count == 4 + 3
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.create(**{**HAIKU, "messages": []})
    assert attempts.count == 4 + 3 + 1
    assert (await client.messages.count_tokens(model="claude-haiku-4-5", messages=HAIKU["messages"])).input_tokens


async def test_async_gateway_429_and_server_headers(gateway: Gateway) -> None:
    set_limit(gateway, "output_tokens_per_minute", 600)
    await asyncio.to_thread(lambda: gateway.client().messages.create(**output(600)))
    async with steward.AsyncRateLimitedClient(base_url=gateway.url, api_key=gateway.keys["eng"], max_retries=2,
                                              **FAST) as client:
        started = time.monotonic()
        await client.messages.create(**{**HAIKU, "max_tokens": 10})  # 429, retry-after: 1, then admitted
        assert 0.95 <= time.monotonic() - started < 2.0
        started = time.monotonic()
        await client.messages.create(**{**HAIKU, "max_tokens": 10})  # the headers said ~0 left: wait, no 429
        assert time.monotonic() - started >= 0.5


def test_docs_section_runs_on_its_own(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/sdk.md's client-side section, alone: its examples must not lean on earlier sections."""
    monkeypatch.setenv("STEWARD_BASE_URL", gateway.url)
    monkeypatch.setenv("STEWARD_ADMIN_KEY", gateway.admin_key)
    doc = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
    text = doc.read_text()
    start = text.index("## Client-side rate limiting and usage tracking")
    end = text.find("\n## ", start + 1)
    blocks = list(re.finditer(r"^```python\n(.*?)^```", text[: end if end > 0 else None], re.MULTILINE | re.DOTALL))
    blocks = [b for b in blocks if b.start() > start]
    assert len(blocks) == 3
    namespace: dict[str, object] = {"__name__": "docs_sdk_md_client_side"}
    for block in blocks:
        exec(compile("\n" * text.count("\n", 0, block.start(1)) + block.group(1), str(doc), "exec"), namespace)


def test_backoff_is_bounded_and_jittered_and_retry_after_is_read() -> None:
    governor = steward.RateLimitedClient(api_key="unused", max_retries=10, initial_backoff=1.0,
                                         max_backoff=4.0)._governor
    lost = anthropic.APIConnectionError(request=httpx2.Request("POST", "http://127.0.0.1/v1/messages"))
    delays = [governor.delay(lost, attempt) or 0.0 for attempt in range(10)]
    for attempt, delay in enumerate(delays):
        assert 0.75 * min(4.0, 2.0**attempt) <= delay <= min(4.0, 2.0**attempt)
    assert len(set(delays[2:])) > 1 and governor.delay(lost, 10) is None  # capped at 4 s, jittered; then given up
    assert governor.delay(ValueError("not an API error"), 0) is None
    assert _retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert _retry_after({"retry-after": "2"}) == 2.0
    http_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 28 <= (_retry_after({"retry-after": http_date}) or 0) <= 30
    assert _retry_after({"retry-after": "soon"}) is None
    assert _retry_after({}) is None
