"""Streaming time to first byte, direct versus through the gateway, in one run.

Sends the same streaming request sequentially over one keep-alive connection to each target and
reports the median and p99 of the time from sending the request to receiving the first body byte.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from urllib.parse import urlsplit

BODY = json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 256, "stream": True,
                   "messages": [{"role": "user", "content": "x" * 500}]})


def measure(base: str, key: str, requests: int) -> list[float]:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": key}
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        conn.request("POST", "/v1/messages", body=BODY, headers=headers)
        response = conn.getresponse()
        first = response.read1(1)
        elapsed = time.perf_counter() - started
        response.read()
        if response.status != 200 or not first:
            raise SystemExit(f"{base}: HTTP {response.status}")
        samples.append(elapsed * 1000)
    conn.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--direct", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    measure(args.gateway, args.key, 200)  # warm-up
    direct = measure(args.direct, "direct", args.requests)
    gateway = measure(args.gateway, args.key, args.requests)
    for name, s in (("direct", direct), ("steward", gateway)):
        q = statistics.quantiles(s, n=100)
        print(f"{name:8s} ttfb p50 {statistics.median(s):.3f} ms  p99 {q[98]:.3f} ms")
    print(f"added ttfb p50 {statistics.median(gateway) - statistics.median(direct):.3f} ms")


if __name__ == "__main__":
    main()
