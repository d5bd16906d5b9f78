"""Labels (horizon, coverage, pupils who leave) and the rules schools use today."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from model.calendar import danish_school_days
from model.features import FeatureBuilder
from model.labels import KNOWN, LEFT, NOT_YET, LabelSpec, attach_labels
from model.register import Register
from model.rules import ALARM_RULES, RULE_BY_NAME, rule_flags, statutory_quarter
from model.store import STATUS_CODES

DAYS = np.array(danish_school_days("2024/25"), dtype="datetime64[D]")
U, ILL, P = STATUS_CODES["unauthorised"], STATUS_CODES["illness"], STATUS_CODES["present"]


def _municipality(status_rows: list[np.ndarray], absent_rows: list[np.ndarray]):
    ids = np.array([f"P{i}" for i in range(len(status_rows))], dtype=object)
    reg = Register(ids, DAYS, np.array(status_rows, np.int8), np.array(absent_rows, np.float32))
    enrol = pd.DataFrame({"pupil_id": ids, "school_year": "2024/25", "school_id": "S1", "grade": 5,
                          "class_id": "S1-5A", "special_needs": False})
    return FeatureBuilder(reg, enrol)


def _pupil(absent_days: list[int], code: int = ILL, fraction: float = 1.0,
           registered_until: int | None = None):
    status = np.full(len(DAYS), P, np.int8)
    absent = np.zeros(len(DAYS), np.float32)
    status[absent_days], absent[absent_days] = code, fraction
    if registered_until is not None:
        status[registered_until:], absent[registered_until:] = 0, 0
    return status, absent


def _labels(builder: FeatureBuilder, as_of: date, spec=LabelSpec()):
    frame = builder.build([as_of])
    return attach_labels(frame, builder.day_major, builder.row_of, spec).set_index("pupil_id")


def test_label_is_the_share_over_the_next_60_school_days():
    as_of = DAYS[70].astype(object)
    # P0: 9 of the next 60 days absent (15 %: positive); P1: 8 (13 %: negative)
    p0 = _pupil(list(range(70, 79)))
    p1 = _pupil(list(range(70, 78)))
    p2 = _pupil(list(range(10, 70)))  # absent every day before: already concerning
    builder = _municipality([p0[0], p1[0], p2[0]], [p0[1], p1[1], p2[1]])
    labels = _labels(builder, as_of)
    assert labels.at["P0", "future_rate"] == pytest.approx(9 / 60)
    assert labels.at["P0", "label"] == 1.0
    assert labels.at["P1", "label"] == 0.0
    assert labels.at["P2", "already_concerning"] and not labels.at["P0", "already_concerning"]
    assert set(labels["label_status"]) == {KNOWN}


def test_a_day_on_the_as_of_date_belongs_to_the_label_not_the_features():
    as_of = DAYS[70].astype(object)
    a = _pupil([70])
    b = _pupil([])
    builder = _municipality([a[0], b[0]], [a[1], b[1]])
    labels = _labels(builder, as_of)
    assert labels.at["P0", "total_rate_2w"] == labels.at["P1", "total_rate_2w"] == 0
    assert labels.at["P0", "future_rate"] == pytest.approx(1 / 60)


def test_pupils_who_leave_and_unknown_outcomes_are_explicit():
    stays = _pupil([])
    leaves = _pupil([], registered_until=90)  # gone 20 school days into the horizon
    builder = _municipality([stays[0], leaves[0]], [stays[1], leaves[1]])
    labels = _labels(builder, DAYS[70].astype(object))
    assert labels.at["P1", "label_status"] == LEFT and np.isnan(labels.at["P1", "label"])
    late = _labels(builder, DAYS[-30].astype(object))
    assert (late["label_status"] == NOT_YET).all() and late["label"].isna().all()


def test_threshold_and_horizon_are_configurable():
    p = _pupil(list(range(70, 76)))  # 6 days
    builder = _municipality([p[0]], [p[1]])
    as_of = DAYS[70].astype(object)
    assert _labels(builder, as_of, LabelSpec(threshold=0.15, horizon=40)).at["P0", "label"] == 1.0
    assert _labels(builder, as_of, LabelSpec(threshold=0.20, horizon=40)).at["P0", "label"] == 0.0


def test_alarm_rules_score_and_flag():
    as_of_idx = 100
    rows = [
        _pupil([95, 96, 97, 98]),                      # 4 days last month
        _pupil([95, 96, 97, 98, 99]),                  # 5 in a row
        _pupil(list(range(81, 100, 3)), code=U),      # 7 unauthorised days in 20
        _pupil([]),
    ]
    builder = _municipality([r[0] for r in rows], [r[1] for r in rows])
    frame = builder.build([DAYS[as_of_idx].astype(object)], with_rules=True).set_index("pupil_id")
    flags = rule_flags(frame)
    assert flags.at["P0", "days_4_last_month"] and not flags.at["P0", "consecutive_5"]
    assert flags.at["P1", "consecutive_5"] and frame.at["P1", "rule_consecutive_5"] == 5
    assert flags.at["P2", "unauthorised_10pct_last_month"] and flags.at["P2", "days_7_in_20"]
    assert not flags.loc["P3"].any()
    assert set(RULE_BY_NAME) == {r.name for r in ALARM_RULES}


@pytest.mark.parametrize(("unauth_days", "level"), [(2, "none"), (5, "warning"), (8, "notification")])
def test_statutory_quarter_rule(unauth_days, level):
    # 2025-Q1 starts at the first school day of January; take an as-of date 50 school days later
    q_start = int(np.searchsorted(DAYS, np.datetime64("2025-01-01")))
    as_of_idx = q_start + 50
    p = _pupil(list(range(q_start, q_start + unauth_days)), code=U)
    builder = _municipality([p[0]], [p[1]])
    out = statutory_quarter(builder.day_major, DAYS[as_of_idx].astype(object), np.array([0]))
    assert out.at[0, "quarter"] == "2025-Q1"
    assert out.at[0, "registered_days"] == 50
    assert out.at[0, "unauthorised_rate"] == pytest.approx(unauth_days / 50)
    assert out.at[0, "statutory_level"] == level
