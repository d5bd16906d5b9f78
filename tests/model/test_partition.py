"""Features by part (school groups): the same rows as one build over the whole register, in
one process or in a process pool: the move beyond one machine is an executor, not a rewrite."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from datetime import date

import pandas as pd
import pytest

from model.partition import build_partitioned, partition_inputs
from tests.municipality import small_municipality

MUNI = small_municipality()
DATES = [date(2024, 9, 2), date(2024, 11, 11), date(2025, 2, 3)]
KEY = ["pupil_id", "as_of"]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEY).reset_index(drop=True)


def _parts() -> list[list[str]]:
    schools = sorted(MUNI.enrolments.loc[MUNI.enrolments["school_year"] == "2024/25",
                                         "school_id"].unique())
    assert len(schools) >= 2
    return [[s] for s in schools]


def test_each_pupil_of_the_year_is_in_exactly_one_part():
    parts = partition_inputs(MUNI, "2024/25", _parts())
    ids = [set(p.register.pupil_ids) for p in parts]
    assert sum(map(len, ids)) == len(set().union(*ids))
    enrolled = set(MUNI.enrolments.loc[MUNI.enrolments["school_year"] == "2024/25", "pupil_id"])
    assert set().union(*ids) == enrolled
    # a part carries its pupils' earlier years too (last year's absence, new school)
    assert all((p.enrolments["school_year"] == "2023/24").any() for p in parts)


@pytest.mark.parametrize("pool", [False, True])
def test_parts_give_the_rows_of_the_whole_register(pool):
    whole = _sorted(MUNI.feature_builder().build(DATES))
    if pool:
        with ProcessPoolExecutor(2) as executor:
            by_part = build_partitioned(MUNI, DATES, _parts(), executor.map)
    else:
        by_part = build_partitioned(MUNI, DATES, _parts())
    # context features sum the same classmates in another order: equal to float32 rounding
    pd.testing.assert_frame_equal(_sorted(by_part), whole, rtol=1e-6)
    assert by_part["school_rate_12w"].notna().all()


def test_a_school_left_out_of_every_part_has_no_rows():
    first = _parts()[:1]
    rows = build_partitioned(MUNI, DATES, first)
    assert set(rows["school_id"]) == set(first[0])


def test_dates_of_two_school_years_are_refused():
    with pytest.raises(ValueError, match="one school year"):
        build_partitioned(MUNI, [date(2024, 3, 4), date(2024, 9, 2)], _parts())
