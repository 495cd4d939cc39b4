"""``steward console link`` points where people reach the gateway: the port ``steward serve`` serves on, or
``STEWARD_PUBLIC_URL``; a real ``serve`` process, and the link it prints signs in through that process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import child, run_steward, wait_for_port

EMAIL = "admin@acme.example"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _link(env: dict[str, str]) -> str:
    result = run_steward("console", "link", "--email", EMAIL, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_link_uses_the_serving_port_or_the_public_url(tmp_path: Path) -> None:
    env = {**os.environ, "STEWARD_HOME": str(tmp_path), "STEWARD_PORT": str(_free_port())}
    assert run_steward("init", "--name", "Acme", "--admin-email", EMAIL, env=env).returncode == 0
    port = _free_port()
    with child([sys.executable, "-m", "steward", "serve", "--port", str(port)], env=env,
               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE):
        wait_for_port(port, what="steward serve")
        link = _link(env)
        assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/console/link/stw_link_\S+", link), link
        with httpx.Client(timeout=10) as http:
            form = http.get(link)
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert form.status_code == 200 and token
            assert http.post(link, data={"csrf_token": token.group(1)}).status_code == 303
        public = _link({**env, "STEWARD_PUBLIC_URL": "https://steward.example.com/"})
        assert public.startswith("https://steward.example.com/console/link/stw_link_"), public
    # uvicorn ends on SIGTERM by raising it again (no finally runs): the record may stay, but names a dead pid.
    stopped = _link(env)
    assert stopped.startswith(f"http://127.0.0.1:{env['STEWARD_PORT']}/console/link/"), stopped
