"""The `ews` application object and the helpers every command module shares: the command group
(help reflowed, usage errors as one line), `user_errors`, and the settings and store of this
home. `ews.cli` and the command modules (`ews.models`, `ews.weekly`, `ews.kpi`, `ews.hints`)
import it; it imports none of them.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from typer.core import TyperGroup

from model.errors import UserError

# typer >= 0.23 carries its own copy of click; the exceptions are those of the click it builds on.
_click = importlib.import_module(TyperGroup.__mro__[1].__module__.rpartition(".")[0] + ".exceptions")


def _one_paragraph_per_line(text: str | None) -> str | None:
    """A docstring's paragraphs each on one line, so that the help reflows them to the terminal's
    width instead of keeping the source's line breaks (typer's rich help keeps them)."""
    if not text:
        return text
    return "\n\n".join(" ".join(part.split()) for part in inspect.cleandoc(text).split("\n\n"))


def _reflow_help(command) -> None:
    command.help = _one_paragraph_per_line(command.help)
    command.short_help = _one_paragraph_per_line(command.short_help)
    for sub in getattr(command, "commands", {}).values():
        _reflow_help(sub)


class _Commands(TyperGroup):
    """The `ews` group: help texts reflowed, and every usage error (a missing or bad option, an
    unknown command) as one line on standard error with exit code 2, not typer's boxed report."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _reflow_help(self)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _click.NoArgsIsHelpError as err:  # `ews` or `ews token` alone: the help
            text = err.format_message()  # rich has printed it already; plain click returns it
            if text.strip():
                typer.echo(text)
            sys.exit(err.exit_code)
        except _click.ClickException as err:
            ctx = getattr(err, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            usage = isinstance(err, _click.UsageError) and ctx is not None
            hint = f" (see {ctx.command_path} --help)" if usage else ""
            message = " ".join(err.format_message().split()).rstrip(".")
            typer.echo(f"error: {where}{message}{hint}", err=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=_Commands,
    help="Fraværsradar: early warning of concerning school absence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable)

# The `--week` option of the commands that work on one ISO week (`ews monitor`, `ews weekly`).
Week = Annotated[
    str | None, typer.Option("--week", help="ISO week like 2026-W48 (default: this week)")
]


def user_errors(fn: F) -> F:
    """Turn a UserError into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as err:
            typer.echo(f"error: {err.one_line()}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _settings():
    from pydantic import ValidationError

    from model.settings import get_settings

    try:
        return get_settings()
    except ValidationError as err:  # a bad EWS_* value: one line, not pydantic's report
        first = err.errors()[0]
        name = f"EWS_{str(first['loc'][0]).upper()}: " if first["loc"] else ""
        raise UserError(f"setting {name}{first['msg'].removeprefix('Value error, ')}") from None


def _store():
    from model.store import open_store

    return open_store(_settings().store_url)
