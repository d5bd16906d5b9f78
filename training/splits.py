"""Temporal splits in triage's (timechop's) sense: lists of as-of dates.

Train as-of dates lie strictly before calibration dates, which lie strictly before test dates,
and every label window of an earlier slice ends before the next slice begins (a gap of at least
the label horizon), so no training label overlaps the period it is judged on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from model.errors import UserError


@dataclass(frozen=True)
class TemporalSplit:
    """As-of dates for training, calibration and test (each sorted)."""

    train: list[date]
    calibration: list[date]
    test: list[date]
    label_end: dict[date, date] = field(default_factory=dict, compare=False)

    def describe(self) -> dict[str, str]:
        def span(ds: list[date]) -> str:
            return f"{ds[0]}..{ds[-1]} ({len(ds)} as-of dates)" if ds else "none"

        return {"train": span(self.train), "calibration": span(self.calibration), "test": span(self.test)}


def label_end_date(days: np.ndarray, as_of: date, horizon: int) -> date | None:
    """The last school day of the label window after `as_of`, or None if past the register."""
    n = int(np.searchsorted(days, np.datetime64(as_of, "D"), "left"))
    if n + horizon > len(days):
        return None
    return days[n + horizon - 1].astype(object)


def temporal_split(as_of_dates: list[date], days: np.ndarray, horizon: int,
                   test_weeks: int = 16, calibration_weeks: int = 10) -> TemporalSplit:
    """Split weekly as-of dates (with known labels) into train < calibration < test with gaps.

    The test slice is the latest `test_weeks` as-of dates whose label is known; calibration the
    latest `calibration_weeks` dates whose labels end before the first test date; training all
    dates whose labels end before the first calibration date.
    """
    ends = {t: label_end_date(days, t, horizon) for t in sorted(as_of_dates)}
    known = [t for t, end in ends.items() if end is not None]
    if len(known) < test_weeks + calibration_weeks + 8:
        raise UserError(
            f"too little history to train: {len(known)} weekly as-of dates with known outcomes, "
            f"need at least {test_weeks + calibration_weeks + 8} (ingest more school weeks)")
    test = known[-test_weeks:]
    before_test = [t for t in known if ends[t] < test[0]]
    calibration = before_test[-calibration_weeks:]
    if not calibration:
        raise UserError("too little history for a calibration slice before the test slice")
    train = [t for t in known if ends[t] < calibration[0]]
    if len(train) < 8:
        raise UserError(f"too little history to train: {len(train)} training as-of dates, need 8")
    return TemporalSplit(train, calibration, test, {t: e for t, e in ends.items() if e})


# -- issue 12: rolling-origin folds for the backtest ---------------------------------------------

FOLD_NAMES = ("autumn", "winter", "spring", "summer")


@dataclass(frozen=True)
class Fold:
    """One backtest fold: training as-of dates whose label window closed before `test[0]`."""

    name: str
    train: list[date]
    test: list[date]

    @property
    def test_window(self) -> str:
        return f"{self.test[0]}..{self.test[-1]}"


def rolling_folds(as_of_dates: list[date], days: np.ndarray, horizon: int, n_folds: int = 3,
                  fold_weeks: int = 12, min_train: int = 8, min_fold_weeks: int = 4) -> list[Fold]:
    """Rolling-origin folds over the last labelled stretch (about a school year): `n_folds`
    consecutive test windows of up to `fold_weeks` weekly as-of dates with known labels, the
    latest ending at the newest known label. Each fold trains on every as-of date whose label
    window ended before its first test date (the label-horizon gap). With little history the
    windows shrink (down to `min_fold_weeks`) so the first fold still has `min_train` dates."""
    ends = {t: label_end_date(days, t, horizon) for t in sorted(as_of_dates)}
    known = [t for t, end in ends.items() if end is not None]
    for weeks in range(fold_weeks, min_fold_weeks - 1, -1):
        span = known[-n_folds * weeks:] if len(known) >= n_folds * weeks else []
        if not span:
            continue
        first_train = [t for t in known if ends[t] < span[0]]
        if len(first_train) >= min_train:
            break
    else:
        raise UserError(
            f"too little history to backtest: {len(known)} weekly as-of dates with known outcomes; "
            f"{n_folds} test windows of {min_fold_weeks} weeks need {min_train} training dates "
            f"whose outcomes are known before the first (ingest more school weeks)")
    folds = []
    for k in range(n_folds):
        test = span[k * weeks:(k + 1) * weeks]
        name = _season(test[0]) if n_folds <= len(FOLD_NAMES) else f"fold{k + 1}"
        train = [t for t in known if ends[t] < test[0]]
        folds.append(Fold(f"{k + 1}:{name}", train, test))
    return folds


def _season(day: date) -> str:
    """The school-year season a test window starts in (Aug-Nov autumn, Dec-Feb winter,
    Mar-Jul spring/summer)."""
    return {8: "autumn", 9: "autumn", 10: "autumn", 11: "autumn", 12: "winter", 1: "winter",
            2: "winter"}.get(day.month, "spring" if day.month <= 5 else "summer")
