"""``steward console link`` prints a one-time link that signs the user in once."""

from __future__ import annotations

import re

import httpx
from typer.testing import CliRunner

from steward.cli.main import app
from tests.support import Gateway


def test_console_link_signs_in_once(sqlite_gateway: Gateway) -> None:
    settings = sqlite_gateway.settings
    env = {"STEWARD_HOME": str(settings.home), "STEWARD_DATABASE_URL": settings.resolved_database_url()}
    result = CliRunner().invoke(app, ["console", "link", "--email", "admin@test.example", "--base-url",
                                      sqlite_gateway.url], env=env)
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith(f"{sqlite_gateway.url}/console/link/stw_link_")
    with httpx.Client(timeout=10) as http:
        form = http.get(link)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        assert http.post(link, data={"csrf_token": token.group(1)}).status_code == 303
        assert "Administrator · admin" in http.get(f"{sqlite_gateway.url}/console/").text
    missing = CliRunner().invoke(app, ["console", "link", "--email", "nobody@test.example"], env=env)
    assert missing.exit_code == 1 and "No user with email" in missing.output
