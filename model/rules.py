"""The rules schools use today, as rankers and as flags, and the statutory quarter rule.

Alarm-list rules (domain.md): what a detection team would pick instead of a model, so the model
is compared with each of them at the same list length. Each rule has a *score* (the quantity it
looks at, used to rank pupils) and a *flag* (score at or over its threshold). "Days" are absent
days (sum of absent fractions); "last month" is the last 20 school days, "last school year" the
last 200 school days.

The statutory rule (in force since 2019) is not a prediction: per calendar quarter, 10 %
unauthorised absence obliges the school to warn the parents, 15 % to notify the municipality.
It is shown apart from the model's flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from model.calendar import quarter_of, quarter_start
from model.register import DayMajor


@dataclass(frozen=True)
class AlarmRule:
    """One alarm-list rule: score = `measure` over the last `window` school days.

    Attributes
    ----------
    name : str
        The rule's code, e.g. "days_4_last_month"; its score column is `rule_<name>`.
    measure : str
        What is measured: "days" (absent days), "unauthorised_rate" or "total_rate" (share of
        registered days), "longest_run" (longest run of absent days).
    window : int
        School days looked back from the as-of date.
    threshold : float
        The rule flags a pupil whose score is at or over it.
    da, en : str
        The rule's plain name in Danish and English.
    """

    name: str
    measure: str  # days | unauthorised_rate | total_rate | longest_run
    window: int
    threshold: float
    da: str
    en: str

    def score(self, day_major: DayMajor, as_of_index: int, cols: np.ndarray) -> np.ndarray:
        """The rule's score of each pupil at an as-of date (unknown rates count as 0).

        Parameters
        ----------
        day_major : DayMajor
            The register's day-major sums.
        as_of_index : int
            School days before the as-of date on the register's day axis.
        cols : ndarray of int
            The pupils' rows of the register.

        Returns
        -------
        ndarray of shape (len(cols),)
            The measure over the rule's window.
        """
        dm, n = day_major, as_of_index
        if self.measure == "days":
            return dm.window(dm.cum["total"], n, self.window, cols)
        if self.measure == "unauthorised_rate":
            return np.nan_to_num(dm.rate("unauthorised", n - self.window, n, cols))
        if self.measure == "total_rate":
            return np.nan_to_num(dm.rate("total", n - self.window, n, cols))
        if self.measure == "longest_run":
            return dm.longest_run(n - self.window, n, cols)
        raise ValueError(f"unknown measure {self.measure}")


ALARM_RULES: tuple[AlarmRule, ...] = (
    AlarmRule("days_4_last_month", "days", 20, 4, "4+ fraværsdage den seneste måned",
              "4+ days absent in the last month"),
    AlarmRule("unauthorised_10pct_last_month", "unauthorised_rate", 20, 0.10,
              "10 %+ ulovligt fravær den seneste måned", "10 %+ unauthorised absence in the last month"),
    AlarmRule("days_11_last_year", "days", 200, 11, "11+ fraværsdage det seneste skoleår",
              "11+ days absent in the last school year"),
    AlarmRule("rate_10pct_last_year", "total_rate", 200, 0.10, "10 %+ fravær det seneste skoleår",
              "10 %+ absence in the last school year"),
    AlarmRule("consecutive_5", "longest_run", 20, 5, "5 sammenhængende fraværsdage",
              "5 consecutive days absent"),
    AlarmRule("days_7_in_20", "days", 20, 7, "7 fraværsdage inden for 20 skoledage",
              "7 days absent within 20 school days"),
    AlarmRule("days_15_in_60", "days", 60, 15, "15 fraværsdage inden for 60 skoledage",
              "15 days absent within 60 school days"),
)
RULE_BY_NAME = {r.name: r for r in ALARM_RULES}


def rule_label(name: str, language: str = "da") -> str:
    """A rule's plain name ("4+ fraværsdage den seneste måned") from its code, given bare
    (`days_4_last_month`) or as a ranker (`rule:days_4_last_month`, `rule.days_4_last_month`);
    the code itself for an unknown rule.

    Parameters
    ----------
    name : str
        The rule's code, bare or as a ranker.
    language : {"da", "en"}, default="da"
        The language of the name.

    Returns
    -------
    str
        The plain name, or `name` itself for an unknown rule.
    """
    code = name.split(":", 1)[1] if name.startswith("rule:") else (
        name[len("rule."):] if name.startswith("rule.") else name)
    rule = RULE_BY_NAME.get(code)
    if rule is None:
        return name
    return rule.da if language == "da" else rule.en


def rule_scores(day_major: DayMajor, as_of_index: int, cols: np.ndarray) -> dict[str, np.ndarray]:
    """`rule_<name>` score columns of every alarm-list rule.

    Parameters
    ----------
    day_major, as_of_index, cols
        As for `AlarmRule.score`.

    Returns
    -------
    dict of str to ndarray of float32
        Per rule, its score of each pupil.
    """
    return {f"rule_{r.name}": r.score(day_major, as_of_index, cols).astype(np.float32)
            for r in ALARM_RULES}


def rule_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Boolean flag per rule from the `rule_<name>` score columns.

    Parameters
    ----------
    frame : DataFrame
        Rows with a `rule_<name>` column for every rule (`FeatureBuilder.build(with_rules=True)`).

    Returns
    -------
    DataFrame
        One boolean column per rule name, on the index of `frame`.
    """
    return pd.DataFrame({r.name: frame[f"rule_{r.name}"] >= r.threshold for r in ALARM_RULES},
                        index=frame.index)


STATUTORY_LEVELS = ("none", "warning", "notification")


def statutory_levels(registered_days: np.ndarray, unauthorised_days: np.ndarray,
                     warning: float = 0.10, notification: float = 0.15,
                     min_days: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The statutory rule on quarter-to-date sums: (unauthorised rate, level code 0 none /
    1 warning / 2 notification). A level is only given from `min_days` registered days on.

    Parameters
    ----------
    registered_days : array-like
        Registered school days in the quarter so far.
    unauthorised_days : array-like
        Unauthorised absent days in the quarter so far.
    warning, notification : float, default=0.10 and 0.15
        The statutory lines: warn the parents, notify the municipality.
    min_days : int, default=10
        Registered days before a level is given.

    Returns
    -------
    rate : ndarray
        The unauthorised share of registered days (0 without registered days).
    level : ndarray of int
        0 none, 1 warning, 2 notification.
    """
    days = np.asarray(registered_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(days > 0, unauthorised_days / np.where(days > 0, days, 1), 0.0)
    level = np.where(days < min_days, 0,
                     np.where(rate >= notification, 2, np.where(rate >= warning, 1, 0)))
    return rate, level


def statutory_quarter(day_major: DayMajor, as_of: date, cols: np.ndarray, warning: float = 0.10,
                      notification: float = 0.15, min_days: int = 10) -> pd.DataFrame:
    """The statutory rule for the calendar quarter of `as_of`, on the school days before it:
    unauthorised days, registered days, rate and level (none/warning/notification). A level is
    only given once the pupil has `min_days` registered days in the quarter.

    Parameters
    ----------
    day_major : DayMajor
        The register's day-major sums (RATE_SUMS are enough).
    as_of : date
        The as-of date; the quarter is its calendar quarter, up to the day before.
    cols : ndarray of int
        The pupils' rows of the register.
    warning, notification : float, default=0.10 and 0.15
        The statutory lines.
    min_days : int, default=10
        Registered days in the quarter before a level is given.

    Returns
    -------
    DataFrame
        One row per pupil of `cols`: quarter ("2025-Q1"), registered_days, unauthorised_days,
        unauthorised_rate and statutory_level ("none", "warning" or "notification").
    """
    dm = day_major
    n = int(np.searchsorted(dm.days, np.datetime64(as_of, "D"), "left"))
    q0 = int(np.searchsorted(dm.days, np.datetime64(quarter_start(as_of), "D"), "left"))
    days = dm.span(dm.cum_registered, q0, n, cols)
    unauth = dm.span(dm.cum["unauthorised"], q0, n, cols)
    rate, level = statutory_levels(days, unauth, warning, notification, min_days)
    year, q = quarter_of(as_of)
    return pd.DataFrame({
        "quarter": f"{year}-Q{q}",
        "registered_days": days,
        "unauthorised_days": unauth,
        "unauthorised_rate": rate,
        "statutory_level": np.array(STATUTORY_LEVELS, dtype=object)[level],
    })
