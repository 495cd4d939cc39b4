"""The Admin API from the command line: docs/cli.md's session, run as written, then what it must have done.

Every ``$ steward ...`` example in docs/cli.md runs once, in order, as a real subprocess on one SQLite home
(``VAR=$(steward ... | jq -r PATH)`` captures a value for later lines). An example must exit 0, or exit 1
with the ``error:`` line shown under it; ``--json`` output must parse. The tests below then check the
outputs that session produced, so each subprocess is paid for once.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import pytest
import typer

from steward.cli.main import app
from tests.support import run_steward

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
CAPTURE = re.compile(r"^(?P<var>[A-Z_]+)=\$\((?P<command>steward .+?)(?: \| jq -r (?P<path>\S+))?\)$")
ADMIN_GROUPS = ("workspaces", "keys", "users", "invitations", "members", "admin-keys", "webhooks")
# The documented session runs ~65 real `steward` processes (about 2 s each on a loaded 2-core machine) in one
# module fixture; pytest-timeout's default of 300 s counts that setup against the first test.
pytestmark = pytest.mark.timeout(900)


def steward(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_steward(*args, env={**os.environ, "STEWARD_HOME": str(home), "COLUMNS": "200"})


@dataclass(slots=True, frozen=True)
class Example:
    line: str  # as written after "$ "
    error: str | None = None  # the documented "error: ..." message, if the example must fail


@dataclass(slots=True)
class Session:
    home: Path
    values: dict[str, str] = field(default_factory=dict)
    runs: list[tuple[str, subprocess.CompletedProcess[str]]] = field(default_factory=list)

    def output(self, command: str) -> str:
        """The stdout of the documented command (as written, before ``$VAR`` substitution; its first run)."""
        found = [run.stdout for line, run in self.runs if line == command]
        assert found, f"docs/cli.md no longer has the example {command!r}"
        return found[0]

    def json(self, command: str) -> Any:
        return json.loads(self.output(command))


def examples(text: str) -> list[Example]:
    """The ``$ `` lines of the ``console`` blocks, each with the ``error:`` line under it, if any."""
    found: list[Example] = []
    in_console = False
    for raw in text.splitlines():
        if raw.startswith("```"):
            in_console = raw.strip() == "```console"
        elif in_console and raw.startswith("$ "):
            found.append(Example(raw[2:]))
        elif in_console and raw.startswith("error: ") and found and found[-1].error is None:
            found[-1] = Example(found[-1].line, raw.removeprefix("error: "))
    return found


def jq(document: Any, path: str) -> str:
    """The subset of ``jq -r`` the docs use: ``.field``, ``.a.b``, ``.data[0].id``."""
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", shlex.split(path)[0]):
        document = document[name] if name else document[int(index)]
    return str(document)


def run_example(session: Session, example: Example) -> None:
    capture = CAPTURE.match(example.line)
    command = capture["command"] if capture else example.line
    args = shlex.split(Template(command).substitute(session.values))
    result = steward(session.home, *args[1:])
    session.runs.append((command, result))
    if example.error is not None:
        assert result.returncode == 1, (example.line, result.stdout, result.stderr)
        assert f"error: {example.error}" in result.stderr, (example.line, result.stderr)
        return
    assert result.returncode == 0, (example.line, result.stderr)
    if "--json" in args:
        json.loads(result.stdout)
    if capture:
        path = capture["path"]
        session.values[capture["var"]] = jq(json.loads(result.stdout), path) if path else result.stdout.strip()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    done = Session(tmp_path_factory.mktemp("steward-cli"))
    for example in examples(DOC.read_text()):
        run_example(done, example)
    return done


def test_every_command_has_an_example() -> None:
    commands = examples(DOC.read_text())
    group = typer.main.get_group(app)
    wanted = ["steward init", "steward organization"]
    for name in ADMIN_GROUPS:
        sub = group.commands[name]
        assert isinstance(sub, typer.core.TyperGroup)
        wanted += [f"steward {name} {command}" for command in sub.commands]
    for command in wanted:
        assert any(command + " " in f"{e.line} " for e in commands), f"docs/cli.md has no example of {command}"


def test_the_documented_session_runs(session: Session) -> None:
    assert len(session.runs) == len(examples(DOC.read_text()))
    for line, run in session.runs:
        assert "Traceback" not in run.stderr, line


def test_refusals_exit_1_with_a_message(session: Session) -> None:
    refused = {line: run for line, run in session.runs if run.returncode != 0}
    assert all(run.returncode == 1 and run.stderr.startswith("error: ") for run in refused.values())
    wanted = ("steward users update $ADMIN_ID --role viewer", "steward users get user_missing",
              "steward invitations create --email bob@acme.example --role boss")
    assert set(wanted) <= set(refused), "the last admin, an unknown user and an invalid role are refused"


def test_an_accepted_invitation_makes_a_user_with_role_and_workspaces(session: Session) -> None:
    bob_id, eng_id = session.values["BOB_ID"], session.values["ENG_ID"]
    invited = session.output("steward invitations create --email bob@acme.example --role developer --workspace eng")
    assert re.search(r"^stw_inv_\S+$", invited, re.MULTILINE)
    shown = session.output("steward invitations get $INVITE_ID")
    assert "stw_inv_" not in shown and "pending" in shown
    invite = session.json("steward invitations create --email bob@acme.example --role developer --workspace eng "
                          "--workspace marketing:workspace_admin --expires-in-days 3 --json")
    assert [g["workspace_role"] for g in invite["workspaces"]] == ["workspace_developer", "workspace_admin"]
    accepted = session.json("steward invitations accept --token $TOKEN --name 'Bob Stone' --json")
    assert accepted["user"]["id"] == bob_id and accepted["admin_key"]["user_id"] == bob_id
    assert accepted["secret"].startswith("sk-stw-admin01-")
    bob = session.json("steward users get $BOB_ID --json")
    assert (bob["email"], bob["role"], bob["name"]) == ("bob@acme.example", "developer", "Bob Stone")
    assert eng_id in bob["workspace_ids"] and len(bob["workspace_ids"]) == 2
    assert session.json("steward users update $BOB_ID --role billing --json")["role"] == "billing"
    table = session.output("steward users list")
    assert "Bob Stone" in table and "eng, marketing" in table, "tables show workspace names"
    assert "their keys are deactivated" in session.output("steward users remove $BOB_ID")


def test_members_are_added_changed_and_removed(session: Session) -> None:
    member = session.json("steward members get marketing $BOB_ID --json")
    assert member["workspace_role"] == "workspace_developer" and member["user_id"] == session.values["BOB_ID"]
    removed = session.output("steward members remove marketing $BOB_ID")
    assert f"Removed bob@acme.example ({session.values['BOB_ID']}) from marketing" in removed
    listing = session.output("steward members list marketing")
    assert session.values["BOB_ID"] in listing and "workspace_user" in listing and "marketing" in listing
    assert "bob@acme.example" in listing


def test_keys_are_scoped_rotated_reported_and_revoked(session: Session) -> None:
    secret, key_id = session.values["SECRET"], session.values["KEY_ID"]
    assert re.fullmatch(r"sk-stw-api01-\S+", secret), "keys create -q prints only the secret"
    rotated = session.output("steward keys rotate $KEY_ID --grace-seconds 600").splitlines()[-1]
    assert rotated.startswith("sk-stw-api01-") and rotated != secret
    key = session.json("steward keys get $KEY_ID --json")
    assert key["scopes"] == {"models": ["claude-haiku-*"]} and key["rotated_at"] is not None
    assert rotated.startswith(key["partial_key_hint"].split("...")[0]) and secret not in json.dumps(key)
    listing = session.output("steward keys list")
    assert "mkt-prod-copywriting" in listing and "marketing" in listing and secret not in listing
    report = session.json("steward keys report --rotation-age-days 0 --unused-days 0 --json")
    assert key_id in [k["id"] for k in report["rotation_due"]] and key_id in [k["id"] for k in report["unused"]]
    assert "status archived" in session.output("steward keys revoke $KEY_ID")


def test_admin_keys_are_created_for_a_user_and_revoked(session: Session) -> None:
    created = session.output("steward admin-keys create --name ci-readonly --user-id $BOB_ID --read-only")
    assert "read-only" in created and re.search(r"^sk-stw-admin01-\S+$", created, re.MULTILINE)
    assert f"for bob@acme.example ({session.values['BOB_ID']})" in created  # the owner by email, with the id
    revoked = session.json("steward admin-keys revoke $ADMIN_KEY_ID --json")
    assert (revoked["user_id"], revoked["scopes"], revoked["status"]) == (
        session.values["BOB_ID"], ["read_only"], "archived")


def test_workspaces_are_changed_by_name_or_id_and_archived(session: Session) -> None:
    assert session.json("steward organization --json")["name"] == "Acme"
    eng = session.json("steward workspaces get eng --json")
    assert eng["id"] == session.values["ENG_ID"] and eng["allowed_models"] is None
    listing = session.output("steward workspaces list --include-archived")
    assert "claude-haiku-*, claude-sonnet-4-6" in listing and "#3D405B" in listing and "(all)" in listing
    archived = re.compile(r"marketing .* \d{4}-\d\d-\d\d \d\d:\d\d\s*│\s*$", re.MULTILINE)
    assert archived.search(listing) and "mkt" not in listing


def test_email_filters_ignore_case(session: Session) -> None:
    invites = json.loads(steward(session.home, "invitations", "list", "--email", "Bob@Acme.example",
                                 "--json").stdout)
    users = json.loads(steward(session.home, "users", "list", "--email", "Admin@Acme.example", "--json").stdout)
    assert (len(invites["data"]), len(users["data"])) == (2, 1)  # one revoked, one accepted


def test_a_revoked_key_cannot_be_renamed(session: Session) -> None:
    renamed = steward(session.home, "keys", "update", session.values["KEY_ID"], "--name", "mkt-prod-renamed")
    assert renamed.returncode == 1 and "archived" in renamed.stderr


def test_nobody_joins_an_archived_workspace(session: Session) -> None:
    added = steward(session.home, "members", "add", "marketing", "--user-id", session.values["ADMIN_ID"],
                    "--role", "workspace_user")
    assert added.returncode == 1 and "archived" in added.stderr


def test_a_webhook_secret_is_shown_once(session: Session) -> None:
    created = session.json("steward webhooks create --url https://hooks.acme.example/steward --events "
                           "'spend.alert,admin.*' --json")
    assert created["secret"].startswith("whsec_") and created["events"] == ["spend.alert", "admin.*"]
    assert created["secret"] not in session.output("steward webhooks list")
    assert "secret" not in session.json("steward webhooks get $HOOK_ID --json")
    assert "Made 0 delivery attempt(s)." in session.output("steward webhooks deliver")  # it was switched off


def test_a_leaked_key_is_revoked_by_pasting_its_secret_which_is_never_printed_back(session: Session) -> None:
    leaked = steward(session.home, "keys", "create", "--workspace", "eng", "--name", "eng-leaked-one", "-q")
    secret = leaked.stdout.strip()
    assert secret.startswith("sk-stw-api01-"), leaked.stderr
    shown = steward(session.home, "keys", "get", secret, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["name"] == "eng-leaked-one" and secret not in shown.stdout
    revoked = steward(session.home, "keys", "revoke", secret)
    assert revoked.returncode == 0 and "Revoked key eng-leaked-one" in revoked.stdout, revoked.stderr
    assert "status archived" in revoked.stdout and secret not in revoked.stdout + revoked.stderr
    unknown = secret[:-6] + ("AAAAAA" if not secret.endswith("AAAAAA") else "BBBBBB")
    missing = steward(session.home, "keys", "revoke", unknown)
    assert missing.returncode == 1 and "no key of this organization has the secret" in missing.stderr
    assert unknown not in missing.stdout + missing.stderr and unknown[-4:] in missing.stderr  # its hint only
    again = steward(session.home, "keys", "revoke", secret)  # says so instead of "Revoked" again
    assert again.returncode == 0 and "was already revoked; nothing changed" in again.stdout, again.stderr
    other = steward(session.home, "keys", "create", "--workspace", "eng", "--name", "eng-leaked-two", "-q")
    piped = subprocess.run([sys.executable, "-m", "steward", "keys", "revoke", "-"], input=other.stdout,
                           env={**os.environ, "STEWARD_HOME": str(session.home), "COLUMNS": "200"},
                           capture_output=True, text=True, timeout=60, check=False)  # the secret on stdin only
    assert piped.returncode == 0 and "Revoked key eng-leaked-two" in piped.stdout, piped.stderr
    assert other.stdout.strip() not in piped.stdout + piped.stderr
