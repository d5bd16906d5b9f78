"""As-of features: what was registered before an as-of date, for every pupil on roll at once.

Vocabulary (after dssg/triage)
- as-of date t: features use only school days strictly before t, concerns dated before t and
  wellbeing surveys published before t (a school year's survey counts from 1 April).
- feature row: keyed by (pupil_id, as_of). A school week is five school days of the register's
  day axis, so "the last 4 school weeks" are the 20 school days before t.

The registry `FEATURES` is the one place a feature is described: name, reason group, unit,
the direction in which it raises risk (which becomes the model's monotonic constraint), and a
plain Danish and English description. The builder, the estimator, the reasons and the docs all
read it. Every feature that an added absence day can change rises with it and carries
direction +1, so more recent absence can never lower a pupil's risk.

Computation is vectorised over a day-major matrix (school day x pupil) with cumulative sums, so
a window sum is two row reads; there are no per-pupil Python loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from model.calendar import holiday_adjacent, parse_school_year, quarter_start, school_year_of, weekday
from model.store import STATUS_CODES, Register

WEEK = 5  # school days in a school week
WINDOWS = {"2w": 2 * WEEK, "4w": 4 * WEEK, "8w": 8 * WEEK, "12w": 12 * WEEK}
CATEGORIES = {
    "total": None,
    "unauthorised": STATUS_CODES["unauthorised"],
    "illness": STATUS_CODES["illness"],
    "authorised": STATUS_CODES["authorised"],
}
CATEGORY_DA = {"total": "Samlet fravær", "unauthorised": "Ulovligt fravær",
               "illness": "Sygefravær", "authorised": "Ekstraordinær frihed"}
CATEGORY_EN = {"total": "Total absence", "unauthorised": "Unauthorised absence",
               "illness": "Illness absence", "authorised": "Authorised leave"}
WINDOW_DA = {"2w": "de sidste 2 skoleuger", "4w": "de sidste 4 skoleuger",
             "8w": "de sidste 8 skoleuger", "12w": "de sidste 12 skoleuger"}
WINDOW_EN = {"2w": "over the last 2 school weeks", "4w": "over the last 4 school weeks",
             "8w": "over the last 8 school weeks", "12w": "over the last 12 school weeks"}
CONCERN_WELLBEING = ("wellbeing", "social", "bullying")
WELLBEING_INDICATORS = ("social", "academic", "calm_order", "support")
WELLBEING_PUBLISHED = (4, 1)  # (month, day): a school year's survey is known from 1 April
LEFT_AFTER_DAYS = 10  # no entry on the last 10 school days: the pupil has left


@dataclass(frozen=True)
class Feature:
    """One model input. `direction` +1: larger raises risk (monotonic constraint); -1: lowers;
    0: learned freely. `group` is the idea a reason talks about (contributions sum per group)."""

    name: str
    group: str
    unit: str  # share | days | count | weeks | grade | flag | score | difference
    direction: int
    da: str
    en: str


def _absence_features() -> list[Feature]:
    out = []
    for cat in CATEGORIES:
        for win in WINDOWS:
            out.append(Feature(
                f"{cat}_rate_{win}", f"{cat}_recent", "share", +1,
                f"{CATEGORY_DA[cat]} {WINDOW_DA[win]} (andel af skoledage)",
                f"{CATEGORY_EN[cat]} {WINDOW_EN[win]} (share of school days)",
            ))
    return out


FEATURES: tuple[Feature, ...] = (
    *_absence_features(),
    Feature("total_rate_year", "total_year", "share", +1,
            "Samlet fravær i skoleåret indtil nu", "Total absence this school year so far"),
    Feature("unauthorised_rate_year", "unauthorised_recent", "share", +1,
            "Ulovligt fravær i skoleåret indtil nu", "Unauthorised absence this school year so far"),
    Feature("illness_rate_year", "illness_recent", "share", +1,
            "Sygefravær i skoleåret indtil nu", "Illness absence this school year so far"),
    Feature("total_rate_last_year", "last_year", "share", +1,
            "Samlet fravær sidste skoleår", "Total absence last school year"),
    Feature("unauthorised_rate_last_year", "last_year", "share", +1,
            "Ulovligt fravær sidste skoleår", "Unauthorised absence last school year"),
    Feature("trend_4w", "trend", "difference", +1,
            "Fravær de sidste 4 skoleuger minus fraværet i de 8 uger før",
            "Absence over the last 4 school weeks minus the 8 weeks before"),
    Feature("slope_8w", "trend", "difference", +1,
            "Hældning af det ugentlige fravær over 8 skoleuger (ændring pr. uge)",
            "Slope of weekly absence over 8 school weeks (change per week)"),
    Feature("change_vs_last_year", "trend", "difference", +1,
            "Fravær de sidste 12 skoleuger minus samme periode sidste år",
            "Absence over the last 12 school weeks minus the same weeks last year"),
    Feature("monday_friday_days_12w", "monday_friday", "days", +1,
            "Fraværsdage på mandage og fredage de sidste 12 skoleuger",
            "Days absent on Mondays and Fridays over the last 12 school weeks"),
    Feature("after_break_days_year", "after_break", "days", +1,
            "Fravær på første skoledag efter ferier og fridage i skoleåret",
            "Absence on the first school day after holidays and breaks this school year"),
    Feature("same_weekday_days_12w", "same_weekday", "days", +1,
            "Flest fraværsdage på én og samme ugedag de sidste 12 skoleuger",
            "Most days absent on one and the same weekday over the last 12 school weeks"),
    Feature("weeks_with_absence_12w", "spread", "weeks", +1,
            "Antal af de sidste 12 skoleuger med fravær", "Of the last 12 school weeks, weeks with absence"),
    Feature("longest_spell_12w", "spells", "days", +1,
            "Længste sammenhængende fravær de sidste 12 skoleuger (skoledage)",
            "Longest run of absence over the last 12 school weeks (school days)"),
    Feature("current_spell", "spells", "days", +1,
            "Igangværende sammenhængende fravær (skoledage)", "Current run of absence (school days)"),
    Feature("partial_days_12w", "partial_days", "days", +1,
            "Dage med delvist fravær (sent mødt, gået tidligt) de sidste 12 skoleuger",
            "Partial days (late arrival, left early) over the last 12 school weeks"),
    Feature("unauthorised_rate_quarter", "statutory", "share", +1,
            "Ulovligt fravær i kvartalet indtil nu (lovkrav: 10 % og 15 %)",
            "Unauthorised absence this quarter so far (statutory marks 10 % and 15 %)"),
    Feature("unauthorised_rate_last_quarter", "statutory", "share", +1,
            "Ulovligt fravær i forrige kvartal", "Unauthorised absence last quarter"),
    Feature("concerns_90d", "concerns", "count", +1,
            "Registrerede bekymringer de sidste 90 dage", "Recorded concerns over the last 90 days"),
    Feature("concerns_year", "concerns", "count", +1,
            "Registrerede bekymringer i skoleåret", "Recorded concerns this school year"),
    Feature("concern_wellbeing_180d", "concerns", "count", +1,
            "Bekymringer om trivsel, sociale forhold eller mobning de sidste 180 dage",
            "Concerns about wellbeing, social life or bullying over the last 180 days"),
    Feature("concern_max_severity_90d", "concerns", "score", +1,
            "Alvorligste bekymring de sidste 90 dage (1-3)", "Most serious concern over the last 90 days (1-3)"),
    Feature("days_since_concern", "concerns", "days", -1,
            "Dage siden seneste bekymring", "Days since the latest concern"),
    Feature("class_wellbeing_social", "class_wellbeing", "score", -1,
            "Klassens sociale trivsel (trivselsmåling, 1-5)", "The class's social wellbeing (survey, 1-5)"),
    Feature("class_wellbeing_academic", "class_wellbeing", "score", -1,
            "Klassens faglige trivsel (1-5)", "The class's academic wellbeing (1-5)"),
    Feature("class_wellbeing_calm_order", "class_wellbeing", "score", -1,
            "Ro og orden i klassen (1-5)", "Calm and order in the class (1-5)"),
    Feature("class_wellbeing_support", "class_wellbeing", "score", -1,
            "Støtte og inspiration i klassen (1-5)", "Support and inspiration in the class (1-5)"),
    Feature("class_wellbeing_change", "class_wellbeing", "difference", 0,
            "Ændring i klassens trivsel siden forrige måling", "Change in the class's wellbeing since the survey before"),
    Feature("grade", "grade", "grade", 0, "Klassetrin (0-10)", "Grade (0-10)"),
    Feature("special_needs", "special_needs", "flag", 0,
            "Modtager specialpædagogisk bistand", "Receives special educational support"),
    Feature("new_school", "school_change", "flag", 0,
            "Ny skole i år", "New school this year"),
    Feature("class_rate_12w", "context", "share", 0,
            "Klassekammeraternes fravær de sidste 12 skoleuger", "Classmates' absence over the last 12 school weeks"),
    Feature("school_rate_12w", "context", "share", 0,
            "Skolens øvrige elevers fravær de sidste 12 skoleuger", "Other pupils' absence at the school over the last 12 school weeks"),
)

FEATURE_NAMES: list[str] = [f.name for f in FEATURES]
FEATURE_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
MONOTONIC_CST: list[int] = [f.direction for f in FEATURES]
# Not features, never inputs to the model: kept beside the features for evaluation and fairness.
KEY_COLUMNS = ["pupil_id", "as_of"]
# grade and special_needs are features and are read as group columns too.
META_COLUMNS = ["school_id", "class_id", "gender"]
# Excluded by design (domain.md, data minimisation): never add these as features.
EXCLUDED_BY_DESIGN = ("ethnicity", "parental education", "income", "social-services data",
                      "individual wellbeing answers", "free-text notes", "gender")


class DayMajor:
    """Cumulative sums over the register in day-major layout ((days + 1) x pupils).

    Row n of a cumulative array holds the sum over days [0, n): a window [n - w, n) is
    `cum[n] - cum[n - w]`. Only rows <= n are read for as-of index n, so nothing after the
    as-of date can leak in.
    """

    def __init__(self, reg: Register):
        status = reg.status.T  # (D, P)
        absent = reg.absent.T.astype(np.float32)
        self.n_days, self.n_pupils = status.shape
        self.absent = absent
        self.registered = (status > 0)
        self.days = reg.days
        wd = weekday(reg.days) if len(reg.days) else np.zeros(0, np.int8)
        after_break, _ = holiday_adjacent(reg.days) if len(reg.days) else (np.zeros(0, bool),) * 2

        def cum(values: np.ndarray) -> np.ndarray:
            out = np.zeros((self.n_days + 1, self.n_pupils), np.float32)
            np.cumsum(values, axis=0, out=out[1:])
            return out

        self.cum_registered = cum(self.registered.astype(np.float32))
        self.cum = {"total": cum(absent)}
        for cat, code in CATEGORIES.items():
            if code is not None:
                self.cum[cat] = cum(np.where(status == code, absent, 0))
        partial = (absent > 0) & (absent < 1)
        self.cum_partial = cum(partial.astype(np.float32))
        self.cum_weekday = [cum(absent * (wd == k)[:, None]) for k in range(5)]
        self.cum_after_break = cum(absent * after_break[:, None])
        run = np.zeros((self.n_days, self.n_pupils), np.int16)
        is_absent = absent >= 0.5
        for d in range(self.n_days):
            prev = run[d - 1] if d else 0
            run[d] = np.where(is_absent[d], prev + 1, 0)
        self.run = run

    def window(self, cum: np.ndarray, n: int, w: int, cols: np.ndarray) -> np.ndarray:
        lo = max(n - w, 0)
        return cum[n, cols] - cum[lo, cols]

    def span(self, cum: np.ndarray, lo: int, hi: int, cols: np.ndarray) -> np.ndarray:
        lo, hi = max(lo, 0), max(hi, 0)
        return cum[hi, cols] - cum[min(lo, hi), cols]

    def rate(self, cat: str, lo: int, hi: int, cols: np.ndarray) -> np.ndarray:
        """Absent share of registered days in [lo, hi); NaN where none is registered."""
        days = self.span(self.cum_registered, lo, hi, cols)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(days > 0, self.span(self.cum[cat], lo, hi, cols) / days, np.nan)


def _on_roll(enrolments: pd.DataFrame, school_year: str) -> pd.DataFrame:
    return enrolments.loc[enrolments["school_year"] == school_year]


class FeatureBuilder:
    """Builds feature rows keyed by (pupil_id, as_of) for every pupil on roll at each as-of date.

    A pupil is on roll at t when enrolled in t's school year and not gone: once ten school days of
    the year have passed, a pupil with no register entry on the last ten school days before t has
    left and is not scored.
    """

    def __init__(
        self,
        register: Register,
        enrolments: pd.DataFrame,
        concerns: pd.DataFrame | None = None,
        class_wellbeing: pd.DataFrame | None = None,
        pupils: pd.DataFrame | None = None,
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
        self.enrolments["special_needs"] = self.enrolments["special_needs"].fillna(False).astype(bool)
        self.concerns = concerns if concerns is not None else pd.DataFrame(
            columns=["pupil_id", "date", "source", "category", "severity"])
        self.concerns = self.concerns.assign(date=pd.to_datetime(self.concerns["date"]).dt.normalize())
        self.wellbeing = class_wellbeing if class_wellbeing is not None else pd.DataFrame(
            columns=["class_id", "school_year", *WELLBEING_INDICATORS])
        self.gender = (pupils.set_index("pupil_id")["gender"] if pupils is not None
                       else pd.Series(dtype=object))
        self.day_major = DayMajor(register)

    # -- public ---------------------------------------------------------------------------

    def build(self, as_of_dates: Iterable[date], with_rules: bool = False) -> pd.DataFrame:
        """Feature rows for every pupil on roll at each as-of date, with KEY and META columns;
        with `with_rules`, also the alarm-list rules' scores (`rule_<name>`, model.rules)."""
        frames = [self._build_one(pd.Timestamp(t).date(), with_rules) for t in as_of_dates]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=KEY_COLUMNS + META_COLUMNS + FEATURE_NAMES)
        return pd.concat(frames, ignore_index=True)

    # -- one as-of date -------------------------------------------------------------------

    def _build_one(self, t: date, with_rules: bool = False) -> pd.DataFrame:
        dm = self.day_major
        n = int(np.searchsorted(dm.days, np.datetime64(t, "D"), side="left"))
        year = school_year_of(t)
        year_start = int(np.searchsorted(dm.days, np.datetime64(f"{parse_school_year(year)}-08-01", "D")))
        roll = _on_roll(self.enrolments, year)
        cols = self.row_of.get_indexer(roll["pupil_id"])
        if n - year_start >= LEFT_AFTER_DAYS:
            present = dm.window(dm.cum_registered, n, LEFT_AFTER_DAYS, cols) > 0
            roll, cols = roll.loc[present], cols[present]
        f: dict[str, np.ndarray] = {}
        for cat in CATEGORIES:
            for win, w in WINDOWS.items():
                f[f"{cat}_rate_{win}"] = dm.rate(cat, n - w, n, cols)
        for cat in ("total", "unauthorised", "illness"):
            f[f"{cat}_rate_year"] = dm.rate(cat, year_start, n, cols)
        last_year_start = int(np.searchsorted(
            dm.days, np.datetime64(f"{parse_school_year(year) - 1}-08-01", "D")))
        f["total_rate_last_year"] = dm.rate("total", last_year_start, year_start, cols)
        f["unauthorised_rate_last_year"] = dm.rate("unauthorised", last_year_start, year_start, cols)
        f["trend_4w"] = dm.rate("total", n - 20, n, cols) - dm.rate("total", n - 60, n - 20, cols)
        f["slope_8w"] = self._slope(n, cols)
        same_point = int(np.searchsorted(dm.days, np.datetime64(t, "D") - np.timedelta64(364, "D")))
        f["change_vs_last_year"] = f["total_rate_12w"] - dm.rate("total", same_point - 60, same_point, cols)
        f["monday_friday_days_12w"] = (dm.window(dm.cum_weekday[0], n, 60, cols)
                                       + dm.window(dm.cum_weekday[4], n, 60, cols))
        f["after_break_days_year"] = dm.span(dm.cum_after_break, year_start, n, cols)
        f["same_weekday_days_12w"] = np.max(
            np.stack([dm.window(c, n, 60, cols) for c in dm.cum_weekday]), axis=0)
        f["weeks_with_absence_12w"] = self._weeks_with_absence(n, cols)
        lo = max(n - 60, 0)
        f["longest_spell_12w"] = (dm.run[lo:n][:, cols].max(axis=0) if n > lo
                                  else np.zeros(len(cols))).astype(np.float32)
        f["current_spell"] = (dm.run[n - 1, cols] if n > 0 else np.zeros(len(cols))).astype(np.float32)
        f["partial_days_12w"] = dm.window(dm.cum_partial, n, 60, cols)
        q_start = quarter_start(t)
        q_idx = int(np.searchsorted(dm.days, np.datetime64(q_start, "D")))
        prev_q = quarter_start(q_start.replace(day=1) - pd.Timedelta(days=1))
        prev_q_idx = int(np.searchsorted(dm.days, np.datetime64(prev_q, "D")))
        f["unauthorised_rate_quarter"] = dm.rate("unauthorised", q_idx, n, cols)
        f["unauthorised_rate_last_quarter"] = dm.rate("unauthorised", prev_q_idx, q_idx, cols)
        f.update(self._concern_features(t, year, roll["pupil_id"].to_numpy()))
        f.update(self._wellbeing_features(t, roll))
        f["grade"] = roll["grade"].to_numpy(np.float32)
        f["special_needs"] = roll["special_needs"].to_numpy(np.float32)
        f["new_school"] = self._new_school(year, roll)
        f["class_rate_12w"], f["school_rate_12w"] = self._context(roll, f["total_rate_12w"], cols, n)

        frame = pd.DataFrame({name: np.asarray(f[name], dtype=np.float32) for name in FEATURE_NAMES})
        frame.insert(0, "pupil_id", roll["pupil_id"].to_numpy())
        frame.insert(1, "as_of", pd.Timestamp(t))
        frame.insert(2, "school_id", roll["school_id"].to_numpy())
        frame.insert(3, "class_id", roll["class_id"].to_numpy())
        frame.insert(4, "gender", self.gender.reindex(roll["pupil_id"]).to_numpy())
        if with_rules:
            from model.rules import rule_scores

            for name, score in rule_scores(dm, n, cols).items():
                frame[name] = score
        return frame

    def _slope(self, n: int, cols: np.ndarray) -> np.ndarray:
        """Least-squares slope of the weekly absence rate over the last 8 school weeks."""
        dm = self.day_major
        x = np.arange(8) - 3.5
        weights = x / np.sum(x * x)
        slope = np.zeros(len(cols), np.float32)
        for k in range(8):
            hi = n - (7 - k) * WEEK
            rate = dm.rate("total", hi - WEEK, hi, cols)
            slope += weights[k] * np.nan_to_num(rate)
        return slope

    def _weeks_with_absence(self, n: int, cols: np.ndarray) -> np.ndarray:
        dm = self.day_major
        count = np.zeros(len(cols), np.float32)
        for k in range(12):
            hi = n - k * WEEK
            count += dm.span(dm.cum["total"], hi - WEEK, hi, cols) > 0
        return count

    def _concern_features(self, t: date, year: str, ids: np.ndarray) -> dict[str, np.ndarray]:
        ts = pd.Timestamp(t)
        c = self.concerns.loc[self.concerns["date"] < ts]
        index = pd.Index(ids)
        out: dict[str, np.ndarray] = {}

        def count(mask: pd.Series) -> np.ndarray:
            return c.loc[mask].groupby("pupil_id").size().reindex(index, fill_value=0).to_numpy()

        recent = c["date"] >= ts - pd.Timedelta(days=90)
        out["concerns_90d"] = count(recent)
        year_start = pd.Timestamp(f"{parse_school_year(year)}-08-01")
        out["concerns_year"] = count(c["date"] >= year_start)
        out["concern_wellbeing_180d"] = count(
            (c["date"] >= ts - pd.Timedelta(days=180)) & c["category"].isin(CONCERN_WELLBEING))
        severity = pd.to_numeric(c.loc[recent, "severity"], errors="coerce").fillna(1)
        out["concern_max_severity_90d"] = (
            severity.groupby(c.loc[recent, "pupil_id"]).max().reindex(index, fill_value=0).to_numpy())
        latest = c.groupby("pupil_id")["date"].max().reindex(index)
        out["days_since_concern"] = (ts - latest).dt.days.to_numpy(dtype=np.float32, na_value=np.nan)
        return out

    def _wellbeing_features(self, t: date, roll: pd.DataFrame) -> dict[str, np.ndarray]:
        """The latest class survey published before t: this year's class from 1 April, else the
        pupil's class of the school year before."""
        year = school_year_of(t)
        start = parse_school_year(year)
        published = t >= date(start + 1, *WELLBEING_PUBLISHED)
        wb = self.wellbeing.set_index(["class_id", "school_year"])
        prev_year = f"{start - 1}/{start % 100:02d}"
        prev_class = (self.enrolments.loc[self.enrolments["school_year"] == prev_year]
                      .set_index("pupil_id")["class_id"].reindex(roll["pupil_id"]).to_numpy())
        now_key = pd.MultiIndex.from_arrays([roll["class_id"].to_numpy(), [year] * len(roll)])
        prev_key = pd.MultiIndex.from_arrays([prev_class, [prev_year] * len(roll)])
        prev2_year = f"{start - 2}/{(start - 1) % 100:02d}"
        latest_key, before_key = (now_key, prev_key) if published else (
            prev_key, pd.MultiIndex.from_arrays([prev_class, [prev2_year] * len(roll)]))
        latest = wb.reindex(latest_key)
        before = wb.reindex(before_key)
        out = {f"class_wellbeing_{k}": latest[k].to_numpy(np.float32, na_value=np.nan)
               for k in WELLBEING_INDICATORS}
        indicators = list(WELLBEING_INDICATORS)
        out["class_wellbeing_change"] = (
            latest[indicators].mean(axis=1).to_numpy(np.float32, na_value=np.nan)
            - before[indicators].mean(axis=1).to_numpy(np.float32, na_value=np.nan))
        return out

    def _new_school(self, year: str, roll: pd.DataFrame) -> np.ndarray:
        start = parse_school_year(year)
        prev = self.enrolments.loc[self.enrolments["school_year"] == f"{start - 1}/{start % 100:02d}"]
        before = prev.set_index("pupil_id")["school_id"].reindex(roll["pupil_id"]).to_numpy()
        return (pd.notna(before) & (before != roll["school_id"].to_numpy())).astype(np.float32)

    def _context(self, roll: pd.DataFrame, rate: np.ndarray, cols: np.ndarray,
                 n: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean 12-week absence of the pupil's classmates and schoolmates, the pupil left out,
        so a pupil's own absence never moves their context."""
        dm = self.day_major
        absent = dm.window(dm.cum["total"], n, 60, cols)
        days = dm.window(dm.cum_registered, n, 60, cols)
        frame = pd.DataFrame({"class": roll["class_id"].fillna("").to_numpy(),
                              "school": roll["school_id"].to_numpy(), "a": absent, "d": days})
        out = []
        for key in ("class", "school"):
            sums = frame.groupby(key)[["a", "d"]].transform("sum")
            others_days = sums["d"].to_numpy() - days
            with np.errstate(invalid="ignore", divide="ignore"):
                loo = np.where(others_days > 0, (sums["a"].to_numpy() - absent) / others_days, np.nan)
            if key == "class":
                loo = np.where(frame["class"].to_numpy() == "", np.nan, loo)
            out.append(loo.astype(np.float32))
        return out[0], out[1]


def weekly_as_of_dates(days: np.ndarray, start: date, end: date) -> list[date]:
    """Every Monday in [start, end] (the weekly as-of dates of the lists), given the register's
    school days; a Monday that is not a school day still counts."""
    first = pd.Timestamp(start)
    first = first + pd.Timedelta(days=(7 - first.weekday()) % 7)
    mondays = pd.date_range(first, pd.Timestamp(end), freq="7D")
    return [m.date() for m in mondays]


def feature_matrix(frame: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
    """The model's input matrix (float32) in registry order."""
    return frame[list(names)].to_numpy(np.float32, na_value=np.nan)
