"""Small municipalities for tests: valid contract files built in memory, written on demand.

`small_municipality()` returns the files as frames of text (exactly what a CSV holds), so a test
corrupts one cell or drops one column and writes the folder with `write`. Row i of a frame is
line i + 2 of its CSV (the header is line 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from model.calendar import danish_school_days, parse_school_year

SCHOOL_YEAR = "2024/25"
STATUS_WEIGHTS = {"present": 0.86, "illness": 0.08, "authorised": 0.03, "unauthorised": 0.03}


def cpr_number(born: date, serial: int, male: bool, hyphen: bool = True) -> str:
    """A CPR number for someone born in 2000-2036: the 7th digit 4 gives the century; the last
    digit's parity gives the gender. No modulus-11 check (not guaranteed since 2007)."""
    last = (serial % 5) * 2 + (1 if male else 0)
    tail = f"4{serial % 100:02d}{last}"
    head = born.strftime("%d%m%y")
    return f"{head}-{tail}" if hyphen else f"{head}{tail}"


@dataclass
class Municipality:
    """The contract's files as frames of strings, keyed by file name without suffix."""

    files: dict[str, pd.DataFrame] = field(default_factory=dict)
    cpr: dict[str, str] = field(default_factory=dict)  # pupil_id in the files -> its CPR number

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.files[name]

    def copy(self) -> Municipality:
        return Municipality({k: v.copy() for k, v in self.files.items()}, dict(self.cpr))

    def write(self, folder: Path, *, sep: str = ",", fmt: str = "csv",
              drop: tuple[str, ...] = ()) -> Path:
        """Write the files into `folder` (created) as CSV with `sep`, or as Parquet."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in self.files.items():
            if name in drop:
                continue
            if fmt == "parquet":
                frame.to_parquet(folder / f"{name}.parquet", index=False)
            else:
                frame.to_csv(folder / f"{name}.csv", sep=sep, index=False)
        return folder


def small_municipality(*, pupils: int = 20, schools: int = 2, school_year: str = SCHOOL_YEAR,
                       weeks: int = 3, seed: int = 0, cpr: bool = False, partial: bool = True,
                       concerns: bool = True, wellbeing: bool = True) -> Municipality:
    """A valid tiny municipality: `schools` schools, `pupils` pupils enrolled in one school year,
    the register of the first `weeks` weeks of that year (Danish school days), a few concerns and
    the class wellbeing survey. With `cpr`, every other pupil is identified by a CPR number."""
    rng = np.random.default_rng(seed)
    start = parse_school_year(school_year)
    school_ids = [f"S{i + 1}" for i in range(schools)]
    files: dict[str, pd.DataFrame] = {}
    files["schools"] = pd.DataFrame({"school_id": school_ids,
                                     "name": [f"Skole {i + 1}" for i in range(schools)]})

    grades = rng.integers(0, 10, pupils)
    genders = rng.choice(["F", "M"], pupils)
    born = [date(start - 6 - int(g), int(rng.integers(1, 13)), int(rng.integers(1, 29)))
            for g in grades]
    cprs: dict[str, str] = {}
    ids = []
    for i in range(pupils):
        if cpr and i % 2 == 0:
            number = cpr_number(born[i], i, genders[i] == "M", hyphen=i % 4 == 0)
            ids.append(number)
            cprs[number] = number
        else:
            ids.append(f"P{i + 1:03d}")
    files["pupils"] = pd.DataFrame({
        "pupil_id": ids,
        # CPR-numbered pupils leave birth date and gender blank: they come from the number.
        "birth_date": ["" if ids[i] in cprs else born[i].isoformat() for i in range(pupils)],
        "gender": ["" if ids[i] in cprs else genders[i] for i in range(pupils)],
    })
    school_of = [school_ids[i % schools] for i in range(pupils)]
    classes = [f"{school_of[i]}-{grades[i]}A" for i in range(pupils)]
    files["enrolments"] = pd.DataFrame({
        "pupil_id": ids,
        "school_id": school_of,
        "school_year": school_year,
        "grade": [str(g) for g in grades],
        "class_id": classes,
        "special_needs": rng.choice(["true", "false", ""], pupils, p=[0.1, 0.8, 0.1]),
    })

    days = danish_school_days(school_year)[: 5 * weeks]
    statuses = rng.choice(list(STATUS_WEIGHTS), (pupils, len(days)),
                          p=list(STATUS_WEIGHTS.values()))
    fractions = np.full((pupils, len(days)), "", object)
    if partial:
        partial_days = (statuses != "present") & (rng.random(statuses.shape) < 0.3)
        fractions[partial_days] = rng.choice(["0.5", "0.25", "0.75"], int(partial_days.sum()))
    files["attendance"] = pd.DataFrame({
        "pupil_id": np.repeat(ids, len(days)),
        "date": np.tile([d.isoformat() for d in days], pupils),
        "status": statuses.ravel(),
        "absent_fraction": fractions.ravel(),
    })

    if concerns:
        who = rng.choice(pupils, 6, replace=False)
        files["concerns"] = pd.DataFrame({
            "pupil_id": [ids[i] for i in who],
            "date": [days[int(rng.integers(len(days)))].isoformat() for _ in who],
            "source": rng.choice(["teacher", "parent", "health"], len(who)),
            "category": rng.choice(["wellbeing", "bullying", "academic", "family"], len(who)),
            "severity": rng.choice(["1", "2", "3", ""], len(who)),
        })
    if wellbeing:
        distinct = sorted(set(classes))
        files["class_wellbeing"] = pd.DataFrame({
            "class_id": distinct,
            "school_year": school_year,
            **{c: [f"{x:.2f}" for x in rng.uniform(2.5, 4.8, len(distinct))]
               for c in ("social", "academic", "calm_order", "support")},
        })
        files["class_wellbeing"].loc[0, "support"] = ""  # not reported: blank is allowed
    return Municipality(files, cprs)


def write_small_municipality(folder: Path, *, sep: str = ",", fmt: str = "csv",
                             mutate: Callable[[Municipality], None] | None = None,
                             drop: tuple[str, ...] = (), **knobs) -> Path:
    """Write a small municipality (see `small_municipality` for the knobs) into `folder`;
    `mutate` may corrupt it first, `drop` leaves files out."""
    town = small_municipality(**knobs)
    if mutate is not None:
        mutate(town)
    return town.write(folder, sep=sep, fmt=fmt, drop=drop)


# --- corrupting a municipality ---------------------------------------------------------------


def set_cell(file: str, row: int, column: str, value: str) -> Callable[[Municipality], None]:
    """A mutation: one cell of one file set to `value`."""

    def mutate(town: Municipality) -> None:
        town[file].loc[row, column] = value

    mutate.what = f"{file} row {row}: {column} = {value!r}"
    return mutate


def append_copy(file: str, row: int, **changes: str) -> Callable[[Municipality], None]:
    """A mutation: a copy of row `row` appended at the end, with `changes`."""

    def mutate(town: Municipality) -> None:
        extra = town[file].iloc[[row]].copy()
        for column, value in changes.items():
            extra[column] = value
        town.files[file] = pd.concat([town[file], extra], ignore_index=True)

    mutate.what = f"{file}: row {row} appended again with {changes}"
    return mutate


def drop_column(file: str, column: str) -> Callable[[Municipality], None]:
    def mutate(town: Municipality) -> None:
        town.files[file] = town[file].drop(columns=column, errors="ignore")

    mutate.what = f"{file}: column {column} dropped"
    return mutate


def future_weekday() -> date:
    """The first weekday after today."""
    day = date.today() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@dataclass(frozen=True)
class Corruption:
    """A mutation of a municipality and where the contract must report it (column None for a
    row rule: a duplicate)."""

    what: str
    mutate: Callable[[Municipality], None] = field(repr=False)
    file: str
    line: int
    column: str | None

    def __iter__(self):
        return iter((self.mutate, self.file, self.line, self.column))


def corruptions(base: Municipality):
    """A hypothesis strategy: one `Corruption` of `base` that the contract must reject: bad
    dates, statuses and fractions, unknown pupils and schools, duplicates with conflicting
    values, out-of-range grades, severities and wellbeing values, missing columns."""
    from hypothesis import strategies as st

    from model.contract import CATEGORIES, SOURCES, STATUS_ALIASES, normalise_status

    text = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)
    n_att = len(base["attendance"])
    n_enrol = len(base["enrolments"])
    n_concerns = len(base["concerns"])
    n_classes = len(base["class_wellbeing"])
    not_iso = text.filter(lambda s: not re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", s))
    not_status = text.filter(lambda s: STATUS_ALIASES.get(normalise_status(s)) is None)

    @st.composite
    def strategy(draw) -> Corruption:
        mutate, file, line, column = _draw(draw)
        return Corruption(mutate.what, mutate, file, line, column)

    def _draw(draw):
        kind = draw(st.sampled_from(["date", "status", "fraction", "pupil", "duplicate", "grade",
                                     "school", "gender", "severity", "code", "wellbeing",
                                     "column"]))
        row = draw(st.integers(0, n_att - 1))
        line = row + 2
        if kind == "date":
            value = draw(st.sampled_from(["2024-13-01", "2024-02-30", "12-08-2024", "2024/08/12",
                                          "2024-08-17", "2024-08-18", "2031-06-02",
                                          future_weekday().isoformat()]) | not_iso)
            return set_cell("attendance", row, "date", value), "attendance.csv", line, "date"
        if kind == "status":
            value = draw(not_status)
            return set_cell("attendance", row, "status", value), "attendance.csv", line, "status"
        if kind == "fraction":
            # bounds kept clear of 0 and 1 so that no formatting rounds them back into range
            number = draw(st.floats(1.01, 1e6) | st.floats(-1e6, -0.01))
            word = draw(st.from_regex(r"[a-zA-Zæøå]{1,8}", fullmatch=True))
            value = draw(st.sampled_from([repr(number), f"{number:.3f}".replace(".", ","), word]))
            return (set_cell("attendance", row, "absent_fraction", value), "attendance.csv",
                    line, "absent_fraction")
        if kind == "pupil":
            value = draw(st.from_regex(r"Q[0-9]{1,6}", fullmatch=True))
            return (set_cell("attendance", row, "pupil_id", value), "attendance.csv", line,
                    "pupil_id")
        if kind == "duplicate":
            other = "illness" if base["attendance"].loc[row, "status"] == "present" else "present"
            return (append_copy("attendance", row, status=other, absent_fraction=""),
                    "attendance.csv", n_att + 2, None)
        if kind in ("grade", "school"):
            r = draw(st.integers(0, n_enrol - 1))
            if kind == "grade":
                value = str(draw(st.integers(11, 99) | st.integers(-99, -1)))
                return set_cell("enrolments", r, "grade", value), "enrolments.csv", r + 2, "grade"
            return (set_cell("enrolments", r, "school_id", f"X{r}"), "enrolments.csv", r + 2,
                    "school_id")
        if kind == "gender":
            r = draw(st.integers(0, n_enrol - 1))
            value = draw(text.filter(lambda s: s.strip().upper() not in ("F", "M", "")))
            return set_cell("pupils", r, "gender", value), "pupils.csv", r + 2, "gender"
        if kind == "severity":
            r = draw(st.integers(0, n_concerns - 1))
            value = str(draw(st.integers(4, 50) | st.integers(-5, 0)))
            return set_cell("concerns", r, "severity", value), "concerns.csv", r + 2, "severity"
        if kind == "code":
            r = draw(st.integers(0, n_concerns - 1))
            column = draw(st.sampled_from(["source", "category"]))
            value = draw(st.from_regex(r"[a-z]{3,9}", fullmatch=True).filter(
                lambda s: s not in SOURCES + CATEGORIES))
            return set_cell("concerns", r, column, value), "concerns.csv", r + 2, column
        if kind == "wellbeing":
            r = draw(st.integers(0, n_classes - 1))
            column = draw(st.sampled_from(["social", "academic", "calm_order", "support"]))
            value = f"{draw(st.floats(5.01, 100) | st.floats(-100, 0.99)):.2f}"
            return (set_cell("class_wellbeing", r, column, value), "class_wellbeing.csv", r + 2,
                    column)
        file, column = draw(st.sampled_from([
            ("attendance", "status"), ("attendance", "date"), ("attendance", "pupil_id"),
            ("enrolments", "grade"), ("pupils", "pupil_id"), ("schools", "name"),
            ("concerns", "category"), ("class_wellbeing", "school_year"),
        ]))
        return drop_column(file, column), f"{file}.csv", 1, column

    return strategy()
