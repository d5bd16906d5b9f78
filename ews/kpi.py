"""`ews kpi`: the municipality's figures as kpi.csv and kpi.xlsx (serving.kpi, model.kpi)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from model.errors import UserError


def kpi(
    out: Annotated[Path, typer.Option("--out", help="folder to write kpi.csv and kpi.xlsx to")],
    school_year: Annotated[
        str | None, typer.Option("--school-year", help="only this school year, e.g. 2024/25 "
                                                       "(default: every school year)")] = None,
    language: Annotated[str, typer.Option(help="language of the Excel file: da or en")] = "da",
) -> None:
    """KPIs per school and for the whole municipality (ALL), per school year and quarter,
    against the baseline year and the targets; what the weekly lists led to. Aggregates only;
    counts of 1-4 pupils are blank."""
    from ews.app import _settings, _store
    from model.calendar import parse_school_year
    from model.kpi import KpiSpec
    from model.kpi_report import compute_report
    from serving.kpi import EXPORT_KPI, audit_read, write_kpi

    if language not in ("da", "en"):
        raise UserError(f"--language must be da or en, not {language!r}")
    if school_year is not None:
        try:
            parse_school_year(school_year)
        except ValueError as err:
            raise UserError(f"--school-year: {err}") from None
    settings = _settings()
    engine = _store()
    report = compute_report(engine, KpiSpec.from_settings(settings), school_year)
    if school_year is not None and school_year not in report.school_years:
        raise UserError(f"--school-year {school_year}: nothing is registered for it (the "
                        f"register holds {', '.join(report.school_years) or 'no school year'})")
    paths = write_kpi(report, out, language)
    audit_read(engine, settings.secret_key(), actor="cli:kpi", role="admin", action=EXPORT_KPI,
               report=report, formats=["csv", "xlsx"])
    typer.echo(f"{len(report.rows)} KPI rows ({report.school_year or 'every school year'}, "
               f"baseline {report.baseline}) -> {', '.join(str(p) for p in paths)}")


def register(app: typer.Typer, user_errors) -> None:
    """Add `ews kpi` to the command line."""
    app.command("kpi")(user_errors(kpi))
