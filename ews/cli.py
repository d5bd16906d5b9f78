"""The `ews` command line: the one place that calls both training and serving.

Every command exits 0 on success; a user error prints one line on standard error and exits 2.
Heavy libraries (mlflow, shap) are imported inside the commands that need them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import date
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


def _parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} must be a date like 2025-03-03, not {text!r}") from None


@app.command()
@user_errors
def train(
    as_of: Annotated[str | None, typer.Option("--as-of", help="train on what was known before this date")] = None,
) -> None:
    """Build features and labels, train, evaluate on later as-of dates, log to MLflow, register a
    version and make it the champion if it passes the promotion gates."""
    from model.inputs import load_inputs
    from training.pipeline import train_and_evaluate
    from training.tracking import log_and_register

    settings = _settings()
    inputs = load_inputs(_store())
    if not len(inputs.register.pupil_ids):
        raise UserError("nothing is ingested yet: run `ews ingest DIR` first")
    typer.echo("building as-of features and labels, training ...", err=True)
    result = train_and_evaluate(inputs, settings, as_of=_parse_date(as_of, "--as-of"))
    outcome = log_and_register(result, settings)
    table = result.comparison
    model_row, rule_row = table.loc["model"], table.loc[result.best_rule]
    typer.echo(f"registered {settings.registered_model_name} version {outcome.version} "
               f"as {'champion' if outcome.promoted else 'challenger'}")
    for reason in outcome.gate_reasons:
        typer.echo(f"  - {reason}")
    typer.echo(f"test slice {result.split.describe()['test']}: precision at list length "
               f"{model_row['precision_at_capacity']:.3f} vs {rule_row['precision_at_capacity']:.3f} "
               f"({result.best_rule}); ROC AUC {model_row['roc_auc']:.3f}; median lead time "
               f"{model_row['lead_time_median_weeks']:.1f} vs {rule_row['lead_time_median_weeks']:.1f} weeks; "
               f"ECE {result.calibration['ece']:.3f}")
    typer.echo(f"report: {outcome.report}")


@app.command()
@user_errors
def score(
    as_of: Annotated[str, typer.Option("--as-of", help="score as of this date")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
    school: Annotated[str | None, typer.Option("--school", help="only this school")] = None,
    language: Annotated[str, typer.Option(help="language of the reasons: da or en")] = "da",
) -> None:
    """Score every pupil enrolled on the date with the champion (risk, band, reasons)."""
    from model.inputs import load_inputs
    from model.labels import LabelSpec
    from serving.champion import load_champion
    from serving.scoring import score_frame, score_table, with_reasons

    settings = _settings()
    day = _parse_date(as_of, "--as-of")
    if day > date.today():
        raise UserError(f"--as-of {day} is in the future")
    champion = load_champion(settings)
    inputs = load_inputs(_store())
    frame = score_frame(inputs.feature_builder(), champion.model, day, LabelSpec.from_settings(settings),
                        school)
    if school is not None and not len(frame):
        raise UserError(f"no pupils on roll at school {school!r} on {day}")
    table = score_table(with_reasons(frame, champion.model, language=language))
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    typer.echo(f"scored {len(table)} pupils as of {day} with {champion.label} -> {out}")


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
