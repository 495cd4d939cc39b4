"""Help that reads well: the ``steward`` command tree tidied once, when Typer builds it, before any ``--help``.

Typer shows a value type beside every option, so flags read ``--json <bool>`` as if they took a value; help
strings are written with Markdown backticks (they double as docs) while Typer renders them as Rich markup; a
group's command list keeps a docstring's line breaks. Here flags get an empty type label, arguments an upper-case
name (``GROUP``, not ``group``), `code` is rendered bold (escaped, so ``[...]`` in it stays text) and a help's
first paragraph is joined on one line. Nothing here changes parsing.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from rich.markup import escape
from typer import core as typer_core
from typer._click.core import Context

_CODE = re.compile(r"(`{1,2})([^`]+)\1")  # Markdown `code` or reStructuredText ``code``


def rendered(text: str | None) -> str | None:
    """``text`` with each `code` span as bold Rich markup (the backticks dropped)."""
    if not text:
        return text
    return _CODE.sub(lambda match: f"[bold]{escape(match.group(2))}[/bold]", text)


def unwrapped(text: str | None) -> str | None:
    """``text`` with its first paragraph on one line: a group's command list shows it as written, so a docstring's
    line break would break the sentence there."""
    if not text:
        return text
    first, sep, rest = inspect.cleandoc(text).partition("\n\n")
    return " ".join(first.split()) + sep + rest


def _tidy_param(param: Any) -> None:
    if isinstance(param, typer_core.TyperOption) and (param.is_flag or param.count):
        param.metavar = ""  # Typer prints the metavar as the type label; a flag takes no value
    elif isinstance(param, typer_core.TyperArgument) and param.metavar is None and param.name:
        param.metavar = param.name.upper()
    if isinstance(param, typer_core.TyperOption | typer_core.TyperArgument):
        param.help = rendered(param.help)


def tidy(command: Any) -> None:
    """Tidy ``command``'s help, its parameters' (``--help`` too) and, for a group, every command under it."""
    command.help = rendered(unwrapped(command.help))
    command.short_help = rendered(command.short_help)
    for param in command.params:
        _tidy_param(param)
    # Click creates the --help option lazily and caches it on the command; create it now so it is tidied too.
    help_option = command.get_help_option(Context(command))
    if help_option is not None:
        _tidy_param(help_option)
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)


class ReadableGroup(typer_core.TyperGroup):
    """The root ``steward`` group: tidies itself and the whole tree under it once built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tidy(self)

    def get_params(self, ctx: Context) -> list[Any]:
        """The group's parameters, tidied again: Typer appends the shell-completion options after building it."""
        params = super().get_params(ctx)
        for param in params:
            _tidy_param(param)
        return params
