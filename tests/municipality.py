"""A small in-memory municipality for model tests: frames and a register matrix, no files.

Two schools, a few classes, two school years; most pupils have a low, noisy absence, a few
escalate after early signs, some carry teacher concerns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.calendar import danish_school_days
from model.inputs import Inputs
from model.register import Register

YEARS = ("2023/24", "2024/25")


@dataclass
class SmallMunicipality(Inputs):
    escalating: np.ndarray = None  # pupil ids that escalate


def small_municipality(n_pupils: int = 120, seed: int = 0, years=YEARS) -> SmallMunicipality:
    rng = np.random.default_rng(seed)
    ids = np.array([f"T{i:04d}" for i in range(n_pupils)], dtype=object)
    days = np.array([d for y in years for d in danish_school_days(y)], dtype="datetime64[D]")
    n_days = len(days)
    base = rng.gamma(2.0, 0.02, size=n_pupils)
    escalate = rng.random(n_pupils) < 0.15
    onset = rng.integers(40, n_days - 80, size=n_pupils)
    t = np.arange(n_days)[None, :]
    p = base[:, None] + escalate[:, None] * np.clip((t - onset[:, None]) / 60.0, 0, 1) * 0.35
    absent_day = rng.random((n_pupils, n_days)) < p
    partial = rng.random((n_pupils, n_days)) < 0.01
    category = rng.choice([2, 3, 4], size=(n_pupils, n_days), p=[0.6, 0.25, 0.15])
    category[escalate[:, None] & (t > onset[:, None]) & (rng.random((n_pupils, n_days)) < 0.5)] = 4
    status = np.where(absent_day, category, np.where(partial, 2, 1)).astype(np.int8)
    absent = np.where(absent_day, 1.0, np.where(partial, 0.5, 0.0)).astype(np.float32)
    register = Register(ids, days, status, absent)
    enrol_rows = []
    for k, year in enumerate(years):
        for i, pid in enumerate(ids):
            school = "S1" if i % 2 == 0 else "S2"
            grade = (i % 9) + k
            enrol_rows.append((pid, year, school, grade, f"{school}-{year[:4]}-{grade}A", i % 11 == 0))
    enrolments = pd.DataFrame(enrol_rows, columns=["pupil_id", "school_year", "school_id", "grade",
                                                   "class_id", "special_needs"])
    conc = []
    for i in np.flatnonzero(escalate):
        d = days[min(onset[i] + 10, n_days - 1)]
        conc.append((ids[i], pd.Timestamp(d), "teacher", "wellbeing", 2))
    concerns = pd.DataFrame(conc, columns=["pupil_id", "date", "source", "category", "severity"])
    classes = enrolments[["class_id", "school_year"]].drop_duplicates()
    wellbeing = classes.assign(social=rng.uniform(3, 4.5, len(classes)), academic=3.8,
                               calm_order=3.5, support=3.6)
    pupils = pd.DataFrame({"pupil_id": ids, "birth_date": None,
                           "gender": np.where(np.arange(n_pupils) % 2, "F", "M")})
    return SmallMunicipality(register, enrolments, concerns, wellbeing, pupils, ids[escalate])


def truncated(m: Inputs, before) -> Inputs:
    """What the store would hold if nothing on or after `before` had been ingested."""
    ts = pd.Timestamp(before)
    reg = m.register.select_days(before)
    keep_rows = reg.status.any(axis=1)
    reg = Register(reg.pupil_ids[keep_rows], reg.days, reg.status[keep_rows], reg.absent[keep_rows])
    year = f"{ts.year if ts.month >= 8 else ts.year - 1}"
    enrol = m.enrolments[m.enrolments["school_year"].str[:4] <= year]
    return Inputs(reg, enrol, m.concerns[pd.to_datetime(m.concerns["date"]) < ts],
                  m.class_wellbeing, m.pupils)

