"""`ews weekly` and `ews recipients` (issue 14): the weekly job and who its mails go to.

Registered on the main app by `ews.cli` (`register(app)`); uses its settings, store and user-error
handling. Exit codes of `ews weekly`: 0 ok, 3 done but monitoring alarmed, 2 user error, 1 failure
(monitoring failed, mail still owed after every retry, or an unexpected error).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ews.app import Week, _settings, _store, user_errors

recipients_app = typer.Typer(help="Who is told that a week's list is ready (e-mail).",
                             no_args_is_help=True)


@user_errors
def weekly(
    week: Week = None,
    drop: Annotated[
        Path | None, typer.Option("--drop", help="the drop folder (default: EWS_HOME/inbox)")
    ] = None,
    log_to_mlflow: Annotated[bool, typer.Option("--mlflow/--no-mlflow",
                                                help="log the monitoring run to MLflow")] = True,
) -> None:
    """The whole week: take the new deliveries from the drop folder in order (each
    all-or-nothing; done/ or rejected/ with the reason beside it), monitor, cut and store the
    lists, and mail the teams and analysts. Safe to run again. Exit 0 ok, 3 done but monitoring
    alarmed, 2 user error, 1 failure."""
    import logging

    from serving.flags import resolve_week
    from serving.weekly import run_weekly

    settings = _settings()
    resolve_week(week)  # a bad week fails before anything is touched
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")

    def log_monitoring(result):
        if log_to_mlflow:
            from training.tracking import log_monitoring as log_run

            log_run(settings, result.summary(), result.psi, result.schools, result.precision)

    run = run_weekly(settings, _store(), week, drop, log_monitoring=log_monitoring,
                     echo=lambda line: typer.echo(line, err=True))
    for line in run.lines():
        typer.echo(line)
    typer.echo(f"status: {run.status}, exit {run.exit_code}", err=True)
    if run.exit_code:
        raise typer.Exit(run.exit_code)


@recipients_app.command("add")
@user_errors
def recipients_add(
    email: Annotated[str, typer.Option("--email", help="the address")],
    school: Annotated[str | None, typer.Option("--school", help="the team's school")] = None,
    role: Annotated[str, typer.Option("--role", help="team (one school) or analyst")] = "team",
) -> None:
    """Add a recipient: a school's detection team, or an analyst (--role analyst, no --school)."""
    from serving.audit import record
    from serving.mail import RECIPIENT_ADD, add_recipient

    engine = _store()
    added = add_recipient(engine, email, role, school)
    record(engine, _settings().secret_key(), actor="cli:recipients", role="admin",
           action=RECIPIENT_ADD, school_id=added["school_id"],
           detail={"recipient_id": added["id"], "email": added["email"], "role": added["role"]})
    typer.echo(f"recipient {added['id']}: {added['email']} ({added['role']}"
               f"{', school ' + added['school_id'] if added['school_id'] else ''})")


@recipients_app.command("list")
@user_errors
def recipients_list() -> None:
    """List the recipients (id, role, school, address)."""
    from serving.mail import list_recipients

    rows = list_recipients(_store())
    for r in rows:
        typer.echo(f"{r['id']:>4}  {r['role']:<8} {r['school_id'] or '-':<10} {r['email']}")
    typer.echo(f"{len(rows)} recipients", err=True)


@recipients_app.command("remove")
@user_errors
def recipients_remove(
    email: Annotated[str, typer.Option("--email", help="the address")],
    school: Annotated[str | None, typer.Option("--school", help="only as this school's team")] = None,
    role: Annotated[str | None, typer.Option("--role", help="only in this role")] = None,
) -> None:
    """Remove a recipient (mail still owed to the address is cancelled)."""
    from serving.audit import record
    from serving.mail import RECIPIENT_REMOVE, remove_recipient

    engine = _store()
    key = _settings().secret_key()
    for r in remove_recipient(engine, email, school, role):
        record(engine, key, actor="cli:recipients", role="admin", action=RECIPIENT_REMOVE,
               school_id=r["school_id"],
               detail={"recipient_id": r["id"], "email": r["email"], "role": r["role"]})
        typer.echo(f"removed recipient {r['id']}: {r['email']} ({r['role']}"
                   f"{', school ' + r['school_id'] if r['school_id'] else ''})")


def register(app: typer.Typer) -> None:
    """Add `weekly` and `recipients` to the main command line."""
    app.command("weekly")(weekly)
    app.add_typer(recipients_app, name="recipients")
