"""Validating a read delivery against every rule of the contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from model.calendar import school_year_label, weekday
from model.contract.grid import RegisterEntries, _RegisterGrid
from model.contract.parsing import (
    _Coded,
    _coded,
    _parse_dates,
    _parse_numbers,
    _parse_school_years,
    _parse_whole_numbers,
    _school_years_of,
)
from model.contract.reading import RawDelivery, SourceFile, locate, read
from model.contract.specs import (
    BOOLEANS,
    CATEGORIES,
    FILE_ORDER,
    ID_LENGTH,
    MAX_PROBLEMS,
    NAME_LENGTH,
    SOURCES,
    STATUS_ALIASES,
    STATUS_HINT,
    WEEKDAY_NAMES,
    WELLBEING_INDICATORS,
    normalise_status,
    shown,
)
from model.errors import Problem, UserError
from model.identifiers import CPR_IN_TEXT, id_problem, normalised_text
from model.store import FRACTION_SCALE, STATUS_CODES


@dataclass
class StoreKeys:
    """What the store already holds, so that a delivery may refer to it (foreign keys across
    imports): pupil and school ids, and enrolments (pupil_id, school_year, school_id, class_id).
    """

    pupil_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    school_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    enrolments: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {c: pd.Series([], dtype=object)
         for c in ("pupil_id", "school_year", "school_id", "class_id")}
    ))


@dataclass
class Delivery:
    """A validated delivery: typed frames keyed as in the store, the register as arrays, the
    school days (school_id, date) that the register implies, and what was read.
    """

    files: list[dict]
    warnings: list[str]
    schools: pd.DataFrame
    pupils: pd.DataFrame
    enrolments: pd.DataFrame
    register: RegisterEntries
    school_days: pd.DataFrame
    concerns: pd.DataFrame
    class_wellbeing: pd.DataFrame
    collapsed: int = 0  # identical duplicate rows dropped


def load(folder: Path | str, key: bytes, known: StoreKeys | None = None,
         today: date | None = None) -> Delivery:
    """Locate, read and validate a delivery folder in one call; UserError on any broken rule."""
    return validate(read(locate(folder), key), known, today)


def validate(raw: RawDelivery, known: StoreKeys | None = None,
             today: date | None = None) -> Delivery:
    """Check every rule of the contract (vectorised). Foreign keys may point into the delivery
    or into `known` (the store). UserError with up to 20 problems if any rule is broken.
    """
    return _Validator(raw, known or StoreKeys(), today or date.today()).run()


class _Problems:
    """Broken rules found so far, at most MAX_PROBLEMS per rule; sorted by file and line."""

    def __init__(self) -> None:
        self._found: list[tuple[int, int, int, Problem]] = []

    def add(self, src: SourceFile, line: int | None, column: str | None, rule: str) -> None:
        order = (FILE_ORDER[src.spec.name], line or 0, len(self._found))
        self._found.append((*order, Problem(src.display, rule, line, column)))

    def rows(self, src: SourceFile, mask: np.ndarray, column: str | None,
             rule: str | Callable[[int], str]) -> None:
        """One problem for each of the first rows where `mask` holds; `rule` may be a function
        of the row position (to name the offending value).
        """
        for pos in np.flatnonzero(mask)[:MAX_PROBLEMS]:
            text = rule(int(pos)) if callable(rule) else rule
            self.add(src, int(src.frame.index[pos]), column, text)

    def values(self, src: SourceFile, coded: _Coded, bad: np.ndarray, column: str,
               template: str, only: np.ndarray | None = None) -> np.ndarray:
        """Flag rows whose distinct value is bad; `template` gets {value}. Returns the row mask."""
        mask = bad[coded.codes]
        if only is not None:
            mask &= only
        self.rows(src, mask, column,
                  lambda pos: template.format(value=shown(coded.uniques[coded.codes[pos]])))
        return mask

    def __bool__(self) -> bool:
        return bool(self._found)

    def raise_if_any(self) -> None:
        if self._found:
            self._found.sort(key=lambda item: item[:3])
            raise UserError([p for *_, p in self._found[:MAX_PROBLEMS]])


class _Validator:
    def __init__(self, raw: RawDelivery, known: StoreKeys, today: date):
        self.raw = raw
        self.known = known
        self.today = np.datetime64(today, "D")
        self.problems = _Problems()
        self.warnings = list(raw.warnings)
        self.collapsed = 0

    def run(self) -> Delivery:
        schools = self.schools()
        pupils = self.pupils()
        # Foreign keys point at every id the files name (a row with another problem is reported
        # for that problem, not again in each file that refers to it) and at the store.
        named_schools = _coded(self.raw.files["schools"].frame["school_id"]).uniques
        pupil_file_ids = self.raw.files["pupils"].ids
        named_pupils = pupil_file_ids.values[pupil_file_ids.named()]
        school_ids = pd.Index(self.known.school_ids, dtype=object).union(
            pd.Index(named_schools[named_schools != ""], dtype=object))
        self.pupil_ids = pd.Index(self.known.pupil_ids, dtype=object).union(
            pd.Index(named_pupils, dtype=object))
        enrolments, file_enrolments = self.enrolments(school_ids)
        register, school_days = self.attendance(enrolments)
        concerns = self.concerns()
        wellbeing = self.class_wellbeing(enrolments)
        self.problems.raise_if_any()
        files = [{"file": s.display, "sha256": s.sha256, "rows": len(s)}
                 for s in self.raw.files.values()]
        return Delivery(files, self.warnings, schools, pupils, file_enrolments, register,
                        school_days, concerns, wellbeing, self.collapsed)

    # --- shared rules ---

    def _required(self, src: SourceFile, coded: _Coded, column: str) -> np.ndarray:
        blank = coded.blank_rows()
        self.problems.rows(src, blank, column, f"{column} is required")
        return blank

    def _text(self, src: SourceFile, coded: _Coded, column: str, limit: int | None = None) -> None:
        """A stored text: not too long for the store (ids: the identifier rule checks the
        length), and never a CPR number.
        """
        if limit is not None:
            too_long = np.array([len(v) > limit for v in coded.uniques], bool)
            self.problems.rows(src, too_long[coded.codes], column,
                               f"{column} is longer than {limit} characters")
        control = np.array([any(ord(c) < 32 or 127 <= ord(c) < 160 for c in v)
                            for v in coded.uniques], bool)
        self.problems.rows(src, control[coded.codes], column,
                           f"{column} holds a control character (a NUL byte, a tab, ...)")
        cpr = np.array([bool(CPR_IN_TEXT.search(normalised_text(v))) for v in coded.uniques],
                       bool)
        self.problems.rows(src, cpr[coded.codes], column,
                           f"{column} looks like a CPR number: only pupil_id may hold one")

    def _identifier(self, src: SourceFile, coded: _Coded, column: str,
                    unicode_letters: bool = False, echo: bool = False) -> np.ndarray:
        """The identifier rule (model.identifiers) on a non-blank id column; the row mask of
        broken ids. A pupil id is never echoed; another id is, masked by `shown`.
        """
        rules = [id_problem(v, unicode_letters=unicode_letters) if v != "" else None
                 for v in coded.uniques]
        bad = np.array([r is not None for r in rules], bool)
        mask = bad[coded.codes]
        self.problems.rows(src, mask, column, lambda pos: (
            f"{column}{' ' + shown(coded.uniques[coded.codes[pos]]) if echo else ''} "
            f"{rules[coded.codes[pos]]} (ids: letters, digits and - _ . : only, 1-{ID_LENGTH} "
            "characters)"))
        return mask

    def _pupil(self, src: SourceFile) -> tuple[np.ndarray, np.ndarray]:
        """Row masks (blank or malformed id, unknown pupil) for a file's pupil_id column."""
        ids = src.ids
        self.problems.rows(src, ids.bad_cpr[ids.codes], "pupil_id",
                           "pupil_id has the shape of a CPR number but no valid birth date: "
                           "give a valid CPR number or a pseudonymous id")
        blank = ids.blank_rows()
        self.problems.rows(src, blank, "pupil_id", "pupil_id is required")
        checked = np.where(ids.bad_cpr, "", ids.values).astype(object)
        broken = self._identifier(src, _Coded(ids.codes, checked), "pupil_id")
        blank = blank | broken
        invalid = blank | ids.bad_cpr[ids.codes]
        if src.spec.name == "pupils":
            return invalid, np.zeros(len(src), bool)
        unknown_value = ~pd.Index(ids.values, dtype=object).isin(self.pupil_ids) & ids.named()
        unknown = unknown_value[ids.codes]
        self.problems.rows(src, unknown, "pupil_id",
                           "unknown pupil: not in pupils.csv (nor in the store)")
        return invalid, unknown

    def _dates(self, src: SourceFile, coded: _Coded, column: str, weekdays: bool = False):
        """Row dates (datetime64[D]) and the mask of rows without a valid one."""
        days_u, bad_u = _parse_dates(coded.uniques)
        bad = self.problems.values(src, coded, bad_u, column,
                                   column + " must be an ISO date (YYYY-MM-DD), not {value}")
        future_u = ~np.isnat(days_u) & (days_u > self.today)
        self.problems.rows(src, future_u[coded.codes], column, f"{column} is in the future")
        bad |= future_u[coded.codes]
        if weekdays:
            dow = weekday(np.where(np.isnat(days_u), np.datetime64("1970-01-05"), days_u))
            weekend_u = ~np.isnat(days_u) & (dow >= 5)
            self.problems.rows(src, weekend_u[coded.codes], column,
                               lambda pos: f"{column} is a {WEEKDAY_NAMES[dow[coded.codes[pos]]]}: "
                                           "the register has weekdays only")
            bad |= weekend_u[coded.codes]
        return days_u[coded.codes], bad, days_u

    def _duplicates(self, src: SourceFile, key: np.ndarray, value: np.ndarray,
                    eligible: np.ndarray, label: str) -> np.ndarray:
        """Rows with the same key: identical ones collapse (a warning), different ones are an
        error naming the first. Returns the mask of rows to keep.
        """
        keep = np.ones(len(key), bool)
        candidates = np.flatnonzero(eligible)
        dup = pd.Series(key[candidates]).duplicated(keep=False).to_numpy()
        if not dup.any():
            return keep
        idx = candidates[dup]
        order = idx[np.lexsort((idx, key[idx]))]
        k, v = key[order], value[order]
        start = np.r_[True, k[1:] != k[:-1]]
        first = order[np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))]
        identical = ~start & (v == value[first])
        conflict = ~start & ~identical
        keep[order[identical]] = False
        if identical.any():
            n = int(identical.sum())
            self.collapsed += n
            # Named by the earliest copy in the file and the row that repeats it (the key
            # order of `order` says nothing about lines).
            lines = np.asarray(src.frame.index)
            copy_lines = lines[order[identical]]
            at = int(np.argmin(copy_lines))
            original = int(lines[first[identical][at]])
            self.warnings.append(f"{src.display}: {n} identical duplicate row{'s' if n > 1 else ''}"
                                 f" collapsed (first on line {original}, repeated on line "
                                 f"{int(copy_lines[at])})")
        mask = np.zeros(len(key), bool)
        mask[order[conflict]] = True
        first_of = dict(zip(order[conflict].tolist(), first[conflict].tolist(), strict=True))
        self.problems.rows(src, mask, None, lambda pos: f"duplicate {label} with different values "
                           f"(first on line {int(src.frame.index[first_of[pos]])})")
        return keep

    def _hash_duplicates(self, src: SourceFile, typed: pd.DataFrame, key: list[str],
                         eligible: np.ndarray, label: str) -> np.ndarray:
        key_hash = pd.util.hash_pandas_object(typed[key], index=False).to_numpy()
        row_hash = pd.util.hash_pandas_object(typed, index=False).to_numpy()
        return self._duplicates(src, key_hash, row_hash, eligible, label)

    # --- the files ---

    def schools(self) -> pd.DataFrame:
        src = self.raw.files["schools"]
        school, name = _coded(src.frame["school_id"]), _coded(src.frame["name"])
        blank = self._required(src, school, "school_id")
        self._required(src, name, "name")
        blank |= self._identifier(src, school, "school_id", unicode_letters=True, echo=True)
        self._text(src, school, "school_id")
        self._text(src, name, "name", NAME_LENGTH)
        typed = pd.DataFrame({"school_id": school.rows(), "name": name.rows()})
        keep = self._hash_duplicates(src, typed, ["school_id"], ~blank, "school_id")
        return typed[keep & ~blank].reset_index(drop=True)

    def pupils(self) -> pd.DataFrame:
        src = self.raw.files["pupils"]
        ids, n = src.ids, len(src)
        invalid, _ = self._pupil(src)
        birth = _coded(src.frame.get("birth_date"), n)
        born, _, _ = self._dates(src, birth, "birth_date")
        gender = _coded(src.frame.get("gender"), n)
        gender_u = np.array([v.upper() for v in gender.uniques], object)
        self.problems.values(src, gender, ~np.isin(gender_u, ["F", "M", ""]), "gender",
                             "gender must be F, M or blank, not {value}")
        # A CPR number gives birth date and gender where the file leaves them blank.
        derived = birth.blank_rows()
        born = np.where(derived, ids.born[ids.codes], born)
        self.problems.rows(src, derived & ~np.isnat(born) & (born > self.today), "pupil_id",
                           "pupil_id is a CPR number with a birth date in the future")
        sex = np.where(gender.blank_rows(), ids.gender[ids.codes], gender_u[gender.codes])
        typed = pd.DataFrame({
            "pupil_id": ids.values[ids.codes],
            "birth_date": pd.Series(born.astype("datetime64[s]")),
            "gender": pd.Series(sex, dtype=object).replace("", None),
        })
        keep = self._hash_duplicates(src, typed, ["pupil_id"], ~invalid, "pupil_id")
        return typed[keep & ~invalid].reset_index(drop=True)

    def enrolments(self, school_ids: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The enrolments of the file, and those combined with the store's (the file wins)."""
        src = self.raw.files["enrolments"]
        f, n, ids = src.frame, len(src), src.ids
        invalid, unknown = self._pupil(src)
        school = _coded(f["school_id"])
        bad = invalid | unknown | self._required(src, school, "school_id")
        bad_school = self._identifier(src, school, "school_id", unicode_letters=True, echo=True)
        bad |= bad_school
        unknown_school = ~pd.Index(school.uniques).isin(school_ids) & (school.uniques != "")
        unknown_school &= ~np.array([id_problem(v, unicode_letters=True) is not None
                                     for v in school.uniques], bool)
        bad |= self.problems.values(src, school, unknown_school, "school_id",
                                    "unknown school {value}: not in schools.csv (nor in the store)")
        year = _coded(f["school_year"])
        bad |= self._required(src, year, "school_year")
        bad_year = ~_parse_school_years(year.uniques) & (year.uniques != "")
        bad |= self.problems.values(src, year, bad_year, "school_year",
                                    "school_year must look like 2024/25, not {value}")
        grade = _coded(f["grade"])
        bad |= self._required(src, grade, "grade")
        number, bad_grade = _parse_whole_numbers(grade.uniques, 0, 10)
        bad |= self.problems.values(src, grade, bad_grade, "grade",
                                    "grade must be a whole number from 0 to 10, not {value}")
        klass = _coded(f.get("class_id"), n)
        bad |= self._identifier(src, klass, "class_id", unicode_letters=True, echo=True)
        self._text(src, klass, "class_id")
        needs = _coded(f.get("special_needs"), n)
        needs_lower = np.array([v.lower() for v in needs.uniques], object)
        self.problems.values(src, needs, ~np.isin(needs_lower, list(BOOLEANS)), "special_needs",
                             "special_needs must be true/false, 1/0, ja/nej or blank, not {value}")
        needs_u = pd.array([BOOLEANS.get(v) for v in needs_lower], dtype="boolean")
        grade_rows = pd.array(np.where(np.isnan(number), 0, number).astype(int), dtype="Int16")
        typed = pd.DataFrame({
            "pupil_id": ids.values[ids.codes],
            "school_year": year.rows(),
            "school_id": school.rows(),
            "grade": grade_rows[grade.codes],
            "class_id": pd.Series(klass.rows(), dtype=object).replace("", None),
            "special_needs": needs_u[needs.codes],
        })
        keep = self._hash_duplicates(src, typed, ["pupil_id", "school_year"],
                                     ~(invalid | bad_year[year.codes] | year.blank_rows()),
                                     "(pupil_id, school_year)")
        mine = typed[keep & ~bad].reset_index(drop=True)
        cols = ["pupil_id", "school_year", "school_id", "class_id"]
        theirs = self.known.enrolments[cols]
        if len(theirs):
            mine_keys = pd.MultiIndex.from_frame(mine[["pupil_id", "school_year"]])
            kept = ~pd.MultiIndex.from_frame(theirs[["pupil_id", "school_year"]]).isin(mine_keys)
            combined = pd.concat([theirs[kept], mine[cols]], ignore_index=True)
        else:
            combined = mine[cols].copy()
        return combined, mine

    def attendance(self, enrolments: pd.DataFrame) -> tuple[RegisterEntries, pd.DataFrame]:
        """The register, checked chunk by chunk with the rules of `_attendance_chunk`; then
        duplicate (pupil, date) rows across the whole file, and the entries as arrays.
        """
        streamed = self.raw.files["attendance"]
        grid = _RegisterGrid(self.pupil_ids, enrolments)
        try:
            for src in streamed.chunks():
                self._attendance_chunk(src, grid)
        except UserError as exc:  # the file cannot be parsed to its end: rejected whole
            for problem in exc.problems:
                self.problems.add(streamed, problem.line, problem.column, problem.rule)
            return grid.entries(np.zeros(0, bool)), grid.school_days()
        grid.collect()
        keep = np.ones(grid.size, bool)
        involved = grid.repeated()
        if involved.any():
            # The rows that share a (pupil, date) with another row, in line order: the same rule
            # as for a file read whole (identical ones collapse, different ones are an error).
            rows = np.flatnonzero(involved)
            src = SourceFile(streamed.spec, streamed.path, streamed.sha256,
                             pd.DataFrame(index=grid.line[rows]), None)
            value = grid.status[rows].astype(np.int64) * 256 + grid.absent[rows]
            keep[rows] = self._duplicates(src, grid.cell_key(rows), value,
                                          np.ones(len(rows), bool), "(pupil_id, date)")
        return grid.entries(keep), grid.school_days()

    def _attendance_chunk(self, src: SourceFile, grid: _RegisterGrid) -> None:
        """Check the rules of one chunk of the register; its valid rows go to `grid`."""
        f, n, ids = src.frame, len(src), src.ids
        invalid, unknown = self._pupil(src)
        date_c = _coded(f["date"])
        bad = invalid | unknown | self._required(src, date_c, "date")
        _, bad_date, days_u = self._dates(src, date_c, "date", weekdays=True)
        bad |= bad_date

        status_c = _coded(f["status"])
        bad |= self._required(src, status_c, "status")
        status_u = np.array([STATUS_CODES.get(STATUS_ALIASES.get(normalise_status(v), ""), 0)
                             for v in status_c.uniques], np.uint8)
        bad |= self.problems.values(src, status_c, (status_u == 0) & (status_c.uniques != ""),
                                    "status", "unknown status {value}: " + STATUS_HINT)
        status = status_u[status_c.codes]

        frac_c = _coded(f.get("absent_fraction"), n)
        frac_u, frac_nan = _parse_numbers(frac_c.uniques)
        with np.errstate(invalid="ignore"):
            frac_bad = frac_nan | (frac_u < 0) | (frac_u > 1)
        bad |= self.problems.values(src, frac_c, frac_bad, "absent_fraction",
                                    "absent_fraction must be a number from 0 to 1, not {value}")
        frac_blank_u = frac_c.uniques == ""
        frac = np.where(frac_blank_u | frac_bad, 0.0, frac_u)[frac_c.codes]
        given = ~frac_blank_u[frac_c.codes]
        present, absence = status == STATUS_CODES["present"], status > STATUS_CODES["present"]
        present_absent = present & given & (frac > 0)
        self.problems.rows(src, present_absent, "absent_fraction",
                           "absent_fraction must be 0 or blank for present (a partial day is an "
                           "absence status with 0 < fraction < 1)")
        absence_zero = absence & given & (frac == 0) & ~frac_bad[frac_c.codes]
        self.problems.rows(src, absence_zero, "absent_fraction",
                           "absent_fraction must be above 0 for an absence status "
                           "(a day without absence is present)")
        bad |= present_absent | absence_zero
        absent = np.where(given, np.rint(frac * FRACTION_SCALE), FRACTION_SCALE)
        absent = np.where(absence, np.maximum(absent, 1), 0).astype(np.uint8)

        # The pupil must be enrolled in the school year of the date: a dense lookup per school
        # year (pupil -> school) instead of a join row by row.
        valid_day = ~np.isnat(days_u)
        start_u, day_u = _school_years_of(np.where(valid_day, days_u, np.datetime64("2000-01-03")))
        start = np.where(valid_day, start_u, -1)[date_c.codes]
        pupil = grid.pupil_ids.get_indexer(pd.Index(ids.values, dtype=object))[ids.codes]
        checkable = ~(invalid | unknown) & (start >= 0)
        school = np.full(n, -1, np.int32)
        years = np.unique(start_u[valid_day])  # few distinct dates: no pass over the rows
        for year in years:
            rows = checkable & (start == year)
            school[rows] = grid.enrolled(int(year))[pupil[rows]]
        not_enrolled = checkable & (school < 0)
        self.problems.rows(src, not_enrolled, "pupil_id", lambda pos: (
            f"pupil is not enrolled in school year {school_year_label(int(start[pos]))} "
            "(enrolments.csv)"))
        bad |= not_enrolled
        ok = ~bad
        codes = date_c.codes[ok]
        grid.add(years, pupil[ok], start[ok], day_u[codes], status[ok], absent[ok],
                 np.asarray(src.frame.index)[ok], school[ok])

    def concerns(self) -> pd.DataFrame:
        src = self.raw.files.get("concerns")
        cols = ["pupil_id", "date", "source", "category", "severity"]
        if src is None:
            return _empty(cols)
        f, n, ids = src.frame, len(src), src.ids
        invalid, unknown = self._pupil(src)
        date_c = _coded(f["date"])
        bad = invalid | unknown | self._required(src, date_c, "date")
        day, bad_date, _ = self._dates(src, date_c, "date")
        bad |= bad_date
        out = {}
        for column, allowed in (("source", SOURCES), ("category", CATEGORIES)):
            coded = _coded(f[column])
            bad |= self._required(src, coded, column)
            lower = np.array([v.lower() for v in coded.uniques], object)
            bad |= self.problems.values(src, coded, ~np.isin(lower, allowed) & (lower != ""),
                                        column, f"{column} must be one of {', '.join(allowed)}, "
                                        "not {value}")
            out[column] = lower[coded.codes]
        sev = _coded(f.get("severity"), n)
        number, bad_sev = _parse_whole_numbers(sev.uniques, 1, 3)
        bad |= self.problems.values(src, sev, bad_sev, "severity",
                                    "severity must be 1, 2, 3 or blank, not {value}")
        severity = pd.array(np.where(np.isnan(number) | bad_sev, -1, number).astype(int),
                            dtype="Int16")
        severity[severity == -1] = pd.NA
        typed = pd.DataFrame({
            "pupil_id": ids.values[ids.codes],
            "date": pd.Series(day.astype("datetime64[s]")),
            "source": out["source"],
            "category": out["category"],
            "severity": severity[sev.codes],
        })
        keep = self._hash_duplicates(src, typed, cols[:4], ~bad,
                                     "(pupil_id, date, source, category)")
        return typed[keep & ~bad].reset_index(drop=True)

    def class_wellbeing(self, enrolments: pd.DataFrame) -> pd.DataFrame:
        src = self.raw.files.get("class_wellbeing")
        cols = ["class_id", "school_year", *WELLBEING_INDICATORS]
        if src is None:
            return _empty(cols)
        f, n = src.frame, len(src)
        klass = _coded(f["class_id"])
        bad = self._required(src, klass, "class_id")
        bad |= self._identifier(src, klass, "class_id", unicode_letters=True, echo=True)
        self._text(src, klass, "class_id")
        year = _coded(f["school_year"])
        bad |= self._required(src, year, "school_year")
        bad_year = ~_parse_school_years(year.uniques) & (year.uniques != "")
        bad |= self.problems.values(src, year, bad_year, "school_year",
                                    "school_year must look like 2024/25, not {value}")
        typed = pd.DataFrame({"class_id": klass.rows(), "school_year": year.rows()})
        known = pd.MultiIndex.from_frame(enrolments[["class_id", "school_year"]].dropna())
        unknown = ~pd.MultiIndex.from_frame(typed).isin(known) & ~bad
        self.problems.rows(src, unknown, "class_id", lambda pos: (
            f"class {shown(typed['class_id'].iat[pos])} is not in enrolments.csv for school year "
            f"{typed['school_year'].iat[pos]}"))
        bad |= unknown
        for column in WELLBEING_INDICATORS:
            coded = _coded(f.get(column), n)
            number, nan = _parse_numbers(coded.uniques)
            with np.errstate(invalid="ignore"):
                out_of_range = nan | (number < 1) | (number > 5)
            bad |= self.problems.values(src, coded, out_of_range, column,
                                        column + " must be a number from 1 to 5 or blank, "
                                        "not {value}")
            typed[column] = pd.array(np.where(out_of_range, np.nan, number),
                                     dtype="Float64")[coded.codes]
        keep = self._hash_duplicates(src, typed, ["class_id", "school_year"], ~bad,
                                     "(class_id, school_year)")
        return typed[keep & ~bad].reset_index(drop=True)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
