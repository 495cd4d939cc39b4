"""``steward rate-limits``, ``spend-limits`` and ``spend-requests``: docs/cli.md's limits sections, run as written
(as real subprocesses on a fresh SQLite home, after the few commands they rely on), then what they must have done.

``tests/cli/test_admin_cli.py`` runs the same examples within the whole documented session; this module runs
only the limits sections, so that it can check their outputs closely. Usage mistakes, refused before the
database is opened, run in-process.
"""

from __future__ import annotations

import json
import re

import pytest
import typer
from typer.testing import CliRunner

from steward.cli.limits import to_cents, usd
from steward.cli.main import app
from tests.cli.test_admin_cli import DOC, Example, Session, examples, run_example, steward

SECTIONS = ("### Rate limits\n", "### Spend limits and increase requests\n")
GROUPS = ("rate-limits", "spend-limits", "spend-requests")
# What the limits sections rely on from the start of the documented session.
PRELUDE = (Example("steward init --name Acme --admin-email admin@acme.example"),
           Example("ADMIN_ID=$(steward users list --role admin --json | jq -r '.data[0].id')"),
           Example("steward workspaces create eng"))


def limits_examples() -> list[Example]:
    """The examples of the limits sections of docs/cli.md, in order."""
    text = DOC.read_text()
    found: list[Example] = []
    for heading in SECTIONS:
        start = text.index(heading)
        end = text.find("\n#", start + len(heading))
        found += examples(text[start:end if end != -1 else len(text)])
    return found


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    done = Session(tmp_path_factory.mktemp("steward-limits-cli"))
    for example in (*PRELUDE, *limits_examples()):
        run_example(done, example)
    return done


def test_every_limits_command_has_an_example() -> None:
    lines = [f"{e.line} " for e in limits_examples()]
    group = typer.main.get_group(app)
    for name in GROUPS:
        sub = group.commands[name]
        assert isinstance(sub, typer.core.TyperGroup)
        for command in sub.commands:
            assert any(f"steward {name} {command} " in line for line in lines), f"no example of {name} {command}"


def test_the_documented_limits_session_runs(session: Session) -> None:
    assert len(session.runs) == len(PRELUDE) + len(limits_examples()) >= 20
    for line, run in session.runs:
        assert "Traceback" not in run.stderr, line
    refused = [line for line, run in session.runs if run.returncode != 0]
    assert refused == ["steward rate-limits set rl_haiku --type requests_per_second --value 5",
                       "steward spend-limits create --workspace eng --amount-usd 100"]


def test_rate_limits_are_set_per_level_and_cleared(session: Session) -> None:
    listed = session.output("steward rate-limits list")
    assert all(group in listed for group in ("rl_haiku", "rl_sonnet", "rl_batch"))
    assert "1000" in session.output("steward rate-limits list --workspace eng --include-inherited")
    keyed = session.json("steward rate-limits list --key $LIMITED_KEY --json")["data"]
    assert [(e["rate_limit_id"], e["api_key_id"]) for e in keyed] == [("rl_haiku", session.values["LIMITED_KEY"])]
    assert keyed[0]["limits"] == [{"type": "output_tokens_per_minute", "value": 8000, "org_limit": None,
                                   "source": {"type": "key"}}]
    after = json.loads(steward(session.home, "rate-limits", "list", "--workspace", "eng", "--include-inherited",
                               "--json").stdout)["data"]
    # The workspace's own limit was cleared; only the organization's 1000 per minute remains, inherited.
    assert [(v["type"], v["value"], v["source"]["type"]) for v in after[0]["limits"]] == [
        ("requests_per_minute", 1000, "organization")]


def test_spend_limits_are_created_changed_and_deleted(session: Session) -> None:
    org = session.output("steward spend-limits create --organization --amount-usd 5000 --soft")
    assert re.match(r"Created spend limit spl_\S+: \$5,000\.00 monthly, soft, for organization", org)
    changed = session.output("steward spend-limits update $LIMIT_ID --amount-usd 750 --soft")
    assert "$750.00 monthly, soft, for workspace eng" in changed
    table = session.output("steward spend-limits list")
    assert "workspace eng" in table and "person admin@acme.example" in table and "$20.00" in table
    assert session.values["ADMIN_ID"] not in table  # the person by email, not by id
    assert "end user customer-42" in table and "$2.00" in table
    person = session.json("steward spend-limits get $USER_LIMIT_ID --json")
    assert person["scope"] == {"type": "person", "user_id": session.values["ADMIN_ID"]}
    assert "$0.00" in session.output("steward spend-limits effective")
    limit = session.json("steward spend-limits get $LIMIT_ID --json")
    assert (limit["amount"], limit["hard"], limit["alert_thresholds"], limit["period"]) == (
        "75000", False, [50, 80, 95], "monthly")  # before the approval that raises it to $900
    assert limit["scope"]["type"] == "workspace" and limit["scope"]["workspace_id"].startswith("wrkspc_")
    assert session.values["USER_LIMIT_ID"] in session.output("steward spend-limits delete $USER_LIMIT_ID")


def test_increase_requests_are_approved_and_denied(session: Session) -> None:
    pending = session.output("steward spend-requests list --status pending")
    assert session.values["REQUEST_ID"] in pending and "Launch week" in pending and "$1,000.00" in pending
    assert "is now $900.00" in session.output(
        "steward spend-requests approve $REQUEST_ID --amount-usd 900 --note 'Half of the extra for now'")
    denied = session.json("steward spend-requests get $DENIED_ID --json")
    assert (denied["status"], denied["amount"], denied["actor"]) == ("denied", "500000", None)
    assert denied["spend_limit"]["amount"] == "90000" and denied["resolved_at"] is not None


def test_a_key_cap_and_a_request_below_it(session: Session) -> None:
    created = steward(session.home, "spend-limits", "create", "--key", session.values["LIMITED_KEY"], "--period",
                      "weekly", "--amount-usd", "0.01", "--json")
    cap = json.loads(created.stdout)
    assert cap["scope"] == {"type": "api_key", "api_key_id": session.values["LIMITED_KEY"]} and cap["amount"] == "1"
    below = steward(session.home, "spend-requests", "create", "--limit", cap["id"], "--amount-usd", "0.01")
    assert below.returncode == 1 and below.stderr.startswith("error: amount: must be above the current limit")


@pytest.mark.parametrize("args", [
    ["spend-limits", "create", "--workspace", "eng", "--organization", "--amount-usd", "1"],
    ["spend-limits", "create", "--amount-usd", "1"],
    ["spend-limits", "create", "--organization", "--amount-usd", "1.001"],
    ["spend-limits", "create", "--organization", "--amount-usd", "-5"],
    ["spend-limits", "create", "--organization", "--amount-usd", "1", "--thresholds", "half"],
    ["spend-requests", "approve", "splreq_x", "--amount-usd", "lots"],
    ["rate-limits", "set", "rl_haiku", "--type", "requests_per_minute", "--value", "many"],
    ["rate-limits", "list", "--include-inherited"],
    ["rate-limits", "list", "--workspace", "eng", "--key", "apikey_x"],
    ["spend-limits", "create", "--person", "a@b.example", "--end-user", "c-1", "--amount-usd", "1"],
])
def test_usage_mistakes_exit_2_before_anything_runs(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output


def test_the_old_user_flag_is_refused_naming_its_replacements() -> None:
    result = CliRunner().invoke(app, ["spend-limits", "create", "--user", "customer-42", "--amount-usd", "1"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 2
    # Rich wraps the error in a box at the console's width: compare the words, not the lines.
    words = " ".join(result.output.translate(str.maketrans("│╭╮╰╯─", "      ")).split())
    assert "--person for a Steward user" in words and "--end-user for the metadata.user_id" in words, words


def test_spend_limit_help_says_what_each_scope_caps() -> None:
    output = CliRunner().invoke(app, ["spend-limits", "create", "--help"], env={"COLUMNS": "200"}).output
    # Rich wraps help at the width an earlier test may have fixed (tests/cli/test_help.py renders at 100): words
    text = " ".join(output.translate(str.maketrans("│╭╮╰╯─", "      ")).split())
    assert "every API key that person created" in text and "metadata.user_id is this string" in text, text
    assert "--user " not in text  # hidden: refused with a pointer to --person and --end-user


def test_dollars_and_cents() -> None:
    assert [to_cents(v) for v in ("500", "12.50", "$1,000", "0.01", "0")] == ["50000", "1250", "100000", "1", "0"]
    assert [usd(c) for c in ("50000", "1", "0.42", "0", None)] == ["$500.00", "$0.01", "$0.0042", "$0.00", ""]
