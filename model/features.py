"""As-of features: what was registered before an as-of date, for every pupil on roll at once.

Vocabulary (after dssg/triage)
- as-of date t: features use only school days strictly before t, concerns dated before t and
  wellbeing surveys published before t (a school year's survey counts from 1 April).
- feature row: keyed by (pupil_id, as_of). A school week is five school days of the register's
  day axis, so "the last 4 school weeks" are the 20 school days before t.

What each feature means is in the registry (model.feature_registry, re-exported here);
`FeatureBuilder` computes them. Computation is vectorised over a day-major matrix (school day x
pupil, model.register.DayMajor) with cumulative sums, so a window sum is two row reads; there
are no per-pupil Python loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd

from model.calendar import (
    parse_school_year,
    quarter_start,
    school_year_label,
    school_year_of,
    school_year_start,
)
from model.feature_registry import (
    EXCLUDED_BY_DESIGN,
    FEATURE_BY_NAME,
    FEATURE_NAMES,
    FEATURES,
    KEY_COLUMNS,
    META_COLUMNS,
    MONOTONIC_CST,
    WEEK,
    WINDOWS,
    Feature,
    feature_matrix,
)
from model.register import CATEGORIES, RATE_SUMS, DayMajor, Register
from model.rules import rule_scores

__all__ = [  # the registry's names stay importable from here
    "CATEGORIES", "EXCLUDED_BY_DESIGN", "FEATURES", "FEATURE_BY_NAME", "FEATURE_NAMES", "KEY_COLUMNS",
    "META_COLUMNS", "MONOTONIC_CST", "RATE_SUMS", "DayMajor", "Feature", "FeatureBuilder",
    "feature_matrix", "weekly_as_of_dates",
]

CONCERN_WELLBEING = ("wellbeing", "social", "bullying")
WELLBEING_INDICATORS = ("social", "academic", "calm_order", "support")
WELLBEING_PUBLISHED = (4, 1)  # (month, day): a school year's survey is known from 1 April
LEFT_AFTER_DAYS = 10  # no entry on the last 10 school days: the pupil has left


# total_rate_long: the pupil's absence over up to two school years, shrunk towards the national
# average (domain.md: 5.4 % in 2014/15, 5.2 % in 2019/20) by four school weeks' worth of days. A
# pupil with a short history (new on roll, or a register that began this year) is read as
# near-average rather than by a few days, so the same value means about the same whether the
# history is 20 school days or 400: what the model learns in a register's first year carries
# over to later years, where last year's absence is known.
# authorised_rate_long: the same for authorised leave (family trips, "ekstraordinær frihed"),
# shrunk towards its national average (domain.md, 2019/20: 3.5 days of a 200-day school year).
# Leave is a family's habit rather than a season's: a trip or two a year, mostly around the long
# breaks, so a few weeks show little of it and two school years show it well; and a week's trip
# in the next 60 school days is 8 % absence on its own.
LONG_DAYS = 400
PRIOR_RATE, PRIOR_DAYS = 0.054, 4 * WEEK
PRIOR_LEAVE_RATE = 3.5 / 200


def _shrunk_rate(absent: np.ndarray, registered: np.ndarray, prior: float = PRIOR_RATE) -> np.ndarray:
    return ((absent + PRIOR_DAYS * prior) / (registered + PRIOR_DAYS)).astype(np.float32)


class FeatureBuilder:
    """Builds feature rows keyed by (pupil_id, as_of) for every pupil on roll at each as-of date.

    A pupil is on roll at t when enrolled in t's school year and not gone: once ten school days of
    the year have passed, a pupil with no register entry on the last ten school days before t has
    left and is not scored.

    Parameters
    ----------
    register : Register
        The pupil x school-day matrix; enrolled pupils missing from it get rows of "not
        registered".
    enrolments : DataFrame
        pupil_id, school_year, school_id, grade, class_id, special_needs: one row per pupil and
        school year.
    concerns : DataFrame, optional
        pupil_id, date, source, category, severity: the coded concerns.
    class_wellbeing : DataFrame, optional
        class_id, school_year and the indicators social, academic, calm_order, support.
    pupils : DataFrame, optional
        pupil_id, gender: kept beside the features for fairness, never an input.
    chunk_pupils : int, default=25_000
        Pupils per chunk of the day-major sums, so memory stays bounded.

    Attributes
    ----------
    register : Register
        The register, with the rows added for enrolled pupils it lacked.
    row_of : Index
        Each pupil id's row of the register.
    enrolments, concerns, wellbeing : DataFrame
        The inputs as given (enrolments with `special_needs` as bool and the pupil's `_row`).
    gender : Series
        Gender by pupil id (empty without `pupils`).
    chunk_pupils : int
        Pupils per chunk.
    """

    def __init__(
        self,
        register: Register,
        enrolments: pd.DataFrame,
        concerns: pd.DataFrame | None = None,
        class_wellbeing: pd.DataFrame | None = None,
        pupils: pd.DataFrame | None = None,
        chunk_pupils: int = 25_000,
    ):
        enrolled = pd.Index(enrolments["pupil_id"].unique())
        missing = enrolled.difference(pd.Index(register.pupil_ids))
        if len(missing):  # enrolled but never registered: rows of "not registered"
            register = Register(
                np.concatenate([register.pupil_ids, missing.to_numpy(dtype=object)]),
                register.days,
                np.vstack([register.status, np.zeros((len(missing), len(register.days)), np.int8)]),
                np.vstack([register.absent, np.zeros((len(missing), len(register.days)), np.float32)]),
            )
        self.register = register
        self.row_of = pd.Index(register.pupil_ids)
        self.enrolments = enrolments.copy()
        self.enrolments["special_needs"] = (
            self.enrolments["special_needs"].astype(object).fillna(False).astype(bool))
        self.enrolments["_row"] = self.row_of.get_indexer(self.enrolments["pupil_id"])
        self.concerns = concerns if concerns is not None else pd.DataFrame(
            columns=["pupil_id", "date", "source", "category", "severity"])
        self._concern_arrays(self.concerns)
        self.wellbeing = class_wellbeing if class_wellbeing is not None else pd.DataFrame(
            columns=["class_id", "school_year", *WELLBEING_INDICATORS])
        self.gender = (pupils.set_index("pupil_id")["gender"] if pupils is not None
                       else pd.Series(dtype=object))
        self._rolls: dict[str, _YearRoll] = {}
        self._day_major: DayMajor | None = None
        self._rate_sums: DayMajor | None = None
        self.chunk_pupils = chunk_pupils

    @property
    def day_major(self) -> DayMajor:
        """Cumulative sums over the whole register (built on first use; labels and rules read it)."""
        if self._day_major is None:
            self._day_major = DayMajor(self.register)
        return self._day_major

    def _chunks(self, only: Sequence[str] | None = None):
        """(first row, last row + 1, DayMajor) over pupil chunks, so memory stays bounded; `only`
        some of the sums (see DayMajor).
        """
        size = len(self.row_of)
        if size <= self.chunk_pupils and (only is None or self._day_major is not None):
            yield 0, size, self.day_major
            return
        for lo in range(0, size, self.chunk_pupils):
            hi = min(lo + self.chunk_pupils, size)
            reg = self.register
            yield lo, hi, DayMajor(Register(reg.pupil_ids[lo:hi], reg.days, reg.status[lo:hi],
                                            reg.absent[lo:hi]), only)

    def rate_sums(self) -> DayMajor:
        """Day-major sums enough for absence rates over the whole register.

        Returns
        -------
        DayMajor
            The full sums when they are built, else only RATE_SUMS (trailing rates, labels, the
            statutory quarter).
        """
        if self._day_major is not None:
            return self._day_major
        if self._rate_sums is None:
            self._rate_sums = DayMajor(self.register, RATE_SUMS)
        return self._rate_sums

    # -- public ---------------------------------------------------------------------------

    def build(self, as_of_dates: Iterable[date], with_rules: bool = False) -> pd.DataFrame:
        """Feature rows for every pupil on roll at each as-of date.

        Parameters
        ----------
        as_of_dates : iterable of date-like
            The as-of dates; each row uses only what was registered before its date.
        with_rules : bool, default=False
            Also give the alarm-list rules' scores (`rule_<name>` columns, model.rules).

        Returns
        -------
        DataFrame
            One row per pupil on roll and as-of date: KEY_COLUMNS and META_COLUMNS, the
            features in registry order (float32, NaN where unknown), then the rule scores.
        """
        dates = [pd.Timestamp(t).date() for t in as_of_dates]
        # Features go straight into one preallocated float32 block (an upper bound on the rows:
        # everyone enrolled), so the result is never copied: peak memory ~ result + one chunk.
        # Feature-major, so that each feature of a part is one contiguous write.
        bound = sum(len(self._roll(school_year_of(t)).cols) for t in dates)
        block = np.empty((len(FEATURE_NAMES), bound), np.float32)
        other: dict[str, list[np.ndarray]] = {}
        context: dict[str, list[np.ndarray]] = {key: [] for key in _CONTEXT}
        pos = 0
        for lo, hi, dm in self._chunks():
            for i, t in enumerate(dates):
                pos = _place(self._build_one(dm, lo, hi, t, with_rules), i, block, pos, other,
                             context)
        block = block[:, :pos]
        if pos:
            for name, values in zip(("class_rate_12w", "school_rate_12w"),
                                    _context_rates(context), strict=True):
                block[FEATURE_NAMES.index(name)] = values
        return _frame(block, other, pos)

    def build_chunks(self, as_of_dates: Iterable[date], with_rules: bool = False
                     ) -> Iterator[pd.DataFrame]:
        """The rows of `build` as one frame per pupil chunk (every as-of date of the chunk's
        pupils), so a national year of feature rows is never in memory at once: the sink (a
        Parquet file per chunk, a scorer) takes one chunk at a time. The context features need
        every pupil of a class or school: a first pass over the chunks computes them from two
        sums only (registered and total absence).

        Parameters
        ----------
        as_of_dates : iterable of date-like
            The as-of dates.
        with_rules : bool, default=False
            Also give the alarm-list rules' scores.

        Yields
        ------
        DataFrame
            The rows of one pupil chunk, with the columns of `build`.
        """
        dates = [pd.Timestamp(t).date() for t in as_of_dates]
        context: dict[str, list[np.ndarray]] = {key: [] for key in _CONTEXT}
        for lo, hi, dm in self._chunks(only=("registered", "total")):
            for i, t in enumerate(dates):
                on = self._on_roll(dm, lo, hi, t)
                _add_context(context, i, dm.window(dm.cum["total"], on.as_of_index, 60, on.cols),
                             dm.window(dm.cum_registered, on.as_of_index, 60, on.cols),
                             on.roll.class_code[on.keep], on.roll.school_code[on.keep])
        rates = _context_rates(context) if context["date"] else (np.zeros(0, np.float32),) * 2
        done = 0
        for lo, hi, dm in self._chunks():
            parts = [self._build_one(dm, lo, hi, t, with_rules) for t in dates]
            rows = sum(len(part.absent_12w) for part in parts)
            block = np.empty((len(FEATURE_NAMES), rows), np.float32)
            other: dict[str, list[np.ndarray]] = {}
            pos = 0
            for i, part in enumerate(parts):
                pos = _place(part, i, block, pos, other, None)
            for name, values in zip(("class_rate_12w", "school_rate_12w"), rates, strict=True):
                block[FEATURE_NAMES.index(name)] = values[done:done + rows]
            done += rows
            yield _frame(block, other, pos)

    # -- what does not change within a school year ----------------------------------------

    def _concern_arrays(self, concerns: pd.DataFrame) -> None:
        dates = pd.to_datetime(concerns["date"]).to_numpy("datetime64[D]")
        self._c_row = self.row_of.get_indexer(concerns["pupil_id"])
        keep = self._c_row >= 0
        self._c_row = self._c_row[keep]
        self._c_day = dates[keep].astype(np.int64)
        self._c_wellbeing = concerns["category"].isin(CONCERN_WELLBEING).to_numpy()[keep]
        self._c_severity = pd.to_numeric(concerns["severity"], errors="coerce").fillna(1).to_numpy(
            np.float32)[keep]

    def _roll(self, year: str) -> _YearRoll:
        """Enrolment-derived arrays of a school year (computed once per year)."""
        if year not in self._rolls:
            self._rolls[year] = _YearRoll.build(self, year)
        return self._rolls[year]

    # -- one as-of date -------------------------------------------------------------------

    def _build_one(self, day_major: DayMajor, first_row: int, end_row: int, as_of: date,
                   with_rules: bool) -> _Part:
        """Features at `as_of` for the pupils on roll whose register rows are in
        [first_row, end_row) (`day_major` holds the sums of those rows).
        """
        dm, lo, t = day_major, first_row, as_of
        n, year, year_start, roll, keep, cols = self._on_roll(dm, lo, end_row, t)
        f: dict[str, np.ndarray] = {}
        for cat in CATEGORIES:
            for win, w in WINDOWS.items():
                f[f"{cat}_rate_{win}"] = dm.rate(cat, n - w, n, cols)
        for cat in ("total", "unauthorised", "illness"):
            f[f"{cat}_rate_year"] = dm.rate(cat, year_start, n, cols)
        last_year_start = int(np.searchsorted(
            dm.days, np.datetime64(school_year_start(parse_school_year(year) - 1), "D")))
        for cat in ("total", "unauthorised", "illness"):
            f[f"{cat}_rate_40w"] = dm.rate(cat, n - 200, n, cols)
        registered_long = dm.span(dm.cum_registered, n - LONG_DAYS, n, cols)
        f["total_rate_long"] = _shrunk_rate(dm.span(dm.cum["total"], n - LONG_DAYS, n, cols),
                                            registered_long)
        f["authorised_rate_long"] = _shrunk_rate(dm.span(dm.cum["authorised"], n - LONG_DAYS, n, cols),
                                                 registered_long, PRIOR_LEAVE_RATE)
        f["total_rate_last_year"] = dm.rate("total", last_year_start, year_start, cols)
        f["unauthorised_rate_last_year"] = dm.rate("unauthorised", last_year_start, year_start, cols)
        f["trend_4w"] = dm.rate("total", n - 20, n, cols) - dm.rate("total", n - 60, n - 20, cols)
        f["slope_8w"] = self._slope(dm, n, cols)
        same_point = int(np.searchsorted(dm.days, np.datetime64(t, "D") - np.timedelta64(364, "D")))
        f["change_vs_last_year"] = f["total_rate_12w"] - dm.rate("total", same_point - 60, same_point, cols)
        by_weekday = dm.weekday_sums(n, 60, cols)
        f["monday_friday_days_12w"] = by_weekday[0] + by_weekday[4]
        f["after_break_days_year"] = dm.span(dm.cum_after_break, year_start, n, cols)
        f["same_weekday_days_12w"] = by_weekday.max(axis=0)
        f["weeks_with_absence_12w"] = self._weeks_with_absence(dm, n, cols)
        f["longest_spell_12w"] = dm.longest_run(n - 60, n, cols)
        f["current_spell"] = (dm.run[n - 1, cols] if n > 0 else np.zeros(len(cols))).astype(np.float32)
        f["partial_days_12w"] = dm.window(dm.cum_partial, n, 60, cols)
        q_start = quarter_start(t)
        q_idx = int(np.searchsorted(dm.days, np.datetime64(q_start, "D")))
        prev_q = quarter_start(q_start - timedelta(days=1))
        prev_q_idx = int(np.searchsorted(dm.days, np.datetime64(prev_q, "D")))
        f["unauthorised_rate_quarter"] = dm.rate("unauthorised", q_idx, n, cols)
        f["unauthorised_rate_last_quarter"] = dm.rate("unauthorised", prev_q_idx, q_idx, cols)
        f.update(self._concern_features(t, year, cols + lo))
        published = t >= date(parse_school_year(year) + 1, *WELLBEING_PUBLISHED)
        for name, values in (roll.wellbeing_spring if published else roll.wellbeing_autumn).items():
            f[name] = values[keep]
        f["grade"] = roll.grade[keep]
        f["special_needs"] = roll.special_needs[keep]
        f["new_school"] = roll.new_school[keep]
        f["class_rate_12w"] = f["school_rate_12w"] = np.full(len(cols), np.nan, np.float32)
        f["week_of_school_year"] = np.full(len(cols), (n - year_start) // WEEK, np.float32)

        columns: dict[str, np.ndarray] = {
            "pupil_id": roll.pupil_id[keep],
            "as_of": np.full(len(cols), np.datetime64(t, "D")),
            "school_id": roll.school_id[keep],
            "class_id": roll.class_id[keep],
            "gender": roll.gender[keep],
        }
        columns.update({name: np.asarray(f[name], dtype=np.float32) for name in FEATURE_NAMES})
        if with_rules:
            columns.update(rule_scores(dm, n, cols))
        return _Part(columns, dm.window(dm.cum["total"], n, 60, cols).astype(np.float64),
                     dm.window(dm.cum_registered, n, 60, cols).astype(np.float64),
                     roll.class_code[keep], roll.school_code[keep])

    def _on_roll(self, day_major: DayMajor, first_row: int, end_row: int, as_of: date) -> _OnRoll:
        """Who is on roll at `as_of` among register rows [first_row, end_row) (see _OnRoll)."""
        dm, lo = day_major, first_row
        n = int(np.searchsorted(dm.days, np.datetime64(as_of, "D"), side="left"))
        year = school_year_of(as_of)
        year_start = int(np.searchsorted(dm.days, np.datetime64(school_year_start(year), "D")))
        roll = self._roll(year)
        keep = (roll.cols >= lo) & (roll.cols < end_row)
        if n - year_start >= LEFT_AFTER_DAYS:
            keep[keep] = dm.window(dm.cum_registered, n, LEFT_AFTER_DAYS, roll.cols[keep] - lo) > 0
        return _OnRoll(n, year, year_start, roll, keep, roll.cols[keep] - lo)

    @staticmethod
    def _slope(day_major: DayMajor, as_of_index: int, cols: np.ndarray) -> np.ndarray:
        """Least-squares slope of the weekly absence rate over the last 8 school weeks."""
        dm, n = day_major, as_of_index
        x = np.arange(8) - 3.5
        weights = x / np.sum(x * x)
        slope = np.zeros(len(cols), np.float32)
        for k in range(8):
            hi = n - (7 - k) * WEEK
            rate = dm.rate("total", hi - WEEK, hi, cols)
            slope += weights[k] * np.nan_to_num(rate)
        return slope

    @staticmethod
    def _weeks_with_absence(day_major: DayMajor, as_of_index: int, cols: np.ndarray) -> np.ndarray:
        """Of the last 12 school weeks, the weeks with any absence."""
        dm, n = day_major, as_of_index
        count = np.zeros(len(cols), np.float32)
        for k in range(12):
            hi = n - k * WEEK
            count += dm.span(dm.cum["total"], hi - WEEK, hi, cols) > 0
        return count

    def _concern_features(self, as_of: date, year: str, cols: np.ndarray) -> dict[str, np.ndarray]:
        """Counts, severity and recency of concerns dated before `as_of` (bincount over pupils)."""
        day = np.datetime64(as_of, "D").astype(np.int64)
        year_start = np.datetime64(school_year_start(year), "D").astype(np.int64)
        before = self._c_day < day
        size = len(self.row_of)

        def count(mask: np.ndarray) -> np.ndarray:
            return np.bincount(self._c_row[mask], minlength=size)[cols].astype(np.float32)

        recent = before & (self._c_day >= day - 90)
        severity = np.zeros(size, np.float32)
        np.maximum.at(severity, self._c_row[recent], self._c_severity[recent])
        latest = np.full(size, np.iinfo(np.int64).min, np.int64)
        np.maximum.at(latest, self._c_row[before], self._c_day[before])
        latest = latest[cols]
        return {
            "concerns_90d": count(recent),
            "concerns_year": count(before & (self._c_day >= year_start)),
            "concern_wellbeing_180d": count(before & (self._c_day >= day - 180) & self._c_wellbeing),
            "concern_max_severity_90d": severity[cols],
            "days_since_concern": np.where(latest > np.iinfo(np.int64).min, day - latest, np.nan
                                           ).astype(np.float32),
        }

_CONTEXT = ("date", "absent", "days", "class", "school")


def _add_context(context: dict[str, list[np.ndarray]], date_index: int, absent: np.ndarray,
                 days: np.ndarray, class_code: np.ndarray, school_code: np.ndarray) -> None:
    for key, values in (("date", np.full(len(absent), date_index)),
                        ("absent", absent.astype(np.float64)), ("days", days.astype(np.float64)),
                        ("class", class_code), ("school", school_code)):
        context[key].append(values)


def _context_rates(context: dict[str, list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """class_rate_12w and school_rate_12w of all rows gathered in `context`."""
    ctx = {key: np.concatenate(values) for key, values in context.items()}
    return tuple(_leave_one_out(ctx["date"], ctx[key], ctx["absent"], ctx["days"])
                 for key in ("class", "school"))


def _place(part: _Part, date_index: int, block: np.ndarray, pos: int,
           other: dict[str, list[np.ndarray]], context: dict[str, list[np.ndarray]] | None) -> int:
    """Copy a part's features into `block` from column `pos` and keep its other columns (and
    its context); returns the next free column.
    """
    k = len(part.absent_12w)
    for j, name in enumerate(FEATURE_NAMES):
        block[j, pos:pos + k] = part.columns.pop(name)
    for name, values in part.columns.items():
        other.setdefault(name, []).append(values)
    if context is not None:
        _add_context(context, date_index, part.absent_12w, part.days_12w, part.class_code,
                     part.school_code)
    return pos + k


def _frame(block: np.ndarray, other: dict[str, list[np.ndarray]], rows: int) -> pd.DataFrame:
    """Feature rows: KEY and META columns first, the features (a feature-major block, not
    copied), then the other columns (rules).
    """
    frame = pd.DataFrame(block.T, columns=FEATURE_NAMES, copy=False)
    names = KEY_COLUMNS + META_COLUMNS + [n for n in other if n not in KEY_COLUMNS + META_COLUMNS]
    for at, name in enumerate(names):
        values = np.concatenate(other.pop(name)) if rows else np.array([], dtype=object)
        if name == "as_of":
            values = values.astype("datetime64[ns]")
        # ids stay plain Python strings (object): converting millions to Arrow costs seconds
        column = pd.Series(values, dtype=object, copy=False) if values.dtype == object else values
        if at < len(KEY_COLUMNS) + len(META_COLUMNS):
            frame.insert(at, name, column)
        else:
            frame[name] = column
    return frame


def _leave_one_out(group_of_date: np.ndarray, code: np.ndarray, absent: np.ndarray,
                   days: np.ndarray) -> np.ndarray:
    """Absence share of the others in the row's (as-of date, group); NaN without a group or
    without others. A pupil's own absence never moves their context.
    """
    valid = code >= 0
    width = int(code.max()) + 2 if len(code) else 1
    key = group_of_date.astype(np.int64) * width + np.where(valid, code, width - 1)
    inverse, _ = pd.factorize(key)  # groups by hashing: the order of groups does not matter
    a_sum = np.bincount(inverse, weights=absent)
    d_sum = np.bincount(inverse, weights=days)
    others_days = d_sum[inverse] - days
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = np.where(valid & (others_days > 0), (a_sum[inverse] - absent) / others_days, np.nan)
    return loo.astype(np.float32)


class _OnRoll(NamedTuple):
    """Who is on roll at an as-of date, among a chunk's register rows."""

    as_of_index: int  # school days before the as-of date on the register's day axis
    school_year: str  # the as-of date's school year, "2024/25"
    year_start: int  # the day-axis index of the school year's first day
    roll: _YearRoll  # everyone enrolled in the school year
    keep: np.ndarray  # which of the roll are in the chunk and on roll (not gone)
    cols: np.ndarray  # their columns of the chunk's day-major sums


@dataclass
class _Part:
    """Feature rows of one pupil chunk at one as-of date, with what the context needs."""

    columns: dict[str, np.ndarray]
    absent_12w: np.ndarray
    days_12w: np.ndarray
    class_code: np.ndarray
    school_code: np.ndarray


@dataclass
class _YearRoll:
    """Pupils enrolled in one school year, as arrays aligned with each other."""

    pupil_id: np.ndarray
    cols: np.ndarray
    school_id: np.ndarray
    class_id: np.ndarray
    gender: np.ndarray
    school_code: np.ndarray
    class_code: np.ndarray
    grade: np.ndarray
    special_needs: np.ndarray
    new_school: np.ndarray
    wellbeing_autumn: dict[str, np.ndarray]  # before 1 April: last year's class survey
    wellbeing_spring: dict[str, np.ndarray]  # from 1 April: this year's class survey

    @classmethod
    def build(cls, builder: FeatureBuilder, year: str) -> _YearRoll:
        enrol = builder.enrolments
        roll = enrol.loc[enrol["school_year"] == year].reset_index(drop=True)
        start = parse_school_year(year)
        prev_year, prev2_year = school_year_label(start - 1), school_year_label(start - 2)
        prev = enrol.loc[enrol["school_year"] == prev_year].set_index("pupil_id").reindex(roll["pupil_id"])
        prev_school = prev["school_id"].to_numpy(dtype=object)
        school = roll["school_id"].to_numpy(dtype=object)
        prev_class = prev["class_id"].to_numpy(dtype=object)
        now_class = roll["class_id"].to_numpy(dtype=object)
        wb = builder.wellbeing.set_index(["class_id", "school_year"])
        indicators = list(WELLBEING_INDICATORS)

        def survey(classes: np.ndarray, survey_year: str) -> pd.DataFrame:
            key = pd.MultiIndex.from_arrays([classes, np.full(len(classes), survey_year, dtype=object)])
            return wb.reindex(key)[indicators]

        def state(latest: pd.DataFrame, before: pd.DataFrame) -> dict[str, np.ndarray]:
            out = {f"class_wellbeing_{k}": latest[k].to_numpy(np.float32, na_value=np.nan)
                   for k in indicators}
            out["class_wellbeing_change"] = (latest.mean(axis=1).to_numpy(np.float32, na_value=np.nan)
                                             - before.mean(axis=1).to_numpy(np.float32, na_value=np.nan))
            return out

        last_year = survey(prev_class, prev_year)
        class_codes, _ = pd.factorize(pd.Series(now_class).fillna("").replace("", None))
        return cls(
            pupil_id=roll["pupil_id"].to_numpy(dtype=object),
            cols=roll["_row"].to_numpy(),
            school_id=school,
            class_id=now_class,
            gender=builder.gender.reindex(roll["pupil_id"]).to_numpy(dtype=object),
            school_code=pd.factorize(school)[0],
            class_code=class_codes,
            grade=roll["grade"].to_numpy(np.float32),
            special_needs=roll["special_needs"].to_numpy(np.float32),
            new_school=(pd.notna(prev_school) & (prev_school != school)).astype(np.float32),
            wellbeing_autumn=state(last_year, survey(prev_class, prev2_year)),
            wellbeing_spring=state(survey(now_class, year), last_year),
        )


def weekly_as_of_dates(days: np.ndarray, start: date, end: date) -> list[date]:
    """Every Monday in [start, end] (the weekly as-of dates of the lists), given the register's
    school days; a Monday that is not a school day still counts.
    """
    first = pd.Timestamp(start)
    first = first + pd.Timedelta(days=(7 - first.weekday()) % 7)
    mondays = pd.date_range(first, pd.Timestamp(end), freq="7D")
    return [m.date() for m in mondays]
