"""The municipality's figures from the store: the register strips, the weekly lists and the
reviews read and reduced to a `KpiReport` (the computation itself is model.kpi).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select

from model.calendar import parse_school_year
from model.kpi import (
    SUMS,
    KpiSpec,
    baseline_year,
    decode_strips,
    follow_up,
    kpi_table,
    list_outcomes,
    school_sums,
    school_years_needed,
)
from model.records import flag_lists, reviews
from model.records import flags as flag_table
from model.register import register_matrix
from model.store import enrolments, register, school_days


@dataclass
class KpiReport:
    """Everything the municipality's view shows, for one school year or all of them."""

    school_year: str | None
    baseline: str | None
    spec: KpiSpec
    rows: pd.DataFrame  # kpi_table
    lists: pd.DataFrame  # list_outcomes
    follow_up: pd.DataFrame  # follow_up
    school_years: list[str]  # every school year in the register


def _tuples_frame(rows, names: list[str]) -> pd.DataFrame:
    """A frame from result rows as plain columns (a frame built from Row objects probes every
    row's attributes: seconds at national scale).
    """
    if not rows:
        return pd.DataFrame({n: [] for n in names})
    columns = {}
    for name, values in zip(names, zip(*rows, strict=True), strict=True):
        # object columns as they come (no conversion of a million ids to another string type)
        column = np.empty(len(values), dtype=object)
        column[:] = values
        columns[name] = column
    return pd.DataFrame(columns, copy=False)


def stored_school_years(engine) -> list[str]:
    """Every school year the register holds, sorted."""
    with engine.connect() as conn:
        return sorted(y for (y,) in conn.execute(select(register.c.school_year).distinct()))


def compute_report(engine, spec: KpiSpec, school_year: str | None = None) -> KpiReport:
    """The KPIs, list outcomes and follow-up from the store. The register strips are read one
    school year at a time (only `school_year` and the baseline year when one is given) and
    reduced to sums per school at once; the listed pupils' strips are kept for the follow-up.
    """
    years = stored_school_years(engine)
    if school_year is not None:
        parse_school_year(school_year)
    baseline = baseline_year(years, spec)
    spec = KpiSpec(**{**spec.__dict__, "baseline": baseline})
    sums, kept = [], []
    with engine.connect() as conn:
        flag_rows = _tuples_frame(conn.execute(select(
            flag_table.c.id, flag_table.c.pupil_id, flag_table.c.section, flag_table.c.risk,
            flag_table.c.band, flag_lists.c.school_id, flag_lists.c.as_of).join_from(
                flag_table, flag_lists, flag_table.c.list_id == flag_lists.c.id)).all(),
            ["id", "pupil_id", "section", "risk", "band", "school_id", "as_of"])
        review_rows = _tuples_frame(conn.execute(select(
            reviews.c.flag_id, reviews.c.pupil_id, reviews.c.decision, reviews.c.decided_on,
            reviews.c.created_at).where(reviews.c.flag_id.is_not(None))).all(),
            ["flag_id", "pupil_id", "decision", "decided_on", "created_at"])
        follow = bool(len(review_rows)) and bool((review_rows["decision"] == "investigate").any())
        listed = set(flag_rows["pupil_id"]) if follow else set()
        for year in school_years_needed(years, spec, school_year):
            # the driver's rows as they come: no Row objects, no frame of a million strips
            cursor = conn.execute(select(register.c.pupil_id, register.c.status,
                                         register.c.absent).where(
                register.c.school_year == year)).cursor
            rows = cursor.fetchall()
            cursor.close()
            pupil_ids = np.empty(len(rows), dtype=object)
            pupil_ids[:] = [r[0] for r in rows]
            status, absent = decode_strips(b"".join([r[1] for r in rows]),
                                           b"".join([r[2] for r in rows]))
            if follow:
                kept += [(r[0], year, bytes(r[1]), bytes(r[2])) for r in rows if r[0] in listed]
            del rows
            cursor = conn.execute(select(enrolments.c.pupil_id, enrolments.c.school_id)
                                  .where(enrolments.c.school_year == year)).cursor
            school_of = dict(cursor.fetchall())
            cursor.close()
            sums.append(school_sums(pupil_ids, year, status, absent, school_of, spec))
            del status, absent, pupil_ids
        days = None
        if follow:
            days = np.array(sorted(d for (d,) in conn.execute(
                select(school_days.c.date).distinct())), dtype="datetime64[D]")
    sums = (pd.concat(sums, ignore_index=True) if sums
            else pd.DataFrame(columns=["school_id", "school_year", "period", "last_day", *SUMS]))
    rows = kpi_table(sums, spec, school_year)
    lists = list_outcomes(flag_rows, review_rows, spec, school_year)
    if follow:
        register_of_listed = register_matrix(
            _tuples_frame(kept, ["pupil_id", "school_year", "status", "absent"]), days)
        follow_rows = follow_up(flag_rows, review_rows, register_of_listed, spec, school_year)
    else:
        follow_rows = follow_up(flag_rows.iloc[:0], review_rows, None, spec)
    return KpiReport(school_year, baseline, spec, rows, lists, follow_rows, years)
