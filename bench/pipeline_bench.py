"""The worker's own CPU per request, steady enough to compare two commits on a noisy machine.

Drives the gateway's ASGI app in process (no HTTP server in front: uvicorn's share is left out) with the peers
harness's request (claude-sonnet-4-6, max_tokens 256, a system prompt and a 500-character message), set up as
bench/compare.sh sets Steward up: examples/three-teams.yaml, a marketing key, rate limits at organization,
workspace and key level, a key daily spend limit, audit on. The upstream is the built-in simulator in its own
process on the other core. Reports the process's CPU time per request (the best of ``--rounds``, each round
``--requests`` requests) at concurrency 1 and 32; the journal is written but not shipped (no ship process).

    .venv/bin/python bench/pipeline_bench.py                   # 5 rounds of 3,000 requests, CPU 0
    .venv/bin/python bench/pipeline_bench.py --profile out.prof  # cProfile of one extra round at concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
STEWARD = str(Path(sys.executable).with_name("steward"))
TEXT = ("I am preparing a short internal memo about how our support team handles refund requests. "
        "Please read the notes below and rewrite them as five clear bullet points for new staff. "
        "Notes: customers email us or use the web form; we check the order number and the purchase "
        "date; refunds within thirty days are approved automatically; older orders need a manager; "
        "we reply within two business days and always confirm the amount and the payment method. "
        "Keep the tone friendly and avoid any jargon. Thank you.")
BODY = json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 256, "system": "You are a helpful assistant.",
                   "messages": [{"role": "user", "content": [{"type": "text", "text": TEXT}]}]}).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([STEWARD, *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


def set_up(home: Path, upstream: str) -> tuple[dict[str, str], str]:
    """bench/compare.sh's Steward: three-teams.yaml, a marketing key, limits at three levels, a key spend cap."""
    env = {**os.environ, "STEWARD_HOME": str(home), "STEWARD_UPSTREAM_URL": upstream, "STEWARD_LOG_LEVEL": "warning"}
    _cli(env, "init", "--name", "Bench Org")
    _cli(env, "apply", "-f", str(ROOT / "examples" / "three-teams.yaml"))
    key = _cli(env, "keys", "create", "--workspace", "marketing", "--name", "bench-load-test", "-q")
    key_id = json.loads(_cli(env, "keys", "list", "--workspace", "marketing", "--json"))["data"][0]["id"]
    _cli(env, "rate-limits", "set", "rl_sonnet", "--type", "requests_per_minute", "--value", "100000000")
    _cli(env, "rate-limits", "set", "rl_sonnet", "--type", "output_tokens_per_minute", "--value", "1000000000",
         "--workspace", "marketing")
    _cli(env, "rate-limits", "set", "rl_sonnet", "--type", "input_tokens_per_minute_cache_aware",
         "--value", "1000000000", "--key", key_id)
    _cli(env, "spend-limits", "create", "--key", key_id, "--period", "daily", "--amount-usd", "100000")
    return env, key


async def _one(app: Any, key: str) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/messages", "raw_path": b"/v1/messages", "query_string": b"", "root_path": "",
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 9100),
             "headers": [(b"host", b"127.0.0.1:9100"), (b"content-type", b"application/json"),
                         (b"x-api-key", key.encode()), (b"anthropic-version", b"2023-06-01"),
                         (b"content-length", str(len(BODY)).encode())]}
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _round(app: Any, key: str, requests: int, concurrency: int) -> float:
    """CPU seconds of this process per request over ``requests`` requests at ``concurrency``."""
    left = requests

    async def client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            if (status := await _one(app, key)) != 200:
                raise RuntimeError(f"request answered {status}")

    start = time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return (time.process_time() - start) / requests


async def measure(env: dict[str, str], key: str, rounds: int, requests: int, profile: str | None) -> dict[str, float]:
    os.environ.update(env)
    from steward.app import Steward
    from steward.settings import Settings

    app = Steward(Settings(journal_ship_inline=False))
    await app.startup()
    try:
        await _round(app, key, 500, 8)  # warm: connections, counters, caches
        out = {}
        for concurrency in (1, 32):
            out[f"c={concurrency}"] = min([await _round(app, key, requests, concurrency) for _ in range(rounds)])
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await _round(app, key, requests, 32)
            profiler.disable()
            profiler.dump_stats(profile)
        return out
    finally:
        await app.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--cpu", type=int, default=0, help="the core this process is pinned to")
    parser.add_argument("--profile", help="write a cProfile of one more round at concurrency 32 here")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    other = {c for c in os.sched_getaffinity(0) | set(range(os.cpu_count() or 1)) if c != args.cpu} or {args.cpu}
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="steward-pipeline-bench-") as tmp:
        simulator = subprocess.Popen(["taskset", "-c", str(min(other)), STEWARD, "simulate", "--port", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                time.sleep(0.1)
            env, key = set_up(Path(tmp) / "home", f"http://127.0.0.1:{port}")
            # uvloop, as `steward serve` runs (steward/serving.py)
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                result = runner.run(measure(env, key, args.rounds, args.requests, args.profile))
        finally:
            simulator.terminate()
            simulator.wait(10)
    print(f"# worker CPU per request, in process (best of {args.rounds} rounds of {args.requests}), CPU {args.cpu}")
    for label, seconds in result.items():
        print(f"{label:6s} {seconds * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
