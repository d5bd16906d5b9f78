"""The demo municipality: a seeded, realistic register to develop, test and benchmark against.

The model will learn from this data, so it is not i.i.d. noise but a small latent-risk
simulation whose marginal figures match the public Danish statistics in domain.md (mean absence
about 7 %, a fifth of the pupils over 10 % a year, absence rising with grade, illness peaking in
winter, leave clustering at the breaks, strong persistence) and whose *signal* looks like what
detection teams describe: a minority of pupils whose absence escalates over weeks after early
signs (Monday/Friday and post-holiday absence, short spells, late arrivals, the same weekday,
teacher concerns), next to confounders that look alarming but do not escalate (chronic illness
with regular appointments, flu waves, family trips, shared custody).

The stages, each a function below, run in this order:

1. calendar      - school days, breaks, the illness season and the winter's flu waves
2. population    - schools, pupils, one enrolment per pupil and school year, classes
3. latent risk   - each pupil's propensities and kind (escalating, chronic illness, custody)
4. daily absence - the register, generated per chunk of pupils (vectorised, bounded memory)
5. concerns      - coded teacher/parent/health concerns, mostly around escalations
6. wellbeing     - the class means of the national wellbeing survey

Every stage draws from its own random stream derived from the seed (and the daily stage from
one stream per chunk of pupils), so the same arguments always give the same files.
`simulate_municipality` also returns the ground truth (who escalates, when) for evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from model.calendar import (
    danish_school_days,
    holiday_adjacent,
    parse_school_year,
    school_year_label,
    school_year_of,
    school_year_start,
    to_day_numbers,
    weekday,
)

RNG_BLOCK = 1024  # pupils per random stream of the daily stage (fixed: part of the output)
PUPIL_CHUNK = 4096  # pupils per attendance chunk when streaming (any value: same output)

STATUS_NAMES = np.array(["", "present", "illness", "authorised", "unauthorised"], dtype=object)
PRESENT, ILLNESS, AUTHORISED, UNAUTHORISED = 1, 2, 3, 4

KIND_NAMES = np.array(["none", "escalating", "chronic_illness", "shared_custody"], dtype=object)
NONE, ESCALATING, CHRONIC, CUSTODY = 0, 1, 2, 3

SCHOOL_NAMES = [
    *("Nordskolen", "Sydskolen", "Østskolen", "Vestskolen", "Bakkeskolen", "Engskolen"),
    *("Skovskolen", "Søskolen", "Åskolen", "Midtbyskolen", "Kildeskolen", "Strandskolen"),
    *("Højvangskolen", "Lindeskolen", "Egeskolen", "Møllevangskolen", "Rosenhøjskolen"),
    *("Fjordskolen", "Parkskolen", "Toftevangskolen"),
]

# Illness by calendar month (Aug..Jun): a winter peak on top of which the flu waves come.
MONTHS = (8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7)
ILLNESS_BY_MONTH = dict(
    zip(MONTHS, (0.75, 0.85, 0.92, 1.0, 1.2, 1.3, 1.3, 1.12, 0.9, 0.8, 0.75, 0.75), strict=True)
)
# Hazard multipliers by grade 0..10. Illness is flat; unauthorised absence rises steeply in 7-9.
ILLNESS_BY_GRADE = np.array([1.05, 1.05, 1.0, 1.0, 0.97, 0.97, 0.97, 1.0, 1.0, 1.0, 1.0])
UNAUTHORISED_BY_GRADE = np.array([0.45, 0.45, 0.5, 0.55, 0.75, 0.9, 1.1, 1.7, 2.1, 2.4, 2.2])
# Relative onset rate of escalations by grade: rare in the youngest, most around grades 6-8.
ESCALATION_BY_GRADE = np.array([0.15, 0.25, 0.4, 0.5, 0.7, 0.9, 1.7, 2.1, 1.8, 1.1, 0.8])

# Base daily hazards (before the pupil's multipliers), tuned to domain.md's figures.
ILLNESS_START = 0.022  # an illness spell starts
ILLNESS_SPELL = 1.35  # mean length of an illness spell (geometric, school days)
UNAUTHORISED_DAY = 0.0025  # a single unauthorised day
AUTHORISED_DAY = 0.0145  # a single day of authorised leave (family event, long weekend)
LATE_ARRIVAL = 0.006  # a partial day (late arrival, lessons missed)
TRIPS_PER_YEAR = 0.2  # family trips of 3-5 days next to a break

# The mix of pupils.
HIGH_ABSENCE_SHARE = 0.17  # persistently high absence (child or family); never escalates
HIGH_ILLNESS = 1.6  # the high group's hazards; the bulk has illness 0.7, unauthorised 0.55
HIGH_UNAUTHORISED = 2.0
HIGH_PARTIAL = 10.0  # the high group's partial days, relative to the bulk
HIGH_SPREAD = 0.45  # the high group's spread of propensities, relative to the bulk
ESCALATIONS_PER_YEAR = 0.045  # onsets per enrolled pupil and school year (~9 % in 3 years)
CHRONIC_SHARE = 0.022  # chronic illness with regular appointments (more with special needs)
CUSTODY_SHARE = 0.02  # shared custody, every other week
FLU_HEIGHT = (0.5, 1.1)  # extra illness at a flu wave's peak, relative to the season
MISSING_CLASS_DAY = 0.0012  # a teacher does not register a whole class that day
MISSING_PUPIL_DAY = 0.0008  # a single pupil's entry is missing


# --- 1. calendar -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCalendar:
    """The school days of the demo on one axis (all school years, sorted, none after `until`).

    Per day: the index of its school year, weekday, month, whether it is next to a break, a
    week number (for every-n-weeks patterns) and the illness multiplier (season x flu waves).
    `history` holds the school days of the year before the demo, so that an escalation that
    began before the first day still has a date.
    """

    school_years: list[str]
    until: date
    days: np.ndarray
    year: np.ndarray
    year_start: np.ndarray  # per school year: first axis index
    year_stop: np.ndarray  # per school year: one past the last axis index
    complete: np.ndarray  # per school year: all its school days are on or before `until`
    weekday: np.ndarray
    month: np.ndarray
    after_break: np.ndarray
    before_break: np.ndarray
    week: np.ndarray
    illness_season: np.ndarray
    history: np.ndarray
    full_years: list[np.ndarray]  # per school year: all its school days, also those after `until`

    @property
    def stop_of_day(self) -> np.ndarray:
        """Per day: one past the last axis index of its school year (spells never cross summer)."""
        return self.year_stop[self.year]

    def date_of(self, index: np.ndarray) -> np.ndarray:
        """Dates of axis indices; negative indices count back into the year before the demo,
        and before that at five school days a week.
        """
        index = np.asarray(index)
        out = np.empty(index.shape, "datetime64[D]")
        inside = index >= 0
        out[inside] = self.days[np.minimum(index[inside], len(self.days) - 1)]
        back = len(self.history) + index[~inside]
        older = np.minimum(back, 0)
        out[~inside] = self.history[np.maximum(back, 0)] + (older * 7) // 5
        return out


def demo_school_years(years: int, until: date) -> list[str]:
    """The `years` school years ending with the one that contains `until`."""
    last = parse_school_year(school_year_of(until))
    return [school_year_label(last - years + 1 + i) for i in range(years)]


def build_calendar(years: int, until: date, rng: np.random.Generator) -> DemoCalendar:
    """Stage 1: the Danish school calendar for the demo years, cut at `until`.

    Break adjacency is computed on each full school year before cutting, so the cut itself
    does not count as a break. Flu waves are municipality-wide: one or two a winter, a week or
    two long, between December and mid-March.
    """
    labels = demo_school_years(years, until)
    cut = np.datetime64(until, "D")
    parts, year_of, after, before, complete, season, fulls = [], [], [], [], [], [], []
    for y, label in enumerate(labels):
        full = to_day_numbers(danish_school_days(label))
        fulls.append(full)
        a, b = holiday_adjacent(full)
        keep = full <= cut
        complete.append(bool(keep.all()))
        month = full.astype("datetime64[M]").astype(int) % 12 + 1
        mult = np.array([ILLNESS_BY_MONTH[m] for m in month])
        mult *= _flu_waves(full, rng)
        parts.append(full[keep])
        year_of.append(np.full(keep.sum(), y, np.int16))
        after.append(a[keep])
        before.append(b[keep])
        season.append(mult[keep])
    days = np.concatenate(parts)
    year = np.concatenate(year_of)
    counts = np.array([len(p) for p in parts])
    stops = np.cumsum(counts)
    first = days[0] if len(days) else np.datetime64(school_year_start(labels[0]), "D")
    origin = first - weekday(np.array([first]))[0].astype(int)
    return DemoCalendar(
        school_years=labels,
        until=until,
        days=days,
        year=year,
        year_start=stops - counts,
        year_stop=stops,
        complete=np.array(complete),
        weekday=weekday(days),
        month=(days.astype("datetime64[M]").astype(int) % 12 + 1).astype(np.int8),
        after_break=np.concatenate(after),
        before_break=np.concatenate(before),
        week=((days - origin).astype(int) // 7).astype(np.int32),
        illness_season=np.concatenate(season).astype(np.float32),
        history=to_day_numbers(
            danish_school_days(school_year_label(parse_school_year(labels[0]) - 1))
        ),
        full_years=fulls,
    )


def _flu_waves(days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Illness multiplier of one winter's flu waves: bell-shaped bursts over ~1-2 weeks."""
    mult = np.ones(len(days))
    winter = np.flatnonzero(
        (days.astype("datetime64[M]").astype(int) % 12 + 1 <= 3)
        | (days.astype("datetime64[M]").astype(int) % 12 + 1 == 12)
    )
    winter = winter[days[winter] < days[winter][0] + 105] if len(winter) else winter
    if len(winter) == 0:
        return mult
    t = np.arange(len(days))
    for _ in range(1 + int(rng.random() < 0.35)):
        peak = rng.choice(winter)
        width = rng.uniform(2.5, 4.5)
        height = rng.uniform(*FLU_HEIGHT)
        mult += height * np.exp(-0.5 * ((t - peak) / width) ** 2)
    return mult


# --- 2. population -----------------------------------------------------------------------------


@dataclass
class Population:
    """Schools, pupils and their enrolments as (pupil, school year) arrays; -1 = not enrolled.

    Classes keep their letter as the cohort moves up ("5A" becomes "6A"), so a class's climate
    persists from year to year; `classes` has one row per class and school year.
    """

    school_ids: list[str]
    school_names: list[str]
    school_absence: np.ndarray  # per school: absence level of its area (multiplier)
    pupil_ids: np.ndarray
    birth_date: np.ndarray
    gender: np.ndarray
    school: np.ndarray
    grade: np.ndarray
    class_code: np.ndarray
    special_needs: np.ndarray
    changed_school: np.ndarray  # moved into this school at the start of this year
    classes: pd.DataFrame  # class_code, class_id, school, year, grade, climate


def build_population(
    pupils: int, schools: int, labels: list[str], cpr: bool, rng: np.random.Generator
) -> Population:
    """Stage 2: the municipality's pupils, moved through the years.

    Each year every pupil moves up a grade; grade 9 leaves (a tenth go on to grade 10, which
    then leaves); a new grade-0 cohort enters; about 2.5 % leave the municipality (no
    enrolment in later years) and as many move in, and 3 % change school. The number enrolled
    each year stays at `pupils`.
    """
    years = len(labels)
    weights = rng.lognormal(0.0, 0.35, schools)
    weights /= weights.sum()
    cohort = pupils / 10.1
    sizes = np.append(cohort * rng.uniform(0.92, 1.08, 10), 0.1 * cohort)
    first_grades = np.repeat(np.arange(11), _round_to_total(sizes, pupils))

    grade_rows: list[np.ndarray] = []  # per year: grade of every pupil created so far
    school_rows: list[np.ndarray] = []
    moved_rows: list[np.ndarray] = []
    entry_year: list[np.ndarray] = []
    entry_grade: list[np.ndarray] = []

    grade = first_grades.astype(np.int16)
    school = rng.choice(schools, size=len(grade), p=weights).astype(np.int16)
    moved = np.zeros(len(grade), bool)
    entry_year.append(np.zeros(len(grade), np.int16))
    entry_grade.append(grade.copy())
    for y in range(years):
        if y > 0:
            prev_grade, prev_school = grade_rows[-1], school_rows[-1]
            enrolled = prev_grade >= 0
            u = rng.random(len(prev_grade))
            grade = np.where(enrolled, prev_grade + 1, -1).astype(np.int16)
            leaves = enrolled & (
                (prev_grade == 10)
                | ((prev_grade == 9) & (u >= 0.1))
                | ((prev_grade < 9) & (u < 0.025))
            )
            grade[leaves] = -1
            school = np.where(grade >= 0, prev_school, -1).astype(np.int16)
            moved = (grade >= 0) & (grade <= 9) & (rng.random(len(grade)) < 0.03)
            school[moved] = _other_school(school[moved], weights, rng)
            n_in = int((enrolled & (prev_grade < 9) & (u < 0.025)).sum())
            n_new = max(pupils - int((grade >= 0).sum()) - n_in, int(0.8 * cohort))
            new_grade = np.concatenate([rng.integers(1, 10, n_in), np.zeros(n_new, int)])
            grade = np.concatenate([grade, new_grade.astype(np.int16)])
            school = np.concatenate(
                [school, rng.choice(schools, size=len(new_grade), p=weights).astype(np.int16)]
            )
            moved = np.concatenate([moved, np.arange(len(new_grade)) < n_in])
            entry_year.append(np.full(len(new_grade), y, np.int16))
            entry_grade.append(new_grade.astype(np.int16))
            grade_rows = [np.pad(r, (0, len(new_grade)), constant_values=-1) for r in grade_rows]
            school_rows = [np.pad(r, (0, len(new_grade)), constant_values=-1) for r in school_rows]
            moved_rows = [np.pad(r, (0, len(new_grade))) for r in moved_rows]
        grade_rows.append(grade)
        school_rows.append(school)
        moved_rows.append(moved)

    grade_py = np.stack(grade_rows, axis=1).astype(np.int8)
    school_py = np.stack(school_rows, axis=1)
    moved_py = np.stack(moved_rows, axis=1)
    n = len(grade_py)
    starts = np.array([parse_school_year(label) for label in labels])
    e_year, e_grade = np.concatenate(entry_year), np.concatenate(entry_grade)

    # Children start grade 0 in the August of the year they turn 6; a few started a year late.
    birth_year = starts[e_year] - 6 - e_grade - (rng.random(n) < 0.04)
    birth = (birth_year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    birth = birth + (rng.random(n) * (365 + _is_leap(birth_year))).astype(int)
    gender = np.where(rng.random(n) < 0.51, "M", "F").astype(object)

    # Special needs: identified at some grade and kept; about 9 % of pupils in a year.
    sn_from = np.where(rng.random(n) < 0.125, rng.integers(0, 7, n), 99)
    special = (grade_py >= 0) & (grade_py >= sn_from[:, None])

    class_code, classes = _assign_classes(school_py, grade_py, starts, schools, rng)
    width = max(2, len(str(schools)))
    school_ids = [f"S{i + 1:0{width}d}" for i in range(schools)]
    names = [
        SCHOOL_NAMES[i % len(SCHOOL_NAMES)]
        + ("" if i < len(SCHOOL_NAMES) else f" {i // len(SCHOOL_NAMES) + 1}")
        for i in range(schools)
    ]
    classes["class_id"] = [
        f"{school_ids[s]}-{starts[y]}-{g}{_letter(letter)}"
        for s, y, g, letter in classes[["school", "year", "grade", "letter"]].itertuples(
            index=False
        )
    ]
    ids = _cpr_numbers(birth, gender, rng) if cpr else _pseudonymous_ids(n)
    return Population(
        school_ids=school_ids,
        school_names=names,
        school_absence=rng.lognormal(0.0, 0.12, schools),
        pupil_ids=ids,
        birth_date=birth,
        gender=gender,
        school=school_py,
        grade=grade_py,
        class_code=class_code,
        special_needs=special,
        changed_school=moved_py,
        classes=classes,
    )


def _letter(k: int) -> str:
    """Class letters A..Z, then AA, AB, ... for very large schools."""
    return chr(65 + k) if k < 26 else chr(64 + k // 26) + chr(65 + k % 26)


def _round_to_total(sizes: np.ndarray, total: int) -> np.ndarray:
    """Integer sizes proportional to `sizes` that add up to `total` (largest remainders)."""
    exact = sizes / sizes.sum() * total
    out = np.floor(exact).astype(int)
    out[np.argsort(out - exact)[: total - out.sum()]] += 1
    return out


def _is_leap(year: np.ndarray) -> np.ndarray:
    return ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)


def _other_school(current: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A different school for each mover (the same one only if there is just one school)."""
    if len(weights) == 1:
        return current
    pick = rng.choice(len(weights) - 1, size=len(current), p=None)
    return (current + 1 + pick) % len(weights)


def _assign_classes(
    school: np.ndarray,
    grade: np.ndarray,
    starts: np.ndarray,
    schools: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Classes of at most ~24 per school, year and grade; pupils keep their letter if they can.

    A class's climate (the latent behind its wellbeing indicators and part of its pupils'
    escalation risk) belongs to the cohort's class lineage, so it persists from year to year.
    """
    n, years = grade.shape
    letter = np.full((n, years), -1, np.int16)
    code = np.full((n, years), -1, np.int32)
    school_climate = rng.normal(0.0, 0.35, schools)
    lineage: dict[tuple[int, int, int], float] = {}
    rows = []
    for y in range(years):
        enrolled = np.flatnonzero(grade[:, y] >= 0)
        frame = pd.DataFrame({"s": school[enrolled, y], "g": grade[enrolled, y]})
        for (s, g), local in sorted(frame.groupby(["s", "g"]).indices.items()):
            members = enrolled[local]
            k = max(1, int(np.ceil(len(members) / 24)))
            prev = letter[members, y - 1] if y > 0 else np.full(len(members), -1, np.int16)
            same = school[members, y - 1] == s if y > 0 else np.zeros(len(members), bool)
            keep = same & (prev >= 0) & (prev < k) & (g > 0)
            mine = np.where(keep, prev, -1)
            target = np.full(k, len(members) // k) + (np.arange(k) < len(members) % k)
            need = np.maximum(target - np.bincount(mine[keep], minlength=k), 0)
            free = np.flatnonzero(~keep)  # the deficits add up to at least len(free)
            mine[free] = rng.permutation(np.repeat(np.arange(k), need))[: len(free)]
            letter[members, y] = mine
            for ch in range(k):
                key = (int(s), int(starts[y]) - int(g), ch)
                if key not in lineage:
                    lineage[key] = float(rng.normal(0.0, 0.8))
                climate = school_climate[s] + lineage[key] + rng.normal(0.0, 0.3)
                code[members[mine == ch], y] = len(rows)
                rows.append((len(rows), int(s), y, int(g), ch, climate))
    classes = pd.DataFrame(
        rows, columns=["class_code", "school", "year", "grade", "letter", "climate"]
    )
    return code, classes


def _pseudonymous_ids(n: int) -> np.ndarray:
    width = max(6, len(str(n)))
    return np.array([f"E{i + 1:0{width}d}" for i in range(n)], dtype=object)


def _cpr_numbers(birth: np.ndarray, gender: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Synthetic CPR numbers DDMMYY-SSSS consistent with birth date and gender.

    The 7th digit follows cpr.dk's century rule (births 2000-2036: 4-9; 1937-1999: 0-3 here;
    2037-2057: 5-8) and the last digit is odd for boys. No modulus-11 check (not guaranteed
    since 2007). Collisions are drawn again until every number is unique.
    """
    n = len(birth)
    year = birth.astype("datetime64[Y]").astype(int) + 1970
    month = birth.astype("datetime64[M]").astype(int) % 12 + 1
    day = (birth - birth.astype("datetime64[M]").astype("datetime64[D]")).astype(int) + 1
    male = gender == "M"
    serial = np.zeros(n, int)
    todo = np.arange(n)
    while len(todo):
        y = year[todo]
        seventh = np.where(
            y < 2000,
            rng.integers(0, 4, len(todo)),
            np.where(y <= 2036, rng.integers(4, 10, len(todo)), rng.integers(5, 9, len(todo))),
        )
        last = 2 * rng.integers(0, 5, len(todo)) + male[todo]
        serial[todo] = seventh * 1000 + rng.integers(0, 100, len(todo)) * 10 + last
        key = pd.Series(birth.astype(int) * 10000 + serial)
        todo = np.flatnonzero(key.duplicated().to_numpy())
    return np.array(
        [
            f"{d:02d}{m:02d}{yy % 100:02d}-{s:04d}"
            for d, m, yy, s in zip(day, month, year, serial, strict=True)
        ],
        dtype=object,
    )


# --- 3. latent risk ----------------------------------------------------------------------------


@dataclass
class LatentRisk:
    """Each pupil's propensities (hazard multipliers) and kind, with the kind's parameters.

    Shared factors make illness, unauthorised absence and leave correlate within a pupil and
    persist across years (with a yearly drift): this is what makes high absence persist from
    one quarter to the next. Axis indices (`onset`, `peak`, `plateau_end`) may be negative for
    escalations that began before the demo.
    """

    illness: np.ndarray  # (pupils, years)
    unauthorised: np.ndarray  # (pupils, years)
    leave: np.ndarray  # (pupils,)
    high: np.ndarray  # (pupils,) in the persistent high-absence group
    kind: np.ndarray  # (pupils,) NONE, ESCALATING, CHRONIC, CUSTODY
    onset: np.ndarray  # escalation: first axis index of the escalation
    ramp: np.ndarray  # escalation: school days from onset to the long spells
    plateau_end: np.ndarray  # escalation: axis index where recovery begins (if it does)
    recovers: np.ndarray
    pattern_day: np.ndarray  # weekday of the same-weekday pattern / appointments
    period: np.ndarray  # chronic illness: weeks between appointments
    phase: np.ndarray  # chronic: week phase of the appointments; custody: away-week parity

    @property
    def peak(self) -> np.ndarray:
        """Escalation: the axis index where the long spells begin (onset + ramp)."""
        return self.onset + self.ramp


def build_latent_risk(cal: DemoCalendar, pop: Population, rng: np.random.Generator,
                      trend: float = 0.0, base_rate: float = 1.0) -> LatentRisk:
    """Stage 3: who is prone to what.

    Each pupil's propensities are log-normal around their group's level (the bulk, or the
    persistent high-absence group), times grade, school area and special needs. Escalations
    start at a random school day of the pupil's school life, at a rate that is higher in
    grades 6-8, for special needs, after a change of school, for disengaged pupils and in
    classes with a poor climate, scaled to ESCALATIONS_PER_YEAR onsets per pupil and year.
    Chronic illness and shared custody are separate kinds that never escalate.
    """
    n, years = pop.grade.shape
    enrolled = pop.grade >= 0
    z_ill, z_engage, z_family, z_level = rng.normal(size=(4, n))
    drift = rng.normal(0.0, 1.0, (n, years))
    grade = np.clip(pop.grade, 0, 10).astype(np.int64)
    school = np.clip(pop.school, 0, None)
    area = pop.school_absence[school]
    special = pop.special_needs
    ever_special = special.any(axis=1)
    older_girl = (pop.gender == "F")[:, None] & (grade >= 7)

    # A persistent high-absence group (child or family): most of the pupils over 10 % a year.
    # A group rather than a long tail keeps the bulk well below the thresholds, so that who
    # crosses them is predictable from the past rather than luck.
    level = 0.45 * z_family + 0.9 * z_level + 0.6 * ever_special
    high = level > np.quantile(level, 1.0 - HIGH_ABSENCE_SHARE)
    # Within the high group the spread is narrower: they sit persistently around 10-15 %.
    spread = np.where(high, HIGH_SPREAD, 1.0)[:, None]
    illness = _lognormal(spread * z_ill[:, None], 0.5, spread * z_family[:, None], 0.2, drift, 0.2)
    illness *= np.where(high, HIGH_ILLNESS, 0.7)[:, None]
    illness *= (
        ILLNESS_BY_GRADE[grade]
        * area
        * np.where(special, 1.2, 1.0)
        * np.where(older_girl, 1.12, 1.0)
    )
    unauthorised = _lognormal(
        spread * z_engage[:, None], 0.75, spread * z_family[:, None], 0.3, drift, 0.2
    )
    unauthorised *= np.where(high, HIGH_UNAUTHORISED, 0.55)[:, None]
    unauthorised *= UNAUTHORISED_BY_GRADE[grade] * area**2 * np.where(special, 1.3, 1.0)
    leave = _lognormal(z_family, 0.75)
    if trend:  # absence rising year on year (issue 12's matrix): the later years' hazards
        rise = (1.0 + trend) ** np.arange(years, dtype=float)[None, :]
        illness, unauthorised = illness * rise, unauthorised * rise

    kind = np.zeros(n, np.int8)
    chronic = rng.random(n) < np.where(ever_special, 2.5, 0.85) * CHRONIC_SHARE
    kind[chronic] = CHRONIC
    kind[(kind == NONE) & (rng.random(n) < CUSTODY_SHARE)] = CUSTODY

    # Escalations happen at a steady rate over each pupil's whole school life, including the
    # years before the demo (approximated as 200 school days each), so that the demo starts in
    # a steady state: some pupils are already escalated, recovered or long-term absent.
    first_year = np.argmax(enrolled, axis=1)
    last_year = years - 1 - np.argmax(enrolled[:, ::-1], axis=1)
    first_grade = grade[np.arange(n), first_year]
    span_lo = cal.year_start[first_year] - 200 * first_grade
    span_hi = np.maximum(cal.year_stop[last_year] - 20, span_lo + 1)
    onset = (span_lo + rng.random(n) * (span_hi - span_lo)).astype(int)
    inside = (onset >= cal.year_start[first_year]) & (onset < len(cal.days))
    onset_year = first_year.copy()
    onset_year[inside] = cal.year[onset[inside]]
    at = (np.arange(n), onset_year)
    onset_grade = np.where(
        inside,
        grade[at],
        np.clip(first_grade - (cal.year_start[first_year] - onset) // 200 - 1, 0, 10),
    )
    climate = pop.classes["climate"].to_numpy()[np.maximum(pop.class_code[at], 0)]
    rate = (
        ESCALATION_BY_GRADE[onset_grade]
        * np.where(special[at], 4.0, 1.0)
        * np.where(pop.changed_school[at] & inside, 1.6, 1.0)
        * np.exp(0.35 * z_engage - 0.8 * climate)
        * (span_hi - span_lo)
    )
    rate[kind != NONE] = 0.0
    # Scale to ESCALATIONS_PER_YEAR onsets per enrolled pupil-year during the demo (a rate, so
    # the figures do not depend on how many years are generated).
    pupil_years = sum(
        (pop.grade[:, y] >= 0).sum() * (cal.year_stop[y] - cal.year_start[y]) / 200.0
        for y in range(years)
    )
    scale = _scale_for_share(rate[onset >= 0], ESCALATIONS_PER_YEAR * base_rate * pupil_years)
    escalating = rng.random(n) < 1.0 - np.exp(-rate * scale)
    kind[escalating] = ESCALATING

    ramp = rng.integers(20, 70, n)
    plateau_end = onset + ramp + rng.integers(30, 120, n)
    return LatentRisk(
        illness=illness.astype(np.float32),
        unauthorised=unauthorised.astype(np.float32),
        leave=leave.astype(np.float32),
        high=high,
        kind=kind,
        onset=onset,
        ramp=ramp,
        plateau_end=plateau_end,
        recovers=rng.random(n) < 0.88,
        pattern_day=rng.integers(0, 5, n).astype(np.int8),
        period=rng.integers(2, 5, n).astype(np.int8),
        phase=rng.integers(0, 4, n).astype(np.int8),
    )


def _scale_for_share(rates: np.ndarray, expected: float) -> float:
    """The scale c with sum(1 - exp(-c * rates)) = expected (bisection; rates >= 0)."""
    lo, hi = 0.0, 1.0
    while hi < 1e12 and (1.0 - np.exp(-rates * hi)).sum() < expected:
        hi *= 2.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if (1.0 - np.exp(-rates * mid)).sum() < expected:
            lo = mid
        else:
            hi = mid
    return hi


def _lognormal(*terms) -> np.ndarray:
    """exp(sum of loading x standard-normal factor), scaled to mean 1: `terms` alternate
    factor, loading, factor, loading, ...
    """
    factors, loadings = terms[0::2], terms[1::2]
    total = sum(w * z for z, w in zip(factors, loadings, strict=True))
    return np.exp(total - 0.5 * sum(w * w for w in loadings))


# --- 4. daily absence --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoPlan:
    """Everything but the daily register: what the daily and later stages draw from."""

    seed: int
    calendar: DemoCalendar
    population: Population
    risk: LatentRisk
    missing_class_days: np.ndarray  # (classes, days) bool: a whole class not registered


def plan_demo(
    pupils: int = 6000,
    schools: int = 12,
    years: int = 3,
    seed: int = 7,
    until: date | None = None,
    cpr: bool = False,
    trend: float = 0.0,
    base_rate: float = 1.0,
) -> DemoPlan:
    """Stages 1-3 (calendar, population, latent risk): small, held in memory at any scale."""
    if pupils < 1 or schools < 1 or years < 1:
        raise ValueError("pupils, schools and years must be positive")
    yesterday = date.today() - timedelta(days=1)
    until = until or yesterday
    if until > yesterday:
        raise ValueError(
            f"until must be yesterday or earlier (no register in the future), not {until}"
        )
    cal = build_calendar(years, until, np.random.default_rng([seed, 1]))
    pop = build_population(pupils, schools, cal.school_years, cpr, np.random.default_rng([seed, 2]))
    if trend < 0 or base_rate <= 0:
        raise ValueError("trend must be >= 0 and base rate > 0")
    risk = build_latent_risk(cal, pop, np.random.default_rng([seed, 3]), trend, base_rate)
    missing = (
        np.random.default_rng([seed, 4]).random((len(pop.classes), len(cal.days)))
        < MISSING_CLASS_DAY
    )
    return DemoPlan(seed, cal, pop, risk, missing)


@dataclass
class RegisterChunk:
    """The register of a chunk of pupils as matrices over the calendar's day axis."""

    pupils: np.ndarray  # population indices
    status: np.ndarray  # (pupils, days) int8: 0 = no entry, else PRESENT..UNAUTHORISED
    absent: np.ndarray  # (pupils, days) float32

    def to_frame(self, plan: DemoPlan) -> pd.DataFrame:
        """The contract's long form: one row per registered pupil and school day."""
        p, d = np.nonzero(self.status)
        return pd.DataFrame(
            {
                "pupil_id": _strings(plan.population.pupil_ids[self.pupils], p),
                "date": plan.calendar.days[d],
                "status": _strings(STATUS_NAMES, self.status[p, d]),
                "absent_fraction": self.absent[p, d].astype(np.float64),
            }
        )


def _strings(values: np.ndarray, codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """values[codes] as a pandas string column, built in Arrow (10x faster than from objects)."""
    import pyarrow as pa

    taken = pa.array(values, type=pa.large_string()).take(pa.array(codes))
    return pd.array(taken, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def iter_register(plan: DemoPlan) -> Iterator[RegisterChunk]:
    """Stage 4 per block of RNG_BLOCK pupils, each block from its own random stream, so the
    register never depends on how it is batched (memory ~ block x days).
    """
    n = len(plan.population.pupil_ids)
    for k, lo in enumerate(range(0, n, RNG_BLOCK)):
        idx = np.arange(lo, min(lo + RNG_BLOCK, n))
        yield daily_register(plan, idx, np.random.default_rng([plan.seed, 5, k]))


def iter_attendance_chunks(plan: DemoPlan, chunk_size: int = PUPIL_CHUNK) -> Iterator[pd.DataFrame]:
    """attendance.csv in chunks of about `chunk_size` pupils (whole blocks of RNG_BLOCK), for
    writing at national scale; the chunks concatenated are always the same register.
    """
    blocks_per_chunk = max(1, -(-chunk_size // RNG_BLOCK))
    frames = []
    for block in iter_register(plan):
        frames.append(block.to_frame(plan))
        if len(frames) == blocks_per_chunk:
            yield pd.concat(frames, ignore_index=True)
            frames = []
    if frames:
        yield pd.concat(frames, ignore_index=True)


def _spells(
    starts: np.ndarray, lengths: np.ndarray, stop: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Days covered by spells that start where `starts` is set and last `lengths` school days
    (cut at the end of the school year), and per day the axis index of the latest start.
    """
    t = np.arange(starts.shape[1])
    end = np.where(starts, np.minimum(t + lengths, stop), 0)
    covered = np.maximum.accumulate(end, axis=1) > t
    latest = np.maximum.accumulate(np.where(starts, t, 0), axis=1)
    return covered, latest


class _Marks:
    """A chunk's status and absent matrices being filled in; a later mark overrides an earlier.

    `mark(mask, code, fraction, rows)`: set the days in `mask` (shape: all rows, or only the
    pupils `rows`); code and fraction are scalars or one value per marked day (C order).
    """

    def __init__(self, n: int, days: int) -> None:
        self.status = np.full((n, days), PRESENT, np.int8)
        self.absent = np.zeros((n, days), np.float32)

    def mark(self, mask: np.ndarray, code, fraction, rows: np.ndarray | None = None) -> None:
        if rows is None:
            self.status[mask] = code
            self.absent[mask] = fraction
        else:
            r, d = np.nonzero(mask)
            self.status[rows[r], d] = code
            self.absent[rows[r], d] = fraction


def daily_register(plan: DemoPlan, idx: np.ndarray, rng: np.random.Generator) -> RegisterChunk:
    """Stage 4: the register of pupils `idx` on every school day, from their latent risk.

    Components, later ones overriding earlier ones on the same day: partial days, single days
    of authorised leave and of unauthorised absence, shared custody, chronic illness
    appointments, illness spells (season x flu), the escalation, family trips. Then days
    without enrolment and missing registrations are blanked.
    """
    cal, pop, risk = plan.calendar, plan.population, plan.risk
    n, D = len(idx), len(cal.days)
    grade = pop.grade[idx][:, cal.year]
    enrolled = grade >= 0
    if D == 0 or n == 0:
        return RegisterChunk(idx, np.zeros((n, D), np.int8), np.zeros((n, D), np.float32))
    out = _Marks(n, D)
    stop = cal.stop_of_day[None, :]
    wd = cal.weekday[None, :]
    monfri = (wd == 0) | (wd == 4)
    adjacent = (cal.after_break | cal.before_break)[None, :]
    m_ill = risk.illness[idx][:, cal.year]
    m_un = risk.unauthorised[idx][:, cal.year]
    m_leave = risk.leave[idx][:, None]
    kind = risk.kind[idx]
    high = risk.high[idx]

    def uniform() -> np.ndarray:
        return rng.random((n, D), dtype=np.float32)

    # Partial days: late arrivals and lessons missed, mostly unauthorised. Frequent in the
    # high-absence group, where much of the absence is partial rather than whole days.
    late = uniform() < LATE_ARRIVAL * np.sqrt(m_un) * np.where(high, HIGH_PARTIAL, 1.0)[:, None]
    k = int(late.sum())
    late_high = high[np.nonzero(late)[0]]
    out.mark(
        late,
        np.where(rng.random(k) < 0.7, UNAUTHORISED, ILLNESS),
        np.where(late_high, 0.25, 0.125) * rng.integers(1, 3, k),
    )
    # Single days: leave next to breaks (long weekends); truancy on Mondays, Fridays and after
    # breaks.
    out.mark(uniform() < AUTHORISED_DAY * m_leave * np.where(adjacent, 3.5, 1.0), AUTHORISED, 1.0)
    h_un = (
        UNAUTHORISED_DAY * m_un * np.where(monfri, 1.5, 1.0) * np.where(cal.after_break, 1.8, 1.0)
    )
    out.mark(uniform() < h_un, UNAUTHORISED, 1.0)

    _custody(out, rng, cal, np.flatnonzero(kind == CUSTODY), risk.phase[idx], wd)
    _chronic_appointments(out, rng, cal, np.flatnonzero(kind == CHRONIC), risk, idx, wd)

    # Illness spells: the pupil's proneness x the month x the flu waves; chronic illness flares.
    h_ill = ILLNESS_START * m_ill * cal.illness_season[None, :]
    h_ill *= np.where(kind == CHRONIC, 1.8, 1.0)[:, None]
    starts = uniform() < h_ill
    lengths = np.zeros((n, D), np.int32)
    lengths[starts] = np.minimum(rng.geometric(1.0 / ILLNESS_SPELL, int(starts.sum())), 10)
    out.mark(_spells(starts, lengths, stop)[0], ILLNESS, 1.0)

    _escalation(out, rng, cal, risk, idx, grade, wd, monfri, stop)
    _family_trips(out, rng, cal, m_leave[:, 0], enrolled)

    missing = np.zeros((n, D), bool)
    code = pop.class_code[idx][:, cal.year]
    missing[enrolled] = plan.missing_class_days[code[enrolled], np.nonzero(enrolled)[1]]
    missing |= uniform() < MISSING_PUPIL_DAY
    out.status[~enrolled | missing] = 0
    out.absent[out.status <= PRESENT] = 0.0
    return RegisterChunk(idx, out.status, out.absent)


def _custody(out: _Marks, rng, cal: DemoCalendar, rows: np.ndarray, phase: np.ndarray, wd) -> None:
    """Shared custody, every other week: mild absence at the handovers (Mondays and Fridays of
    the weeks with the other parent): some late arrivals, now and then a whole day.
    """
    if len(rows) == 0:
        return
    away = ((cal.week[None, :] + phase[rows][:, None]) % 2 == 1) & ((wd == 0) | (wd == 4))
    u = rng.random(away.shape, dtype=np.float32)
    out.mark(away & (u < 0.22), UNAUTHORISED, 0.25, rows)
    whole = away & (u >= 0.22) & (u < 0.3)
    out.mark(whole, np.where(rng.random(int(whole.sum())) < 0.5, ILLNESS, UNAUTHORISED), 1.0, rows)


def _chronic_appointments(
    out: _Marks, rng, cal: DemoCalendar, rows, risk: LatentRisk, idx, wd
) -> None:
    """Chronic illness: an appointment on the same weekday every 2-4 weeks, a partial or whole
    day of illness; stable over time (it never escalates).
    """
    if len(rows) == 0:
        return
    who = idx[rows]
    appt = (
        (wd == risk.pattern_day[who][:, None])
        & ((cal.week[None, :] - risk.phase[who][:, None]) % risk.period[who][:, None] == 0)
        & (rng.random((len(rows), len(cal.days)), dtype=np.float32) < 0.9)
    )
    k = int(appt.sum())
    fraction = np.where(rng.random(k) < 0.4, 1.0, rng.choice([0.25, 0.375, 0.5], k))
    out.mark(appt, ILLNESS, fraction, rows)


def escalation_intensity(
    risk: LatentRisk, who: np.ndarray, days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Intensity s (0-1) of pupils `who` on each axis day, and whether they are still rising.

    Rising from onset to peak as ((t - onset) / ramp)^1.5; 1 on the plateau; then two in three
    recover (an intervention works) to a residual 0.1 over 40 school days, the others ease only
    to 0.6 over a year (long-term absence).
    """
    t = np.arange(days)[None, :]
    onset, ramp = risk.onset[who][:, None], risk.ramp[who][:, None]
    end = risk.plateau_end[who][:, None]
    rising = (t >= onset) & (t < onset + ramp)
    s = np.where(t >= onset, np.clip((t - onset) / ramp, 0.0, 1.0) ** 1.5, 0.0)
    after = np.where(
        risk.recovers[who][:, None],
        np.maximum(0.1, 1.0 - 0.9 * (t - end) / 40.0),
        np.maximum(0.25, 1.0 - 0.75 * (t - end) / 200.0),
    )
    s = np.where(t > end, after, s)
    return s.astype(np.float32), rising


def _escalation(
    out: _Marks, rng, cal: DemoCalendar, risk: LatentRisk, idx, grade, wd, monfri, stop
) -> None:
    """Escalating absence. Intensity s rises from 0 at onset to 1 over `ramp` school days.

    Early (s small): short 1-2 day spells concentrated on Mondays, Fridays, the pupil's own
    weekday and the day after a break, and late arrivals (a quarter to a half day). Later:
    more spells and longer ones (mean ~7 days at s = 1), increasingly unauthorised.
    """
    rows = np.flatnonzero(risk.kind[idx] == ESCALATING)
    if len(rows) == 0:
        return
    who = idx[rows]
    shape = (len(rows), len(cal.days))
    s, rising = escalation_intensity(risk, who, len(cal.days))
    own_day = wd == risk.pattern_day[who][:, None]
    signs = 2.5 * monfri + 3.0 * cal.after_break[None, :] + 2.5 * own_day
    hazard = np.where(s > 0, (0.01 + 0.13 * s) * (1.0 + rising * (1.0 - s) * signs), 0.0)
    starts = rng.random(shape, dtype=np.float32) < hazard
    lengths = np.zeros(shape, np.int32)
    lengths[starts] = np.minimum(rng.geometric(1.0 / (1.0 + 6.0 * s[starts] ** 2)), 25)
    covered, latest = _spells(starts, lengths, stop)
    # Each spell is called in as illness (a stomach-ache) or not at all (unauthorised); the
    # older the pupil and the further the escalation, the more often not at all.
    p_illness = 0.7 - 0.35 * s - 0.15 * (grade[rows] >= 7)
    spell_status = np.where(rng.random(shape, dtype=np.float32) < p_illness, ILLNESS, UNAUTHORISED)
    spell_status = np.take_along_axis(spell_status.astype(np.int8), latest, axis=1)

    # Late arrivals grow with the escalation and give way to whole days near the peak.
    late_hazard = (0.02 + 0.5 * s * (1.0 - s)) * np.where(monfri | own_day, 2.0, 0.6)
    late = rising & ~covered & (rng.random(shape, dtype=np.float32) < late_hazard)
    k = int(late.sum())
    out.mark(
        late,
        np.where(rng.random(k) < 0.5, UNAUTHORISED, ILLNESS),
        rng.choice([0.25, 0.375, 0.5], k),
        rows,
    )
    out.mark(covered, spell_status[covered], 1.0, rows)


def _family_trips(out: _Marks, rng, cal: DemoCalendar, leave: np.ndarray, enrolled) -> None:
    """Family trips: runs of 3-5 authorised days right before or after a break, more often at
    the longer breaks (autumn, Christmas, winter, Easter, summer). Trips are planned on the
    whole school year; in the current year only the days up to `until` are kept.
    """
    for y in range(len(cal.school_years)):
        lo, hi = cal.year_start[y], cal.year_stop[y]
        full = cal.full_years[y]
        if hi <= lo:
            continue
        after, before = holiday_adjacent(full)
        gaps = np.diff(full).astype(int)
        gap_after = np.concatenate([[60], gaps])  # the first day of the year follows summer
        gap_before = np.concatenate([gaps, [60]])
        position = np.arange(len(full))
        anchors = np.concatenate([position[after], position[before]])
        direction = np.concatenate([np.ones(after.sum(), int), -np.ones(before.sum(), int)])
        weight = np.minimum(np.concatenate([gap_after[after], gap_before[before]]), 16.0) ** 1.5
        trips = np.minimum(rng.poisson(TRIPS_PER_YEAR * leave), 2) * enrolled[:, lo]
        travellers = np.flatnonzero(trips)
        if len(travellers) == 0:
            continue
        who = np.repeat(np.arange(len(travellers)), trips[travellers])
        pick = rng.choice(len(anchors), size=len(who), p=weight / weight.sum())
        length = rng.integers(3, 6, len(who))
        start = np.clip(
            np.where(direction[pick] > 0, anchors[pick], anchors[pick] - length + 1),
            0,
            len(full) - 1,
        )
        starts = np.zeros((len(travellers), len(full)), bool)
        lengths = np.zeros((len(travellers), len(full)), np.int32)
        starts[who, start] = True
        np.maximum.at(lengths, (who, start), length)
        covered, _ = _spells(starts, lengths, np.array([[len(full)]]))
        mask = np.zeros((len(travellers), len(cal.days)), bool)
        mask[:, lo:hi] = covered[:, : hi - lo]
        out.mark(mask, AUTHORISED, 1.0, travellers)


# --- 5. concerns -------------------------------------------------------------------------------

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
    exist only once `until` is past 1 April; a few values are blank (not reported).
    """
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


# --- the whole municipality --------------------------------------------------------------------


@dataclass
class DemoMunicipality:
    """The contract's tables plus the ground truth behind them (for evaluation and tests).

    `truth` has one row per pupil: kind (none, escalating, chronic_illness, shared_custody),
    high_absence (the persistent high-absence group), and for escalations the onset, peak
    (start of the long spells) and recovery dates; NaT where not applicable or not yet reached.
    An onset before the demo is dated approximately (by the school days before it).
    """

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    plan: DemoPlan


def _static_tables(plan: DemoPlan) -> dict[str, pd.DataFrame]:
    pop, cal = plan.population, plan.calendar
    p, y = np.nonzero(pop.grade >= 0)
    return {
        "schools": pd.DataFrame({"school_id": pop.school_ids, "name": pop.school_names}),
        "pupils": pd.DataFrame(
            {"pupil_id": pop.pupil_ids, "birth_date": pop.birth_date, "gender": pop.gender}
        ),
        "enrolments": pd.DataFrame(
            {
                "pupil_id": pop.pupil_ids[p],
                "school_id": np.array(pop.school_ids, dtype=object)[pop.school[p, y]],
                "school_year": np.array(cal.school_years, dtype=object)[y],
                "grade": pop.grade[p, y].astype(np.int64),
                "class_id": pop.classes["class_id"].to_numpy()[pop.class_code[p, y]],
                "special_needs": pop.special_needs[p, y],
            }
        ),
    }


def _truth(plan: DemoPlan) -> pd.DataFrame:
    risk, cal = plan.risk, plan.calendar
    esc = risk.kind == ESCALATING
    nat = np.datetime64("NaT", "D")

    def dates(index: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = np.full(len(index), nat)
        ok = mask & (index < len(cal.days))
        out[ok] = cal.date_of(index[ok])
        return out

    return pd.DataFrame(
        {
            "pupil_id": plan.population.pupil_ids,
            "kind": KIND_NAMES[risk.kind],
            "high_absence": risk.high,
            "onset": dates(risk.onset, esc),
            "peak": dates(risk.peak, esc),
            "recovery": dates(risk.plateau_end, esc & risk.recovers),
        }
    )


def simulate_municipality(
    pupils: int = 6000,
    schools: int = 12,
    years: int = 3,
    seed: int = 7,
    until: date | None = None,
    cpr: bool = False,
    trend: float = 0.0,
    base_rate: float = 1.0,
) -> DemoMunicipality:
    """All six stages in memory: the tables of `generate_demo` plus the ground truth."""
    plan = plan_demo(pupils, schools, years, seed, until, cpr, trend, base_rate)
    tables = _static_tables(plan)
    chunks = list(iter_attendance_chunks(plan))
    tables["attendance"] = (
        pd.concat(chunks, ignore_index=True)
        if chunks
        else pd.DataFrame(columns=["pupil_id", "date", "status", "absent_fraction"])
    )
    tables["concerns"] = build_concerns(plan, np.random.default_rng([seed, 6]))
    tables["class_wellbeing"] = build_class_wellbeing(plan, np.random.default_rng([seed, 7]))
    order = ["schools", "pupils", "enrolments", "attendance", "concerns", "class_wellbeing"]
    return DemoMunicipality({k: tables[k] for k in order}, _truth(plan), plan)


def generate_demo(
    pupils: int = 6000,
    schools: int = 12,
    years: int = 3,
    seed: int = 7,
    until: date | None = None,
    cpr: bool = False,
    trend: float = 0.0,
    base_rate: float = 1.0,
) -> dict[str, pd.DataFrame]:
    """A demo municipality as the contract's six tables (schools, pupils, enrolments,
    attendance, concerns, class_wellbeing). `years` school years end with the one holding
    `until` (default yesterday); the same arguments always give the same tables.
    """
    return simulate_municipality(pupils, schools, years, seed, until, cpr, trend, base_rate).tables


def write_demo_municipality(
    out_dir: str | Path,
    pupils: int = 6000,
    schools: int = 12,
    years: int = 3,
    seed: int = 7,
    until: date | None = None,
    cpr: bool = False,
    trend: float = 0.0,
    base_rate: float = 1.0,
) -> str:
    """Write the six CSV files into `out_dir` (created if missing), streaming the register
    chunk by chunk so any size fits in memory; returns a one-paragraph summary.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_demo(pupils, schools, years, seed, until, cpr, trend, base_rate)
    write_latent_truth(plan, out / TRUTH_DIR / "latent.parquet")
    cal = plan.calendar
    for name, table in _static_tables(plan).items():
        table.to_csv(out / f"{name}.csv", index=False, date_format="%Y-%m-%d")
    n, n_years = plan.population.grade.shape
    days = np.zeros((n, n_years))
    absent = np.zeros((n, n_years))
    rows = 0
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(out / "attendance.csv", "wb") as sink:
        sink.write(b"pupil_id,date,status,absent_fraction\n")
        for chunk in iter_register(plan):
            registered = chunk.status > 0
            for y in range(n_years):
                part = slice(cal.year_start[y], cal.year_stop[y])
                days[chunk.pupils, y] = registered[:, part].sum(axis=1)
                absent[chunk.pupils, y] = chunk.absent[:, part].sum(axis=1)
            frame = chunk.to_frame(plan)
            rows += len(frame)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            table = table.set_column(1, "date", table["date"].cast(pa.date32()))
            pacsv.write_csv(table, sink, options)
    concerns = build_concerns(plan, np.random.default_rng([seed, 6]))
    concerns.to_csv(out / "concerns.csv", index=False, date_format="%Y-%m-%d")
    wellbeing = build_class_wellbeing(plan, np.random.default_rng([seed, 7]))
    wellbeing.to_csv(out / "class_wellbeing.csv", index=False)
    return _summary(out, plan, rows, days, absent, len(concerns), len(wellbeing))


def _summary(
    out: Path,
    plan: DemoPlan,
    rows: int,
    days: np.ndarray,
    absent: np.ndarray,
    n_concerns: int,
    n_wellbeing: int,
) -> str:
    cal = plan.calendar
    years = cal.complete if cal.complete.any() else np.ones(len(cal.school_years), bool)
    scope = "complete school years" if cal.complete.any() else "the year so far"
    d, a = days[:, years], absent[:, years]
    counted = d >= 20
    rate = a[counted] / d[counted]
    mean = a.sum() / max(d.sum(), 1)
    over = (rate >= 0.10).mean() if len(rate) else 0.0
    first, last = cal.school_years[0], cal.school_years[-1]
    span = f"school year {first}" if first == last else f"school years {first}-{last}"
    if not cal.complete[-1]:
        upto = cal.days[-1] if len(cal.days) else cal.until
        span += f" ({'the last ' if first != last else ''}up to {upto})"
    return (
        f"Demo municipality written to {out}: {len(plan.population.school_ids)} "
        f"school{'s' if len(plan.population.school_ids) > 1 else ''} with "
        f"{int((plan.population.school[:, -1] >= 0).sum()):,} pupils on roll in {last}, "
        f"{len(plan.population.pupil_ids):,} different pupils over {span}; {rows:,} register rows, "
        f"{n_concerns:,} concerns, {n_wellbeing:,} class wellbeing rows. Mean absence "
        f"{100 * mean:.1f} % and {100 * over:.1f} % of pupils at >= 10 % in a school year "
        f"({scope})."
    )


# --- the generator's latent truth (issue 12): an oracle ranker for the evaluation -------------

TRUTH_DIR = "_truth"  # beside the contract's files; not part of the contract, never ingested
ORACLE_HORIZON = 60  # school days, as the label's default horizon


def expected_daily_absence(plan: DemoPlan, idx: np.ndarray, escalation_part: bool = False):
    """The expected absent fraction of pupils `idx` on each school day from their latent risk
    (the hazards of stage 4 times the mean spell lengths), without the day's luck.

    With `escalation_part`, also the part of it that an escalation adds (0 before its onset),
    so an oracle can leave out escalations that have not begun by an as-of date."""
    cal, pop, risk = plan.calendar, plan.population, plan.risk
    grade = pop.grade[idx][:, cal.year]
    m_ill = risk.illness[idx][:, cal.year]
    m_un = risk.unauthorised[idx][:, cal.year]
    kind, high = risk.kind[idx], risk.high[idx]
    e = ILLNESS_START * ILLNESS_SPELL * m_ill * cal.illness_season[None, :]
    e *= np.where(kind == CHRONIC, 1.8, 1.0)[:, None]
    e += UNAUTHORISED_DAY * 1.3 * m_un + AUTHORISED_DAY * 1.3 * risk.leave[idx][:, None]
    e += LATE_ARRIVAL * np.sqrt(m_un) * np.where(high, HIGH_PARTIAL, 1.0)[:, None] * 0.3
    e += np.where(kind == CHRONIC, 0.08, 0.0)[:, None] + np.where(kind == CUSTODY, 0.05, 0.0)[:, None]
    rows = np.flatnonzero(kind == ESCALATING)
    base = np.minimum(e, 1.0)
    if len(rows):
        s, rising = escalation_intensity(risk, idx[rows], len(cal.days))
        hazard = np.where(s > 0, (0.01 + 0.13 * s) * (1.0 + rising * (1.0 - s) * 1.6), 0.0)
        late = rising * (0.02 + 0.5 * s * (1.0 - s)) * 0.4
        e[rows] += np.minimum(hazard * (1.0 + 6.0 * s**2), 1.0) + late
    e = np.minimum(e, 1.0)
    e[grade < 0] = np.nan
    if not escalation_part:
        return e.astype(np.float32)
    return e.astype(np.float32), np.nan_to_num(e - base).astype(np.float32)


def latent_truth(plan: DemoPlan, horizon: int = ORACLE_HORIZON) -> pd.DataFrame:
    """Per pupil and weekly as-of date (Mondays with a school day in their week): the expected
    absence share over the next `horizon` school days from the latent risk, the pupil's kind and
    the school year.

    Two oracles rank by it. `latent_rate` knows everything the generator drew, including an
    escalation that begins after the as-of date (a clairvoyant: no ranker can know such an onset,
    which is a future event). `latent_rate_as_of` knows the latent state *at* the as-of date:
    every propensity and every escalation that has begun, however faint its signs so far, but
    not one that begins later (its expected share is left out: at about 4.5 onsets per 100
    pupils a year it would move a pupil's 60-day expectation by well under a percentage point)."""
    cal = plan.calendar
    days = cal.days
    if not len(days):
        return pd.DataFrame(columns=["pupil_id", "as_of", "school_year", "kind", "latent_rate",
                                     "latent_rate_as_of"])
    first = days[0] - np.timedelta64(int(weekday(days[:1])[0]), "D")
    mondays = np.arange(first, days[-1] + np.timedelta64(1, "D"), np.timedelta64(7, "D"))
    pos = np.searchsorted(days, mondays)
    has_day = np.searchsorted(days, mondays + np.timedelta64(7, "D")) > pos
    mondays, pos = mondays[has_day], pos[has_day]
    stop = np.minimum(pos + horizon, len(days))

    def window_sum(daily: np.ndarray) -> np.ndarray:
        """Per pupil row and as-of date: the sum of `daily` over the next `horizon` days."""
        cum = np.concatenate([np.zeros((len(daily), 1)), np.cumsum(daily, axis=1)], axis=1)
        return cum[:, stop] - cum[:, pos]

    frames = []
    years = np.array(cal.school_years, dtype=object)
    n = len(plan.population.pupil_ids)
    for lo in range(0, n, RNG_BLOCK):
        idx = np.arange(lo, min(lo + RNG_BLOCK, n))
        e, escalation = expected_daily_absence(plan, idx, escalation_part=True)
        enrolled = ~np.isnan(e)

        total = window_sum(np.nan_to_num(e).astype(np.float64))
        registered = window_sum(enrolled.astype(np.float64))
        not_begun = plan.risk.onset[idx][:, None] >= pos[None, :]
        total_as_of = total - np.where(not_begun, window_sum(escalation.astype(np.float64)), 0.0)
        on_roll = enrolled[:, np.minimum(pos, len(days) - 1)]
        known = (registered > 0) & on_roll
        rate = np.where(known, np.clip(total / np.maximum(registered, 1), 0.0, 1.0), np.nan)
        rate_as_of = np.where(known, np.clip(total_as_of / np.maximum(registered, 1), 0.0, 1.0),
                              np.nan)
        p, w = np.nonzero(~np.isnan(rate))
        frames.append(pd.DataFrame({
            "pupil_id": plan.population.pupil_ids[idx[p]],
            "as_of": mondays[w],
            "school_year": years[cal.year[np.minimum(pos[w], len(days) - 1)]],
            "kind": KIND_NAMES[plan.risk.kind[idx[p]]],
            "latent_rate": rate[p, w].astype(np.float32),
            "latent_rate_as_of": rate_as_of[p, w].astype(np.float32),
        }))
    return pd.concat(frames, ignore_index=True)


def write_latent_truth(plan: DemoPlan, path: Path) -> Path:
    """Write `latent_truth` to a Parquet side file (owner-only: it is keyed by pupil)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    latent_truth(plan).to_parquet(path, index=False)
    os.chmod(path, 0o600)
    return path
