"""docs/sdk.md is executable: every Python block runs, in order, against a real gateway; its reference table
names every call the SDK has; and the SDK's exported names exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import steward
import steward.sdk
from steward.sdk.resources.admin_keys import AdminKeys
from steward.sdk.resources.base import endpoint, listing
from steward.sdk.resources.invitations import Invitations
from steward.sdk.resources.keys import Keys
from steward.sdk.resources.reports import Reports
from steward.sdk.resources.users import Users
from steward.sdk.resources.workspaces import Members, Workspaces
from tests.support import Gateway

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
RESOURCES = {"invitations": Invitations, "users": Users, "workspaces": Workspaces, "workspaces.members": Members,
             "keys": Keys, "admin_keys": AdminKeys, "reports": Reports}


def test_examples(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_BASE_URL", gateway.url)
    monkeypatch.setenv("STEWARD_ADMIN_KEY", gateway.admin_key)
    text = DOC.read_text()
    blocks = list(BLOCK.finditer(text))
    assert len(blocks) >= 10
    namespace: dict[str, object] = {"__name__": "docs_sdk_md"}
    for block in blocks:
        line = text.count("\n", 0, block.start(1))
        # Padding with blank lines makes a failure's traceback point at the line in docs/sdk.md.
        exec(compile("\n" * line + block.group(1), str(DOC), "exec"), namespace)


def test_every_call_is_in_the_reference() -> None:
    text = DOC.read_text()
    calls = [f"{prefix}.{name}" for prefix, resource in RESOURCES.items()
             for name, value in vars(resource).items() if isinstance(value, endpoint | listing)]
    assert len(calls) == 34
    for call in calls:
        assert f"| `{call}(" in text, call


def test_public_names() -> None:
    assert steward.AdminClient is steward.sdk.AdminClient
    assert steward.AsyncAdminClient is steward.sdk.AsyncAdminClient
    assert {"AdminClient", "AsyncAdminClient"} <= set(steward.__all__)
    for name in steward.sdk.__all__:
        assert hasattr(steward.sdk, name), name
