"""deploy/nginx-steward.conf in front of a gateway (docs/deployment.md, "Reverse proxy and TLS"): TLS, a stream
relayed event by event through the official SDK, a large body, and /metrics kept inside. Skipped without nginx."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import anthropic
import httpx
import pytest

from steward.serving import free_port
from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import child, start_gateway, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("nginx") is None or shutil.which("openssl") is None,
                                reason="needs nginx and openssl")


def _nginx_conf(workdir: Path, gateway_port: int, tls_port: int, plain_port: int) -> Path:
    """The shipped server block with this machine's ports and paths, in a minimal nginx.conf of its own (one
    process in the foreground: no root needed, nothing outside ``workdir``)."""
    block = (ROOT / "deploy" / "nginx-steward.conf").read_text()
    block = (block.replace("127.0.0.1:8080", f"127.0.0.1:{gateway_port}")
             .replace("listen 443 ", f"listen {tls_port} ").replace("listen 80;", f"listen {plain_port};")
             .replace("/etc/ssl/steward", str(workdir)))
    (workdir / "steward.conf").write_text(block)
    conf = workdir / "nginx.conf"
    conf.write_text(f"daemon off;\nmaster_process off;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log;\n"
                    f"events {{}}\nhttp {{\n    access_log {workdir}/access.log;\n"
                    f"    client_body_temp_path {workdir}/body;\n    proxy_temp_path {workdir}/proxy;\n"
                    f"    include {workdir}/steward.conf;\n}}\n")
    return conf


def test_nginx_example_terminates_tls_and_relays_streams(sqlite_template: Path, simulator: SimulatorServer,
                                                         tmp_path: Path) -> None:
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    shutil.copyfile(sqlite_template, tmp_path / "steward.db")
    tls_port, plain_port = free_port(), free_port()
    public = f"https://127.0.0.1:{tls_port}"
    with start_gateway(f"sqlite+aiosqlite:///{tmp_path / 'steward.db'}", simulator.url, tmp_path / "home",
                       UPSTREAM_KEY, forwarded_allow_ips="127.0.0.1", public_url=public) as gw:
        conf = _nginx_conf(tmp_path, int(gw.url.rsplit(":", 1)[1]), tls_port, plain_port)
        with child(["nginx", "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE):
            wait_for_port(tls_port, what="nginx")
            trust = ssl.create_default_context(cafile=str(cert))
            with httpx.Client(verify=trust, timeout=30) as http, \
                    anthropic.Anthropic(base_url=public, api_key=gw.keys["eng"], max_retries=0,
                                        http_client=anthropic.DefaultHttpxClient(verify=trust)) as client:
                with client.messages.stream(model="claude-haiku-4-5", max_tokens=32,
                                            messages=[{"role": "user", "content": "hello"}]) as stream:
                    events = sum(1 for _ in stream)
                    final = stream.get_final_message()
                assert final.usage.output_tokens == 32 and events > 5
                # A body over nginx's default limit (1 MB) reaches the upstream, which finds the prompt too long:
                # the answer is the API's 400, not nginx's 413.
                with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
                    client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                           messages=[{"role": "user", "content": "word " * 300_000}])
                assert http.get(f"{public}/metrics").status_code == 403
                assert http.get(f"{public}/readyz").status_code == 200
            redirect = httpx.get(f"http://127.0.0.1:{plain_port}/v1/models")
            assert redirect.status_code == 308 and redirect.headers["location"].startswith("https://")
