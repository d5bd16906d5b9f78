"""Temporal splits and the evaluation arithmetic."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from model.calendar import danish_school_days
from model.errors import UserError
from tests.municipality import small_municipality
from training.dataset import candidate_as_of_dates
from training.evaluation import Capacity, expected_calibration_error, lead_times, list_flags
from training.splits import label_end_date, temporal_split

DAYS = np.array([d for y in ("2023/24", "2024/25") for d in danish_school_days(y)], "datetime64[D]")


def test_split_orders_slices_with_a_label_horizon_gap():
    muni = small_municipality(20)
    dates = candidate_as_of_dates(muni)
    split = temporal_split(dates, DAYS, horizon=60, test_weeks=8, calibration_weeks=4)
    assert max(split.train) < min(split.calibration) < min(split.test)
    for t in split.train:
        assert label_end_date(DAYS, t, 60) < split.calibration[0]
    for t in split.calibration:
        assert label_end_date(DAYS, t, 60) < split.test[0]
    assert all(label_end_date(DAYS, t, 60) is not None for t in split.test)


def test_as_of_dates_skip_the_summer_break():
    dates = candidate_as_of_dates(small_municipality(20))
    assert not [d for d in dates if d.month == 7]
    assert all(d.weekday() == 0 for d in dates)


def test_split_refuses_too_little_history():
    with pytest.raises(UserError, match="too little history"):
        temporal_split([date(2024, 9, 2), date(2024, 9, 9)], DAYS, horizon=60)


def _frame(scores_by_school: dict[str, list[float]], labels: dict[str, list[float]], concerning=None):
    rows = []
    for school, scores in scores_by_school.items():
        for i, s in enumerate(scores):
            rows.append({"pupil_id": f"{school}{i}", "as_of": pd.Timestamp("2024-10-07"), "school_id": school,
                         "score": s, "label": labels[school][i], "total_rate_12w": 0.0,
                         "already_concerning": bool(concerning and (school, i) in concerning)})
    return pd.DataFrame(rows)


def test_list_is_cut_per_school_at_capacity_among_not_yet_concerning():
    frame = _frame({"A": list(range(100)), "B": list(range(20))},
                   {"A": [0.0] * 100, "B": [0.0] * 20}, concerning={("A", 99)})
    flags = list_flags(frame, frame["score"].to_numpy(), Capacity(0.05, 3))
    listed = frame.loc[flags, "pupil_id"].tolist()
    # school A: 5 % of 100 = 5 places, the known case (score 99) is not listed
    assert sorted(x for x in listed if x.startswith("A")) == ["A94", "A95", "A96", "A97", "A98"]
    # school B: 5 % of 20 = 1, but at least 3
    assert sorted(x for x in listed if x.startswith("B")) == ["B17", "B18", "B19"]


def test_expected_calibration_error():
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0
    assert expected_calibration_error(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.array([0.9, 0.9, 0.9, 0.9])) == pytest.approx(0.4)
    # two bins: 0.1 predicted where 0 observed, 0.7 where 1 observed -> (2*0.1 + 2*0.3) / 4
    assert expected_calibration_error(y, np.array([0.1, 0.1, 0.7, 0.7])) == pytest.approx(0.2)


def test_lead_time_counts_weeks_before_onset():
    weeks = pd.date_range("2024-09-02", periods=6, freq="7D")
    rows = []
    for k, t in enumerate(weeks):
        rows.append({"pupil_id": "early", "as_of": t, "school_id": "A", "total_rate_12w": 0.0,
                     "already_concerning": k >= 4, "score": 10.0 if k >= 1 else 0.0})
        rows.append({"pupil_id": "missed", "as_of": t, "school_id": "A", "total_rate_12w": 0.0,
                     "already_concerning": k >= 3, "score": 0.0})
        for j in range(3):
            rows.append({"pupil_id": f"other{j}", "as_of": t, "school_id": "A", "total_rate_12w": 0.0,
                         "already_concerning": False, "score": 1.0})
    frame = pd.DataFrame(rows)
    weeks_before = lead_times(frame, frame["score"].to_numpy(), Capacity(0.05, 1))
    # "early" listed from week 1, concerning from week 4: 3 weeks; "missed" never listed: 0
    assert sorted(weeks_before.tolist()) == [0.0, 3.0]
