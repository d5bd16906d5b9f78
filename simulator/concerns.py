"""Stages 5 and 6: coded concerns and the class means of the national wellbeing survey."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from model.calendar import (
    parse_school_year,
)
from simulator.parameters import CHRONIC, ESCALATING
from simulator.register import DemoPlan

CONCERN_COLUMNS = ["pupil_id", "date", "source", "category", "severity"]
BACKGROUND_SOURCES = np.array(
    ["teacher", "parent", "health", "social", "pupil", "other"], dtype=object
)
BACKGROUND_WEIGHTS = [0.45, 0.2, 0.1, 0.1, 0.05, 0.1]
BACKGROUND_CATEGORIES = {
    "teacher": ["academic", "behaviour", "wellbeing", "social"],
    "parent": ["wellbeing", "health", "family", "social"],
    "health": ["health", "wellbeing"],
    "social": ["family", "wellbeing"],
    "pupil": ["wellbeing", "bullying", "social"],
    "other": ["other", "behaviour"],
}


def build_concerns(plan: DemoPlan, rng: np.random.Generator) -> pd.DataFrame:
    """Stage 5: coded concerns (no free text).

    Escalating pupils: four in five are noticed by a teacher, 1-3 concerns from shortly before
    the onset through the ramp, categories wellbeing/social/bullying (bullying more in poor
    class climates) and rising severity; some parents and school nurses report too. Everyone
    else: a low background rate of concerns of all kinds (higher for special needs), and
    health concerns for chronic illness, so that a concern alone is not a sure sign.
    """
    cal, pop, risk = plan.calendar, plan.population, plan.risk
    D = len(cal.days)
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("pupil", "day", "source", "category", "severity")
    }

    def add(pupil, day, source, category, severity) -> None:
        cols["pupil"].append(np.asarray(pupil))
        cols["day"].append(np.asarray(day))
        cols["source"].append(np.broadcast_to(np.asarray(source, dtype=object), np.shape(pupil)))
        cols["category"].append(
            np.broadcast_to(np.asarray(category, dtype=object), np.shape(pupil))
        )
        cols["severity"].append(np.broadcast_to(np.asarray(severity), np.shape(pupil)))

    if D == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CONCERN_COLUMNS})
    esc = np.flatnonzero((risk.kind == ESCALATING) & (rng.random(len(risk.kind)) < 0.8))
    count = 1 + rng.binomial(2, 0.5, len(esc))
    who = np.repeat(esc, count)
    order = np.arange(len(who)) - np.repeat(np.cumsum(count) - count, count)
    first = risk.onset[esc] + (rng.uniform(-0.3, 0.5, len(esc)) * risk.ramp[esc]).astype(int)
    gaps = rng.integers(8, 26, len(who))
    day = np.repeat(first, count) + np.where(order > 0, gaps * order, 0)
    severity = np.minimum(rng.integers(1, 3, len(who)) + order, 3)
    year = cal.year[np.clip(day, 0, max(D - 1, 0))]
    climate = pop.classes["climate"].to_numpy()[np.maximum(pop.class_code[who, year], 0)]
    p_bully = np.where(climate < -0.5, 0.35, 0.15)
    u = rng.random(len(who))
    category = np.where(u < p_bully, "bullying", np.where(u < p_bully + 0.3, "social", "wellbeing"))
    add(who, day, "teacher", category.astype(object), severity)
    parent = esc[rng.random(len(esc)) < 0.25]
    add(
        parent,
        risk.onset[parent] + (rng.uniform(0.3, 1.0, len(parent)) * risk.ramp[parent]).astype(int),
        "parent",
        np.where(rng.random(len(parent)) < 0.6, "wellbeing", "health").astype(object),
        2,
    )
    nurse = esc[rng.random(len(esc)) < 0.1]
    add(
        nurse,
        risk.onset[nurse] + (rng.uniform(0.2, 1.2, len(nurse)) * risk.ramp[nurse]).astype(int),
        "health",
        "wellbeing",
        2,
    )

    # Background: per enrolled pupil-year, a small chance of a concern on a random school day.
    n, years = pop.grade.shape
    for y in range(years):
        lo, hi = cal.year_start[y], cal.year_stop[y]
        if hi <= lo:
            continue
        climate = np.where(
            pop.class_code[:, y] >= 0,
            pop.classes["climate"].to_numpy()[np.maximum(pop.class_code[:, y], 0)],
            0.0,
        )
        p = 0.035 * np.where(pop.special_needs[:, y], 2.0, 1.0) * np.where(climate < -0.5, 1.3, 1.0)
        p *= (hi - lo) / 200.0
        pick = np.flatnonzero((pop.grade[:, y] >= 0) & (rng.random(n) < p))
        source = BACKGROUND_SOURCES[rng.choice(6, len(pick), p=BACKGROUND_WEIGHTS)]
        category = np.array(
            [
                BACKGROUND_CATEGORIES[s][k % len(BACKGROUND_CATEGORIES[s])]
                for s, k in zip(source, rng.integers(0, 12, len(pick)), strict=True)
            ],
            dtype=object,
        )
        severity = rng.choice([1, 2, 3], len(pick), p=[0.7, 0.25, 0.05])
        add(pick, rng.integers(lo, hi, len(pick)), source, category, severity)
        sick = np.flatnonzero(
            (risk.kind == CHRONIC)
            & (pop.grade[:, y] >= 0)
            & (rng.random(n) < 0.3 * (hi - lo) / 200)
        )
        add(
            sick,
            rng.integers(lo, hi, len(sick)),
            np.where(rng.random(len(sick)) < 0.5, "health", "parent").astype(object),
            "health",
            1,
        )

    pupil = np.concatenate(cols["pupil"]).astype(int)
    day = np.concatenate(cols["day"]).astype(int)
    inside = (day >= 0) & (day < D)
    pupil, day = pupil[inside], day[inside]
    keep = pop.grade[pupil, cal.year[day]] >= 0  # only while enrolled
    frame = pd.DataFrame(
        {
            "pupil_id": pop.pupil_ids[pupil[keep]],
            "date": cal.days[day[keep]],
            "source": np.concatenate(cols["source"])[inside][keep],
            "category": np.concatenate(cols["category"])[inside][keep],
            "severity": np.concatenate(cols["severity"]).astype(np.int64)[inside][keep],
        }
    )
    frame = frame.drop_duplicates(["pupil_id", "date", "source", "category"])
    return frame.sort_values(["date", "pupil_id"], kind="stable").reset_index(drop=True)[
        CONCERN_COLUMNS
    ]


# --- 6. class wellbeing ------------------------------------------------------------------------


def build_class_wellbeing(plan: DemoPlan, rng: np.random.Generator) -> pd.DataFrame:
    """Stage 6: the national wellbeing survey's four indicators per class (1-5), from the class
    climate plus sampling noise. The survey runs January-March, so a school year's results
    exist only once `until` is past 1 April; a few values are blank (not reported)."""
    cal, classes = plan.calendar, plan.population.classes
    available = np.array(
        [cal.until >= date(parse_school_year(label) + 1, 4, 1) for label in cal.school_years]
    )
    rows = classes[available[classes["year"].to_numpy()]] if len(classes) else classes
    c = rows["climate"].to_numpy()
    frame = pd.DataFrame(
        {
            "class_id": rows["class_id"].to_numpy(),
            "school_year": np.array(cal.school_years, dtype=object)[rows["year"].to_numpy()],
        }
    )
    for name, mean, load in (
        ("social", 3.95, 0.28),
        ("academic", 3.75, 0.18),
        ("calm_order", 3.45, 0.34),
        ("support", 3.8, 0.22),
    ):
        value = np.clip(mean + load * c + rng.normal(0.0, 0.08, len(c)), 1.0, 5.0).round(2)
        value[rng.random(len(c)) < 0.02] = np.nan
        frame[name] = value
    for column in ("class_id", "school_year"):
        frame[column] = frame[column].astype(pd.StringDtype("pyarrow", na_value=np.nan))
    return frame.reset_index(drop=True)
