"""As-of training sets: features, rule scores and labels for many weekly as-of dates."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from model.features import FeatureBuilder, weekly_as_of_dates
from model.inputs import Inputs
from model.labels import LabelSpec, attach_labels

FIRST_WEEKS_SKIPPED = 4  # the first school weeks of the register have too little history


def candidate_as_of_dates(inputs: Inputs, until: date | None = None) -> list[date]:
    """Weekly as-of dates (Mondays) from four school weeks into the register to `until`."""
    days = inputs.register.days
    if len(days) <= FIRST_WEEKS_SKIPPED * 5:
        return []
    start = days[FIRST_WEEKS_SKIPPED * 5].astype(object)
    end = until or (days[-1].astype(object))
    mondays = weekly_as_of_dates(days, start, end)
    # Skip the weeks of the summer break: an as-of date needs a school day in its week.
    in_week = np.searchsorted(days, np.array(mondays, "datetime64[D]") + 7) - np.searchsorted(
        days, np.array(mondays, "datetime64[D]"))
    return [m for m, k in zip(mondays, in_week, strict=True) if k > 0]


def build_training_set(builder: FeatureBuilder, as_of_dates: list[date], spec: LabelSpec) -> pd.DataFrame:
    """Feature rows with `rule_*` scores and labels for the given as-of dates."""
    frame = builder.build(as_of_dates, with_rules=True)
    return attach_labels(frame, builder.day_major, builder.row_of, spec)


def label_counts(frame: pd.DataFrame) -> dict[str, int]:
    """How many rows have a known label, a pupil who left, or an outcome not yet known."""
    counts = frame["label_status"].value_counts().to_dict()
    counts["positive"] = int(np.nansum(frame["label"]))
    return {k: int(v) for k, v in counts.items()}
