"""Stage 2: schools, pupils, one enrolment per pupil and school year, classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.calendar import (
    parse_school_year,
)
from simulator.parameters import SCHOOL_NAMES


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
