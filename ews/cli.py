"""The `ews` command line: the one place that calls both training and serving.

Every command exits 0 on success; a user error prints one line on standard error and exits 2.
Heavy libraries (mlflow, shap) are imported inside the commands that need them.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from ews.app import Week, _settings, _store, app, user_errors  # noqa: F401 - the commands' shared helpers
from model.errors import UserError
from model.progress import Steps


@app.command("demo-data")
@user_errors
def demo_data(
    out_dir: Annotated[Path, typer.Argument(help="folder to write the contract's CSV files to")],
    pupils: Annotated[int, typer.Option(
        min=10, help="pupils on roll in the last school year (more were enrolled over the years)")
    ] = 6000,
    schools: Annotated[int, typer.Option(min=1, help="number of schools")] = 12,
    years: Annotated[int, typer.Option(min=1, max=10, help="number of school years")] = 3,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    until: Annotated[
        str | None, typer.Option(help="last day of the register, YYYY-MM-DD (default: yesterday)")
    ] = None,
    cpr: Annotated[bool, typer.Option(help="synthetic CPR numbers as pupil ids")] = False,
    trend: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="absence rising year on year: the hazards grow by this share a year")] = 0.0,
    base_rate: Annotated[float, typer.Option(
        min=0.1, max=10.0, help="escalations to concerning absence, times the demo's")] = 1.0,
) -> None:
    """Write a realistic demo municipality in the data contract's files (and, under _truth/, the
    generator's latent risk per pupil and week for evaluation; not part of the contract)."""
    from simulator import write_demo_municipality

    try:
        summary = write_demo_municipality(
            out_dir, pupils=pupils, schools=schools, years=years, seed=seed,
            until=_parse_date(until, "--until"), cpr=cpr, trend=trend, base_rate=base_rate,
        )
    except ValueError as err:
        raise UserError(str(err)) from None
    typer.echo(summary)


@app.command()
@user_errors
def ingest(
    folder: Annotated[Path, typer.Argument(help="folder with the data contract's files")],
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    force: Annotated[bool, typer.Option(
        "--force", help="re-apply an earlier delivery even where a later one changed its rows")
    ] = False,
) -> None:
    """Validate and load a folder in the data contract (all-or-nothing, idempotent)."""
    from serving.ingest import ingest_folder

    if not folder.is_dir():  # before the store is opened: a typo creates no empty store
        raise UserError(f"{folder} is not a folder")
    result = ingest_folder(_settings(), _store(), folder, progress=progress and sys.stderr.isatty(),
                           force=force)
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
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="train on what was known before this date")
    ] = None,
) -> None:
    """Build features and labels, train, evaluate on later as-of dates, log to MLflow, register a
    version and make it the champion if it passes the promotion gates."""
    from model.inputs import load_inputs
    from training.feedback import load_feedback
    from training.pipeline import train_and_evaluate
    from training.tracking import log_and_register

    settings = _settings()
    engine = _store()
    inputs = load_inputs(engine)
    if not len(inputs.register.pupil_ids):
        raise UserError("nothing is ingested yet: run `ews ingest DIR` first")
    from training.progress import TrainProgress

    steps = 1 + settings.backtest_folds * (1 + settings.train_grid_size) + 3
    with TrainProgress(steps) as progress:
        result = train_and_evaluate(inputs, settings, as_of=_parse_date(as_of, "--as-of"),
                                    feedback=load_feedback(engine), progress=progress)
        progress("MLflow: model, report, SHAP plots")
        outcome = log_and_register(result, settings)
    from model.registry import CHALLENGER, CHAMPION

    table = result.comparison
    model_row, rule_row = table.loc["model"], table.loc[result.best_rule]
    typer.echo(f"registered {settings.registered_model_name} version {outcome.version} "
               f"as {CHAMPION if outcome.promoted else CHALLENGER}")
    for reason in outcome.gate_reasons:
        typer.echo(f"  - {reason}")
    typer.echo(f"backtest mean over {len(result.folds)} folds: precision at list length "
               f"{model_row['precision_at_capacity']:.3f} vs {rule_row['precision_at_capacity']:.3f} "
               f"({result.best_rule}); ROC AUC {model_row['roc_auc']:.3f} vs {rule_row['roc_auc']:.3f}; "
               f"median lead time {model_row['lead_median_weeks']:.1f} vs "
               f"{rule_row['lead_median_weeks']:.1f} weeks; listed >= 2 weeks ahead "
               f"{model_row['lead_share']:.0%} vs {rule_row['lead_share']:.0%}; "
               f"ECE max {result.calibration['ece_max']:.3f}")
    for fold in result.folds:
        f = {k: (float("nan") if v is None else v) for k, v in fold.summary().items()}
        typer.echo(f"  fold {f['fold']} {f['test_window']}: precision at list length "
                   f"{f['precision']:.3f} vs {f['best_rule_precision']:.3f} ({f['best_rule']}), "
                   f"lift {f['lift']:.2f}x; ROC AUC {f['roc_auc']:.3f} vs {f['best_rule_roc_auc']:.3f}; "
                   f"ECE {f['ece']:.3f}")
    typer.echo(f"trained on as-of dates {result.train_window[0]}..{result.train_window[1]} "
               f"({len(result.split.train)} weeks, every closed label window); hyperparameters "
               + ", ".join(f"{k} {v}" for k, v in result.chosen.items() if k != "precision_at_capacity"))
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
    with Steps("score", 5) as steps:
        steps.next("loading the champion")
        champion = load_champion(settings)
        engine = _store()
        steps.next("reading the register")
        inputs = load_inputs(engine)
        steps.next("features and risk")
        frame = score_frame(inputs.feature_builder(), champion.model, day,
                            LabelSpec.from_settings(settings), school)
        if school is not None and not len(frame):
            raise UserError(f"no pupils on roll at school {school!r} on {day}")
        steps.next("reasons")
        table = score_table(with_reasons(frame, champion.model, language=language))
        steps.next(f"writing {out.name}")
        from model.files import private_file  # creates missing folders owner-only too

        table.to_csv(private_file(out), index=False)  # personal data: the owner's only
    from serving.audit import EXPORT_SCORES, record

    record(engine, settings.secret_key(), actor="cli:score", role="admin", action=EXPORT_SCORES,
           school_id=school, pupils=table["pupil_id"].tolist(),
           detail={"as_of": day.isoformat(), "rows": len(table), "language": language,
                   "model_version": champion.version})
    typer.echo(f"scored {len(table)} pupils as of {day} with {champion.label} -> {out}")


@app.command()
@user_errors
def flags(
    out: Annotated[Path, typer.Option("--out", help="folder to write the lists to")],
    week: Annotated[
        str | None, typer.Option("--week", help="ISO week like 2024-W42 (default: this week)")
    ] = None,
    school: Annotated[str | None, typer.Option("--school", help="only this school")] = None,
    language: Annotated[str, typer.Option(help="language of the lists: da or en")] = "da",
) -> None:
    """Write the weekly flag lists, one per school, as CSV, Excel and printable HTML."""
    from serving.audit import EXPORT_FLAGS, record
    from serving.champion import load_champion
    from serving.exports import export_flag_lists
    from serving.flags import build_weekly_lists, resolve_week
    from serving.stored_lists import LANGUAGES, stored_flag_list

    if language not in LANGUAGES:
        raise UserError(f"--language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    settings = _settings()
    resolve_week(week)  # a bad week fails before the model is loaded
    engine = _store()
    with Steps("flags", 3) as steps:
        steps.next("loading the champion")
        try:
            champion = load_champion(settings)
        except UserError:  # no champion yet: the rules' sections still go out (issue 12)
            from serving.stored_lists import WAITS_FOR_MODEL

            champion = None
            typer.echo(f"note: {WAITS_FOR_MODEL}", err=True)
        steps.next("scoring, cutting the lists")
        lists = build_weekly_lists(settings, engine, champion, week, school)
        steps.next("writing the lists")
        # One run's files are written to a temporary folder and moved into place together.
        stored = [stored_flag_list(engine, fl.school_id, fl.week, language) for fl in lists]
        written = export_flag_lists(stored, out, language, threshold=settings.concern_threshold,
                                    horizon=settings.horizon_days, trailing=settings.trailing_days)
    for flag_list, paths in zip(lists, written, strict=True):
        record(engine, settings.secret_key(), actor="cli:flags", role="admin",
               action=EXPORT_FLAGS, school_id=flag_list.school_id,
               pupils=flag_list.pupils(),
               detail={"week": flag_list.week, "language": language, "rows": len(flag_list.pupils()),
                       "formats": [p.suffix[1:] for p in paths]})
        typer.echo(f"{flag_list.summary()} -> {paths[0].with_suffix('.{csv,xlsx,html}')}")


@app.command()
@user_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    model_poll_seconds: Annotated[
        float, typer.Option(help="how often to check the registry for a new champion (0: never)")
    ] = 30.0,
) -> None:
    """Run the HTTP API (one worker; OpenMP/BLAS limited to EWS_THREADS threads)."""
    import os

    settings = _settings()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(settings.threads))
    import uvicorn

    from serving.app import create_app, install_log_redaction, log_through_a_queue

    api = create_app(settings, poll_seconds=model_poll_seconds, freeze_gc=True)
    install_log_redaction()
    listener = log_through_a_queue()
    typer.echo(f"serving on http://{host}:{port} (OpenAPI at /docs, team pages at /pages/)",
               err=True)
    # Our own access lines name path templates only; uvicorn's would carry pupil ids.
    try:
        uvicorn.run(api, host=host, port=port, workers=1, access_log=False)
    finally:
        listener.stop()


token_app = typer.Typer(help="Bearer tokens for the HTTP API.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
@user_errors
def token_create(
    role: Annotated[str, typer.Option(help="school, team, analyst, admin or municipality "
                                           "(aggregates only)")],
    school: Annotated[str | None, typer.Option(help="the school (school and team tokens)")] = None,
    name: Annotated[
        str | None, typer.Option(help="a name for the audit log (not a person's)")
    ] = None,
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="valid for this long, e.g. 90d, 12h, 2w "
                                                      "(default: until revoked)")
    ] = None,
) -> None:
    """Print a new bearer token (shown once; only its hash is stored)."""
    from serving.audit import TOKEN_CREATE, record
    from serving.auth import create_token, parse_duration

    lifetime = parse_duration(expires_in) if expires_in is not None else None
    engine = _store()
    created = create_token(engine, role, school, name, lifetime)
    record(engine, _settings().secret_key(), actor="cli:token", role="admin", action=TOKEN_CREATE,
           school_id=created.school_id, detail={"token_id": created.id, "role": created.role})
    expiry = f", expires {created.expires_at:%Y-%m-%d %H:%M} UTC" if created.expires_at else ""
    typer.echo(f"token {created.id} {created.name!r} ({created.role}"
               f"{', school ' + created.school_id if created.school_id else ''}{expiry})",
               err=True)
    typer.echo(created.token)


@token_app.command("revoke")
@user_errors
def token_revoke(which: Annotated[str, typer.Argument(help="the token's id or name")]) -> None:
    """Revoke a token: it stops working at once."""
    from serving.audit import TOKEN_REVOKE, record
    from serving.auth import revoke_token

    engine = _store()
    ids = revoke_token(engine, which)
    record(engine, _settings().secret_key(), actor="cli:token", role="admin", action=TOKEN_REVOKE,
           detail={"token_id": ids[0]})
    typer.echo(f"revoked token {ids[0]}")


@token_app.command("list")
@user_errors
def token_list() -> None:
    """List the tokens (id, name, role, school, created, revoked or expiry); never a secret."""
    from datetime import UTC, datetime

    from serving.auth import list_tokens

    now = datetime.now(UTC)
    for t in list_tokens(_store()):
        if t["revoked_at"]:
            state = f"revoked {t['revoked_at']:%Y-%m-%d %H:%M}"
        elif t["expires_at"] and t["expires_at"] <= now:
            state = f"expired {t['expires_at']:%Y-%m-%d %H:%M}"
        elif t["expires_at"]:
            state = f"active, expires {t['expires_at']:%Y-%m-%d %H:%M}"
        else:
            state = "active"
        typer.echo(f"{t['id']:>4}  {t['name']:<28} {t['role']:<8} {t['school_id'] or '-':<10} "
                   f"created {t['created_at']:%Y-%m-%d %H:%M}  {state}")


@app.command()
@user_errors
def audit(
    since: Annotated[str | None, typer.Option(help="only entries from this date on")] = None,
    pupil: Annotated[str | None, typer.Option(help="only entries about this pupil (CPR number "
                                                   "or pseudonym)")] = None,
) -> None:
    """Print the audit log: who read or exported pupil-level data, or reviewed a flag, when."""
    import json

    from serving.audit import entries

    settings = _settings()
    rows = entries(_store(), settings.secret_key(), _parse_date(since, "--since"), pupil)
    for r in rows:
        detail = json.dumps(r["detail"], ensure_ascii=False, sort_keys=True) if r["detail"] else ""
        typer.echo(f"{r['at']:%Y-%m-%d %H:%M:%S}  {r['actor']:<24} {r['role']:<8} "
                   f"{r['school_id'] or '-':<10} {r['action']:<16} {r['pupil_marker'] or '-':<26} "
                   f"{detail}")
    typer.echo(f"{len(rows)} entries", err=True)


# -- Monitoring, retention and erasure (issue 7) -------------------------------------------------

MONITOR_ALARM_EXIT = 3  # drift or a precision drop past the configured limits (0 for ok/warning)


@app.command()
@user_errors
def monitor(
    week: Week = None,
    log_to_mlflow: Annotated[bool, typer.Option("--mlflow/--no-mlflow",
                                                help="log the run to MLflow")] = True,
) -> None:
    """Compare the week's features and scores with the champion's training window (PSI per
    feature, share flagged per school) and judge the realised precision of past lists against
    the rules. Exit 0 when ok or only shifted (warning lines), 3 on an alarm (drift above the
    limit or precision below the rules), 2 on a user error."""
    from serving.champion import load_champion
    from serving.flags import resolve_week
    from serving.monitoring import champion_reference, monitor_week, store_monitoring, table_lines

    settings = _settings()
    resolve_week(week)  # a bad week fails before the model is loaded
    engine = _store()
    with Steps("monitor", 4 if log_to_mlflow else 3) as steps:
        steps.next("loading the champion")
        champion = load_champion(settings)
        reference = champion_reference(settings, champion.version)
        steps.next("the week vs the training window")
        result = monitor_week(settings, engine, champion, reference, week)
        steps.next("storing the run")
        store_monitoring(engine, result)
        if log_to_mlflow:
            from training.tracking import log_monitoring

            steps.next("logging to MLflow")
            log_monitoring(settings, result.summary(), result.psi, result.schools, result.precision)
    for line in table_lines(result):
        typer.echo(line)
    for line in result.warnings:
        typer.echo(f"warning: {line}", err=True)
    typer.echo(f"status: {result.status}", err=True)
    if result.status == "alarm":
        raise typer.Exit(MONITOR_ALARM_EXIT)


retention_app = typer.Typer(help="Delete what is older than the retention windows.",
                            no_args_is_help=True)
app.add_typer(retention_app, name="retention")


@retention_app.command("apply")
@user_errors
def retention_apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only; delete nothing")] = False,
) -> None:
    """Delete scores, lists, reviews and register data older than their windows, and audit
    entries older than the audit log's own window; print the counts per table."""
    from serving.retention import apply_retention

    result = apply_retention(_settings(), _store(), dry_run=dry_run)
    for line in result.lines():
        typer.echo(line)


@app.command()
@user_errors
def erase(
    pupil: Annotated[str, typer.Option("--pupil", help="the pupil's CPR number or pseudonym")],
) -> None:
    """Remove a pupil everywhere the system keeps data (store, stored lists, exports under
    EWS_HOME), record it in the audit log by the one-way marker only, and tag the models trained
    before for retraining."""
    from serving.erasure import erase_pupil
    from training.tracking import flag_for_retraining

    settings = _settings()
    result = erase_pupil(settings, _store(), pupil)
    for line in result.lines(settings.home_dir):
        typer.echo(line)
    if result.changed:
        versions = flag_for_retraining(settings, f"erasure:{date.today().isoformat()}")
        if versions:
            typer.echo(f"  tagged model versions {', '.join(versions)} needs_retraining "
                       f"(trained with the pupil's data)")


# --- model card (issue 7: notebooks, model card, feedback in evaluation) -------------------------


@app.command("model-card")
@user_errors
def model_card(
    version: Annotated[
        str | None, typer.Argument(help="the registered version (default: the champion)")
    ] = None,
) -> None:
    """Write the model card of a registered version as Markdown and HTML to EWS_HOME/model-cards/."""
    from serving.card import write_model_card

    for path in write_model_card(_settings(), version):
        typer.echo(str(path))


# -- models, promote, rollback (issue 12) ---------------------------------------------------------
from ews import models as _models  # noqa: E402,F401 - registers its commands on `app`

# --- the weekly job and its mail (issue 14) -------------------------------------------------------
from ews.weekly import register as _register_weekly  # noqa: E402 - needs the helpers above

_register_weekly(app)

# -- issue 15: the municipality's view
from ews.kpi import register as _register_kpi  # noqa: E402

_register_kpi(app, user_errors)

# --- the README's examples on a fresh home (issue 17) --------------------------------------------

from ews.hints import demo_hints  # noqa: E402

app.command("demo-hints")(user_errors(demo_hints))


def main() -> None:
    """Console entry point: everything the process creates is the owner's only (umask 077)."""
    import os

    from model.files import UMASK

    os.umask(UMASK)
    app()


if __name__ == "__main__":
    main()
