"""Every command's ``--help``, rendered as a person sees it at 100 columns, reads well.

The walk covers the whole Typer tree (sub-apps and their sub-apps), so a command added later is checked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from steward.cli.main import app

# An ellipsis after a comma, "or" or "|" cuts a list of choices short; "apikey_..." (an id's shape) does not.
_CUT_LIST = re.compile(r"(,|\bor|\|)\s*\.\.\.")


def _commands(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


STEWARD = typer.main.get_command(app)
COMMANDS = list(_commands(STEWARD))


def _help(path: tuple[str, ...]) -> str:
    """``steward PATH --help`` at 100 columns, without colour (the tree built once: CliRunner.invoke rebuilds it)."""
    with CliRunner().isolation(env={"COLUMNS": "100", "TERMINAL_WIDTH": "100"}, color=False) as (out, _, _):
        with pytest.raises(SystemExit) as exited:
            STEWARD.main(args=[*path, "--help"], prog_name="steward")
        text = out.getvalue().decode()
    assert exited.value.code in (0, None), text
    return text


def test_the_walk_reaches_sub_apps() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"keys create", "compliance groups create", "journal quarantine reship", "webhooks create"} <= paths
    assert len(paths) > 100


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda path: " ".join(path) or "steward")
def test_help_reads_well(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert "<bool>" not in text, "a flag shows a value type"
    assert "`" not in text, "Markdown backticks shown as they are"
    assert "[bold]" not in text and "[/" not in text, "Rich markup shown as text"
    assert not _CUT_LIST.search(text), "a list of choices cut with ..."
    width = max(len(line) for line in text.splitlines())
    assert width <= 100, f"help wider than 100 columns ({width})"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=lambda value: " ".join(value)
                         if isinstance(value, tuple) else "")
def test_every_parameter_is_described(path: tuple[str, ...], command: typer.core.TyperCommand) -> None:
    undescribed = [param.name for param in command.params if not getattr(param, "help", None)]
    assert not undescribed, f"steward {' '.join(path)}: no help for {undescribed}"


def test_command_lists_show_whole_sentences() -> None:
    """A group lists each command with its help's first paragraph as written: no line break may cut it."""
    for path, command in COMMANDS:
        first = (getattr(command, "help", None) or "").split("\n\n")[0]
        assert "\n" not in first, f"steward {' '.join(path)}: {first!r}"


def test_flags_and_choices_read_in_full() -> None:
    text = _help(("rate-limits", "set"))
    assert re.search(r"--json\s+Print the result as JSON", text)
    flat = " ".join(text.split())
    for limit_type in ("requests_per_minute", "tokens_per_day", "input_tokens_per_minute_cache_aware",
                       "queued_requests"):
        assert limit_type in flat
    serve = " ".join(_help(("serve",)).split())
    assert "instead of a steward ship process" in serve  # `steward ship` rendered, not quoted


def test_version() -> None:
    from typer.testing import CliRunner

    from steward import __version__
    from steward.cli.main import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"steward {__version__}"
