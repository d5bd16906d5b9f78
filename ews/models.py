"""`ews models`, `ews promote`, `ews rollback` (issue 12): the analysts see every registered
version with its backtest and gate verdicts, and decide which one serves. The decision is made
in training/ (training.promotion) and recorded here in serving's audit log: the command line is
the one place that calls both sides.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ews.app import _settings, _store, app, user_errors
from model.errors import UserError
from model.versions import VersionFacts


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _verdict(passed: bool | None) -> str:
    return {True: "passed", False: "FAILED", None: "-"}[passed]


def version_lines(v: VersionFacts) -> list[str]:
    """One row for the version, then its folds and gate verdicts indented below it."""
    lift = "-" if v.lift is None else f"{v.lift:.2f}x"
    lines = [f"{v.version:>7}  {', '.join(v.aliases) or '-':<20} {v.train_window or '-':<24} "
             f"{lift:>6} {_num(v.roc_auc, '.3f'):>6} {_num(v.ece, '.3f'):>6}  "
             f"{_verdict(v.gates_passed)}"]
    for f in v.folds:
        window = f" {f.test_window}" if f.test_window else ""
        lines.append(f"{'':9}fold {f.fold}{window}: lift "
                     f"{'-' if f.lift is None else f'{f.lift:.2f}x'}, AUC {_num(f.roc_auc, '.3f')}"
                     f" (best rule {_num(f.best_rule_roc_auc, '.3f')}), ECE {_num(f.ece, '.3f')}")
    for g in v.gates:
        fold = f" [fold {g.fold}]" if g.fold else ""
        lines.append(f"{'':9}{_verdict(g.passed):<6} {g.gate}{fold}: {g.text or '-'}")
    return lines


HEADER = (f"{'version':>7}  {'aliases':<20} {'training window':<24} {'lift':>6} {'AUC':>6} "
          f"{'ECE':>6}  gates")


@app.command("models")
@user_errors
def models() -> None:
    """List the registered versions: training window, backtest figures (lift over the best rule,
    ROC AUC, calibration error; mean, then per fold), gate verdicts and aliases."""
    from training.promotion import registered_versions

    versions = registered_versions(_settings())
    if not versions:
        raise UserError("no model version is registered yet: run `ews train` first")
    typer.echo(HEADER)
    for v in versions:
        for line in version_lines(v):
            typer.echo(line)


def _audit(action: str, move, reason: str | None = None) -> None:
    from serving.audit import analyst_reason, record

    settings = _settings()
    detail = {"version": move.version, "previous": move.previous}
    if reason is not None:
        detail["reason"] = analyst_reason(reason)
    record(_store(), settings.secret_key(), actor=f"cli:{action.split('_')[-1]}", role="analyst",
           action=action, detail=detail)


@app.command("promote")
@user_errors
def promote(
    version: Annotated[str, typer.Argument(help="the registered version to make the champion")],
    reason: Annotated[str, typer.Option("--reason", help="why (about the model, never a pupil; "
                                                         "kept in the audit log)")],
) -> None:
    """Make a registered version the champion: a person's decision, written to the audit log
    with the reason. Refused for a version whose backtest loses to the best rule."""
    from serving.audit import MODEL_PROMOTE, analyst_reason
    from training.promotion import promote as promote_version

    if not analyst_reason(reason):
        raise UserError("--reason must say why the version is promoted")
    move = promote_version(_settings(), version, by="cli:promote")
    _audit(MODEL_PROMOTE, move, reason)
    was = f" (was version {move.previous})" if move.previous else ""
    typer.echo(f"version {move.version} is the champion{was}")


@app.command("rollback")
@user_errors
def rollback() -> None:
    """Make the previous champion the champion again; written to the audit log."""
    from serving.audit import MODEL_ROLLBACK
    from training.promotion import rollback as rollback_version

    move = rollback_version(_settings(), by="cli:rollback")
    _audit(MODEL_ROLLBACK, move)
    typer.echo(f"version {move.version} is the champion again (was version {move.previous})")
