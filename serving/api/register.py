"""A pushed register day: one school's entries for one school day, taken all or none.

The entries are checked against the school's enrolments first (a pupil not enrolled at the school
in that school year is refused with the same words whether or not the pupil exists elsewhere),
then written as a one-day delivery in the data contract's files and ingested by
`serving.ingest.ingest_folder`: the same rules, the same register merge, one transaction. CPR
numbers are pseudonymised before anything is written, even to the temporary folder. Problems name
the entry (`row`: the index into `entries`) and the column.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from sqlalchemy import Engine

from model.calendar import school_year_of
from model.contract import FILES
from model.errors import Problem, UserError
from model.identifiers import cpr_digits, id_problem
from model.pseudonym import parse_cpr, pseudonymise
from model.settings import Settings
from serving.api.schemas import RegisterPush
from serving.risk import enrolled_pupils

ENTRIES = "entries"


def _problem(row: int, column: str | None, rule: str) -> Problem:
    return Problem(ENTRIES, rule, row, column)


def push_register(settings: Settings, engine: Engine, push: RegisterPush) -> dict:
    """Validate and load the day; UserError naming entries[row] and column if any rule breaks."""
    key = settings.secret_key()
    school_year = school_year_of(push.date)
    problems: list[Problem] = []
    ids: list[str] = []
    for row, entry in enumerate(push.entries):
        raw = entry.pupil_id.strip()
        if cpr_digits(raw) is not None:
            if parse_cpr(raw) is None:
                problems.append(_problem(row, "pupil_id", "pupil_id has the shape of a CPR "
                                         "number but no valid birth date"))
        elif (rule := id_problem(raw)) is not None:
            problems.append(_problem(row, "pupil_id", f"pupil_id {rule}"))
            ids.append("")
            continue
        ids.append(pseudonymise(raw, key))
    distinct = sorted(set(ids))
    enrolled = enrolled_pupils(engine, push.school_id, school_year, distinct)
    for row, pupil in enumerate(ids):
        if pupil and pupil not in enrolled and not any(p.line == row for p in problems):
            problems.append(_problem(row, "pupil_id", f"pupil is not enrolled at school "
                                     f"{push.school_id} in school year {school_year}"))
    if problems:
        raise UserError(problems[:20])

    from serving.ingest import ingest_folder

    with tempfile.TemporaryDirectory(prefix="ews-register-") as tmp:
        folder = Path(tmp)
        for spec in FILES:
            if spec.required and spec.name != "attendance":
                (folder / spec.csv).write_text(",".join(spec.required_columns) + "\n")
        with open(folder / "attendance.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["pupil_id", "date", "status", "absent_fraction"])
            for pupil, entry in zip(ids, push.entries, strict=True):
                fraction = ("" if entry.absent_fraction is None
                            else repr(float(entry.absent_fraction)))
                writer.writerow([pupil, push.date.isoformat(), entry.status, fraction])
        try:
            # A push is the school's newest word on its day, even if it repeats an older one.
            result = ingest_folder(settings, engine, folder, force=True)
        except UserError as err:
            raise UserError([_entry_problem(p) for p in err.problems]) from None
    return {"school_id": push.school_id, "date": push.date, "entries": len(push.entries),
            "changed": result.changed, "batch_id": result.batch_id}


def _entry_problem(problem: Problem) -> Problem:
    """A contract problem of the written attendance file, as a problem of entries[row]."""
    if problem.file == "attendance.csv" and problem.line is not None and problem.line >= 2:
        return _problem(problem.line - 2, problem.column, problem.rule)
    return Problem(ENTRIES, problem.rule, None, problem.column)
