"""Features at national scale: the day-major sums (all or only some) equal their definition,
some sums alone equal the same sums of the full set, and features streamed by pupil chunk are
the rows `build` gives (context features included, across chunks)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from model.calendar import holiday_adjacent
from model.features import weekly_as_of_dates
from model.register import CATEGORIES, RATE_SUMS, DayMajor, Register
from tests.municipality import small_municipality

MUNI = small_municipality()
DATES = [date(2024, 3, 4), date(2024, 9, 2), date(2024, 11, 11), date(2025, 2, 3)]


def reference_sums(reg: Register) -> dict[str, np.ndarray]:
    """The sums by their definition: one school day after the other."""
    status, absent = reg.status.T, reg.absent.T.astype(np.float32)
    days, pupils = status.shape
    after_break = holiday_adjacent(reg.days)[0]
    out = {name: np.zeros((days + 1, pupils), np.float32)
           for name in ("registered", *CATEGORIES, "partial", "after_break")}
    run = np.zeros((days, pupils), np.int16)
    for d in range(days):
        a, st = absent[d], status[d]
        out["registered"][d + 1] = out["registered"][d] + (st > 0)
        out["total"][d + 1] = out["total"][d] + a
        for cat, code in CATEGORIES.items():
            if code is not None:
                out[cat][d + 1] = out[cat][d] + np.where(st == code, a, 0)
        out["partial"][d + 1] = out["partial"][d] + ((a > 0) & (a < 1))
        out["after_break"][d + 1] = out["after_break"][d] + (a if after_break[d] else 0)
        run[d] = np.where(a >= 0.5, (run[d - 1] + 1) if d else 1, 0)
    out["run"] = run
    return out


def test_day_major_sums_equal_the_day_by_day_definition():
    reg = MUNI.register
    dm, ref = DayMajor(reg), reference_sums(reg)
    np.testing.assert_array_equal(dm.cum_registered, ref["registered"])
    for cat in CATEGORIES:
        np.testing.assert_array_equal(dm.cum[cat], ref[cat])
    np.testing.assert_array_equal(dm.cum_partial, ref["partial"])
    np.testing.assert_array_equal(dm.cum_after_break, ref["after_break"])
    np.testing.assert_array_equal(dm.run, ref["run"])
    assert dm.run.max() >= 5  # the municipality has runs, so the run rule is exercised


def test_only_some_sums_are_the_same_sums():
    reg = MUNI.register
    full, light = DayMajor(reg), DayMajor(reg, RATE_SUMS)
    np.testing.assert_array_equal(light.cum_registered, full.cum_registered)
    assert set(light.cum) == {"total", "unauthorised"}
    for cat in light.cum:
        np.testing.assert_array_equal(light.cum[cat], full.cum[cat])
    assert light.run is None and light.cum_partial is None and light.cum_after_break is None


@pytest.mark.parametrize("chunk_pupils", [7, 50, 10**6])
def test_streamed_chunks_are_the_rows_of_build(chunk_pupils):
    whole = MUNI.feature_builder().build(DATES, with_rules=True)
    builder = MUNI.feature_builder()
    builder.chunk_pupils = chunk_pupils
    chunks = list(builder.build_chunks(DATES, with_rules=True))
    assert len(chunks) == -(-len(builder.row_of) // chunk_pupils)
    streamed = pd.concat(chunks, ignore_index=True)
    key = ["pupil_id", "as_of"]
    pd.testing.assert_frame_equal(streamed.sort_values(key).reset_index(drop=True),
                                  whole.sort_values(key).reset_index(drop=True))
    # the context features depend on classmates in other chunks: they are not all missing
    assert streamed["class_rate_12w"].notna().mean() > 0.9


def test_build_in_chunks_equals_build_whole():
    whole = MUNI.feature_builder().build(DATES)
    builder = MUNI.feature_builder()
    builder.chunk_pupils = 9
    chunked = builder.build(DATES)
    key = ["pupil_id", "as_of"]
    pd.testing.assert_frame_equal(chunked.sort_values(key).reset_index(drop=True),
                                  whole.sort_values(key).reset_index(drop=True))


def test_rate_sums_use_the_full_sums_when_built_and_three_otherwise():
    builder = MUNI.feature_builder()
    light = builder.rate_sums()
    assert light.run is None and set(light.cum) == set(RATE_SUMS) - {"registered"}
    builder = MUNI.feature_builder()
    full = builder.day_major
    assert builder.rate_sums() is full


def test_a_builder_before_an_as_of_date_gives_the_same_features():
    as_of = date(2024, 11, 11)
    whole = MUNI.feature_builder().build([as_of])
    cut = MUNI.feature_builder(before=as_of)
    assert cut.register.days.max() < np.datetime64(as_of)
    pd.testing.assert_frame_equal(cut.build([as_of]), whole)


def test_weekly_dates_of_a_national_year_stream_without_the_whole_frame():
    """Chunks hold only their own pupils: none is larger than its share of the rows."""
    builder = MUNI.feature_builder()
    builder.chunk_pupils = 10
    dates = weekly_as_of_dates(MUNI.register.days, date(2024, 8, 12), date(2025, 6, 20))
    sizes = [len(frame) for frame in builder.build_chunks(dates)]
    assert max(sizes) <= 10 * len(dates) and sum(sizes) == len(builder.build(dates))
