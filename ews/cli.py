"""The `ews` command line: the one place that calls both training and serving.

Every command exits 0 on success; a user error prints one line on standard error and exits 2.
Heavy libraries (mlflow, shap) are imported inside the commands that need them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from model.errors import UserError

app = typer.Typer(
    help="Fraværsradar: early warning of concerning school absence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable)


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
    from model.settings import get_settings

    return get_settings()


def _store():
    from model.store import open_store

    return open_store(_settings().store_url)


@app.command("demo-data")
@user_errors
def demo_data(
    out_dir: Annotated[Path, typer.Argument(help="folder to write the contract's CSV files to")],
    pupils: Annotated[int, typer.Option(min=10, help="number of pupils")] = 6000,
    schools: Annotated[int, typer.Option(min=1, help="number of schools")] = 12,
    years: Annotated[int, typer.Option(min=1, max=10, help="number of school years")] = 3,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
) -> None:
    """Write a realistic demo municipality in the data contract's files."""
    from model.demo import write_demo_municipality

    summary = write_demo_municipality(out_dir, pupils=pupils, schools=schools, years=years, seed=seed)
    typer.echo(summary)


@app.command()
@user_errors
def ingest(
    folder: Annotated[Path, typer.Argument(help="folder with the data contract's files")],
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Validate and load a folder in the data contract (all-or-nothing, idempotent)."""
    from serving.ingest import ingest_folder

    result = ingest_folder(_settings(), _store(), folder, progress=progress and sys.stderr.isatty())
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(result.summary())


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
