"""Lead time of the pupils who became concerning and stayed so (issue 12), on a hand-built
frame: one school, six weekly as-of dates, a list of length 1."""

import numpy as np
import pandas as pd

from model.capacity import Capacity
from training.evaluation import held_ahead

WEEKS = pd.date_range("2025-10-06", periods=6, freq="7D")


def _frame(rows: dict[str, tuple[list[int], list[float]]]) -> pd.DataFrame:
    """rows: pupil -> (already concerning per week, label per week)."""
    out = []
    for pupil, (concerning, label) in rows.items():
        for week, c, y in zip(WEEKS, concerning, label, strict=True):
            out.append({"pupil_id": pupil, "as_of": week, "school_id": "s1", "already_concerning": bool(c),
                        "label": y, "total_rate_12w": 0.0})
    return pd.DataFrame(out)


# "a" crosses the line in week 4 and its next 60 days are concerning too (entrenched);
# "b" crosses in week 3 after a flu: its next 60 days are not (label 0 at the onset);
# "c" never crosses. The list holds one pupil a week.
FRAME = _frame({
    "a": ([0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1]),
    "b": ([0, 0, 0, 1, 1, 1], [1, 1, 0, 0, 0, 0]),
    "c": ([0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]),
})
CAPACITY = Capacity(share=0.01, minimum=1)


def _score(top: dict[int, str]) -> np.ndarray:
    """A ranker that puts pupil top[week] first in that week, and "c" first in the others."""
    week_of = {w: i for i, w in enumerate(WEEKS)}
    return np.array([1.0 if top.get(week_of[w]) == p else 0.5 if p == "c" else 0.0
                     for p, w in zip(FRAME["pupil_id"], FRAME["as_of"], strict=True)])


def test_only_entrenched_onsets_count_and_the_lead_is_measured_in_weeks():
    # listed "a" from week 1, three weeks before its onset in week 4
    share, median = held_ahead(FRAME, _score({1: "a", 2: "a", 3: "a"}), CAPACITY)
    assert share == 1.0 and median == 3.0
    # a list that held "b" (the flu) instead never held the one entrenched case
    share, median = held_ahead(FRAME, _score({0: "b", 1: "b", 2: "b"}), CAPACITY)
    assert share == 0.0 and np.isnan(median)


def test_a_list_one_week_ahead_is_not_two_weeks_ahead():
    share, median = held_ahead(FRAME, _score({3: "a"}), CAPACITY)
    assert share == 0.0 and median == 1.0


def test_the_two_week_definition_counts_the_flu_too():
    # "stayed so" as "still over the line two weeks later" keeps "b" (its trailing window stays
    # high; "a" crosses too late to be checked), so a list holding "b" early scores all of it
    share, median = held_ahead(FRAME, _score({0: "b", 1: "b"}), CAPACITY, stayed="weeks")
    assert share == 1.0 and median == 3.0
    assert held_ahead(FRAME, _score({0: "b", 1: "b"}), CAPACITY)[0] == 0.0
