"""``steward simulate`` says where it listens, once it accepts connections (docs/deployment.md, docs/api.md)."""

from __future__ import annotations

import re
import subprocess
import sys

import anthropic

from tests.support import child

ANNOUNCEMENT = re.compile(r"^Steward simulator listening on (http://127\.0\.0\.1:(\d+)) - point STEWARD_UPSTREAM_URL "
                          r"at it")


def test_simulate_announces_its_address_and_answers_there() -> None:
    with child([sys.executable, "-m", "steward", "simulate", "--port", "0"], stdout=subprocess.PIPE,
               text=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the line: it comes once the socket accepts connections
        found = ANNOUNCEMENT.match(line)
        assert found, f"no announcement, got {line!r}"
        url, port = found.group(1), int(found.group(2))
        assert port != 0  # --port 0 took a free port and names the real one
        with anthropic.Anthropic(base_url=url, api_key="sk-ant-anything", max_retries=0) as client:
            reply = client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                           messages=[{"role": "user", "content": "hi"}])
        assert reply.usage.output_tokens > 0
