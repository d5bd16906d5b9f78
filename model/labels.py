"""Labels: whether a pupil's absence becomes concerning over the horizon after the as-of date.

A label is keyed by (pupil_id, as_of, horizon). With the defaults of interfaces.md: total absence
(sum of absent fractions / registered school days) over the next 60 school days after t is at
least 15 %. A label is only *known* when the whole horizon lies inside the register and the pupil
is registered on at least `min_coverage` of it; otherwise it is `left` (the pupil left or moved
away: too few registered days) or `not_yet` (the horizon reaches past the newest school day).
Unknown labels are kept as NaN with their reason, never dropped silently.

"Already concerning": the same rate over the trailing window up to t is at least the threshold.
Those pupils are known cases; the early-warning ranking is about the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.register import DayMajor

KNOWN, LEFT, NOT_YET = "known", "left", "not_yet"


@dataclass(frozen=True)
class LabelSpec:
    """The prediction target (configurable; defaults from interfaces.md)."""

    threshold: float = 0.15
    horizon: int = 60
    trailing: int = 60
    min_coverage: float = 0.5

    @classmethod
    def from_settings(cls, settings) -> LabelSpec:
        """The label definition configured in `settings`."""
        return cls(settings.concern_threshold, settings.horizon_days, settings.trailing_days,
                   settings.min_horizon_coverage)


def trailing_rates(frame: pd.DataFrame, day_major: DayMajor, row_of: pd.Index, spec: LabelSpec) -> np.ndarray:
    """Total absence share over the trailing window before each row's as-of date."""
    trailing = np.full(len(frame), np.nan, np.float32)
    for as_of, idx in frame.groupby("as_of").indices.items():
        n = int(np.searchsorted(day_major.days, np.datetime64(pd.Timestamp(as_of).date(), "D"), "left"))
        cols = row_of.get_indexer(frame["pupil_id"].to_numpy()[idx])
        trailing[idx] = day_major.rate("total", n - spec.trailing, n, cols)
    return trailing


def is_already_concerning(trailing: np.ndarray, spec: LabelSpec) -> np.ndarray:
    """Whether a trailing absence rate is at or over the threshold (unknown counts as not)."""
    return np.nan_to_num(trailing, nan=0.0) >= spec.threshold


def attach_labels(frame: pd.DataFrame, day_major: DayMajor, row_of: pd.Index,
                  spec: LabelSpec) -> pd.DataFrame:
    """Add `trailing_rate`, `already_concerning`, `future_rate`, `label` (1/0/NaN) and
    `label_status` (known/left/not_yet) to feature rows keyed by (pupil_id, as_of).
    """
    out = frame.copy()
    trailing = trailing_rates(out, day_major, row_of, spec)
    future = np.full(len(out), np.nan, np.float32)
    status = np.full(len(out), NOT_YET, dtype=object)
    for as_of, idx in out.groupby("as_of").indices.items():
        n = int(np.searchsorted(day_major.days, np.datetime64(pd.Timestamp(as_of).date(), "D"), "left"))
        cols = row_of.get_indexer(out["pupil_id"].to_numpy()[idx])
        if n + spec.horizon > day_major.n_days:
            continue
        days = day_major.span(day_major.cum_registered, n, n + spec.horizon, cols)
        known = days >= spec.min_coverage * spec.horizon
        future[idx] = np.where(known, day_major.rate("total", n, n + spec.horizon, cols), np.nan)
        status[idx] = np.where(known, KNOWN, LEFT)
    out["trailing_rate"] = trailing
    out["already_concerning"] = is_already_concerning(trailing, spec)
    out["future_rate"] = future
    out["label"] = np.where(status == KNOWN, (np.nan_to_num(future) >= spec.threshold).astype(float), np.nan)
    out["label_status"] = status
    return out
