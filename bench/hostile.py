"""Memory and service under a hostile mix (issue 13): one `steward serve` worker on SQLite, its RSS sampled every
50 ms while, at once,

* clients without a key POST 250 MB bodies to Message Batches and 1 GB bodies to the Admin API,
* hundreds of connections send their headers a byte at a time (slowloris) or nothing at all,
* clients with a key send 30 MB Messages bodies,

and one well-behaved client keeps asking for completions. Prints the baseline, peak and final RSS, what the hostile
clients got, and the well-behaved client's successes and worst latency.

    .venv/bin/python bench/hostile.py --seconds 20 --slow 400

Everything listens on 127.0.0.1, every loop is bounded in time, and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anthropic
from tests.chaos import serve_env
from tests.support import child, gateway_settings, provision, rss_mb, wait_for_port

from steward.serving import free_port
from steward.simulator.config import SimulatorConfig
from steward.simulator.server import SimulatorServer
from steward.storage.migrate import upgrade

UPSTREAM_KEY = "sk-ant-upstream-bench-0123456789-secret"
CHUNK = b"x" * (1 << 20)


def flood(port: int, path: str, total: int, headers: str, until: float, outcomes: Counter[str]) -> None:
    """Announce ``total`` bytes and send as fast as the server reads, until answered, refused or out of time."""
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{headers}"
                             f"content-length: {total}\r\n\r\n".encode())
                sent = 0
                sock.settimeout(0.5)
                while sent < total and time.monotonic() < until:
                    try:
                        sock.sendall(CHUNK)
                        sent += len(CHUNK)
                    except (TimeoutError, OSError):
                        break
                sock.settimeout(5)
                answer = sock.recv(64)
                outcomes[answer.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"] += 1
        except OSError as exc:
            outcomes[type(exc).__name__] += 1


def slowloris(port: int, until: float, outcomes: Counter[str]) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            for byte in b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * 10_000:
                if time.monotonic() > until:
                    break
                sock.sendall(bytes([byte]))
                time.sleep(0.5)
            answer = sock.recv(64)
            outcomes[answer.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"] += 1
    except OSError as exc:
        outcomes[type(exc).__name__] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--slow", type=int, default=400, help="Slowloris connections.")
    parser.add_argument("--kinds", default="unauth_batches,unauth_admin,keyed_30mb",
                        help="Which floods to run (comma-separated).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp, \
            SimulatorServer(SimulatorConfig(api_key=UPSTREAM_KEY)) as simulator:
        url = f"sqlite+aiosqlite:///{tmp}/steward.db"
        upgrade(url)
        gw = provision(gateway_settings(url, simulator.url, Path(tmp) / "home", UPSTREAM_KEY), {"eng": None})
        port = free_port()
        env = serve_env(Path(tmp) / "home", url, simulator.url, UPSTREAM_KEY)
        env.update(dict(item.split("=", 1) for item in os.environ.get("HOSTILE_ENV", "").split() if item))
        with child([sys.executable, "-m", "steward", "serve", "--port", str(port)], env=env) as proc:
            base = f"http://127.0.0.1:{port}"
            wait_for_port(port, what="steward serve")
            time.sleep(1.0)
            worker = proc.pid  # one worker: uvicorn serves in the process `steward serve` runs in
            baseline = rss_mb(worker)
            until = time.monotonic() + args.seconds
            outcomes: dict[str, Counter[str]] = {k: Counter() for k in ("unauth_batches", "unauth_admin",
                                                                        "slowloris", "keyed_30mb")}
            kinds = set(args.kinds.split(","))
            threads = [threading.Thread(target=flood, args=(port, "/v1/messages/batches", 250 << 20, "", until,
                                                            outcomes["unauth_batches"]))
                       for _ in range(4 if "unauth_batches" in kinds else 0)]
            threads += [threading.Thread(target=flood, args=(port, "/v1/admin/workspaces", 1 << 30, "", until,
                                                             outcomes["unauth_admin"]))
                        for _ in range(2 if "unauth_admin" in kinds else 0)]
            threads += [threading.Thread(target=flood, args=(
                port, "/v1/messages", 30 << 20, f"x-api-key: {gw.keys['eng']}\r\nanthropic-version: 2023-06-01\r\n",
                until, outcomes["keyed_30mb"])) for _ in range(2 if "keyed_30mb" in kinds else 0)]
            threads += [threading.Thread(target=slowloris, args=(port, until, outcomes["slowloris"]), daemon=True)
                        for _ in range(args.slow)]
            peak, samples = baseline, []
            good: Counter[str] = Counter()
            worst = 0.0

            def behave() -> None:
                nonlocal worst
                with anthropic.Anthropic(base_url=base, api_key=gw.keys["eng"], max_retries=0, timeout=30) as c:
                    while time.monotonic() < until:
                        started = time.monotonic()
                        try:
                            c.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                              messages=[{"role": "user", "content": "hi"}])
                            good["ok"] += 1
                        except anthropic.APIError as exc:
                            good[type(exc).__name__] += 1
                        worst = max(worst, time.monotonic() - started)
                        time.sleep(0.1)

            threads.append(threading.Thread(target=behave))
            for thread in threads:
                thread.start()
            while time.monotonic() < until + 2:
                samples.append(rss_mb(worker))
                peak = max(peak, samples[-1])
                time.sleep(0.05)
            for thread in threads:
                thread.join(timeout=15)
            time.sleep(2)
            final = rss_mb(worker)
    print(f"steward serve (1 worker, SQLite), {args.seconds:g} s of hostile load, {args.slow} slowloris connections")
    print(f"RSS: baseline {baseline:.0f} MB, peak {peak:.0f} MB, after {final:.0f} MB")
    for kind, counts in outcomes.items():
        print(f"{kind}: {dict(counts)}")
    print(f"well-behaved client: {dict(good)}, worst latency {worst * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
