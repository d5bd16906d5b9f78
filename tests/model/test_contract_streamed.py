"""The register read in chunks (national scale): whatever the chunk size, a delivery gives the
same register, school days, warnings and problems (same file, line, column and rule) as read in
one piece; duplicates are found across chunks; CSV (pyarrow and C parser) and Parquet alike."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

import model.contract as contract
import model.contract.pseudonymising as pseudonymising
import model.contract.reading as reading
from model.contract import load
from model.errors import UserError
from tests.factories import corruptions, small_municipality

KEY = b"test-key-" + b"x" * 32
BASE = small_municipality(pupils=12, weeks=2, seed=3)


def outcome(folder: Path, chunk_rows: int):
    """What `load` gives with register chunks of `chunk_rows` rows: the delivery's register and
    school days and warnings, or the problems."""
    saved = reading.CHUNK_ROWS
    reading.CHUNK_ROWS = chunk_rows
    try:
        d = load(folder, KEY)
    except UserError as err:
        return ("rejected", [str(p) for p in err.problems])
    finally:
        reading.CHUNK_ROWS = saved
    keys, status, absent = d.register.strips()
    days = d.school_days.sort_values(["school_id", "date"]).reset_index(drop=True)
    return ("accepted", keys.to_dict("list"), status.tobytes(), absent.tobytes(),
            days.to_dict("list"), d.warnings, d.collapsed, d.files, len(d.register))


def same_in_chunks(folder: Path, sizes=(7, 50, 299)) -> tuple:
    whole = outcome(folder, 10**9)
    for size in sizes:
        assert outcome(folder, size) == whole, f"chunks of {size} rows differ from one piece"
    return whole


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_valid_delivery_reads_the_same_in_chunks(tmp_path, fmt):
    town = small_municipality(pupils=20, weeks=3, cpr=True)
    whole = same_in_chunks(town.write(tmp_path, fmt=fmt))
    assert whole[0] == "accepted" and whole[-1] == 300
    assert whole[7][3]["file"] == f"attendance.{fmt}" and whole[7][3]["rows"] == 300


def test_duplicates_in_different_chunks_collapse_or_fail_as_in_one_piece(tmp_path):
    town = BASE.copy()
    att = town["attendance"]
    n = len(att)
    # rows 4 and 5 again at the end (identical: collapsed) and row 0 with another status
    other = "illness" if att.loc[0, "status"] == "present" else "present"
    town.files["attendance"] = pd.concat([att, att.iloc[[4, 5]]], ignore_index=True)
    collapsed = same_in_chunks(town.write(tmp_path / "same"))
    assert collapsed[0] == "accepted" and collapsed[6] == 2
    assert any("2 identical duplicate rows collapsed (first on line 6, repeated on line "
               f"{n + 2})" in w for w in collapsed[5])
    town.files["attendance"] = pd.concat(
        [att, att.iloc[[0]].assign(status=other, absent_fraction="")], ignore_index=True)
    rejected = same_in_chunks(town.write(tmp_path / "conflict"))
    assert rejected == ("rejected", [f"attendance.csv, line {n + 2}: duplicate (pupil_id, date) "
                                     "with different values (first on line 2)"])


def test_problems_in_several_chunks_are_reported_in_line_order(tmp_path):
    town = BASE.copy()
    att = town["attendance"]
    for row in (3, 40, 41, 100):
        att.loc[row, "status"] = "maybe"
    att.loc[70, "date"] = "2031-06-02"
    whole = same_in_chunks(town.write(tmp_path))
    assert whole[0] == "rejected"
    lines = [int(p.split("line ")[1].split(",")[0]) for p in whole[1]]
    assert lines == sorted(lines) and set(lines) == {5, 42, 43, 72, 102}


def test_a_malformed_line_deep_in_the_file_is_named_in_chunks(tmp_path):
    town = BASE.copy()
    folder = town.write(tmp_path)
    path = folder / "attendance.csv"
    lines = path.read_text().splitlines()
    lines[100] += ",extra"
    path.write_text("\n".join(lines) + "\n")
    assert same_in_chunks(folder) == ("rejected", ["attendance.csv, line 101: expected 4 fields, "
                                                   "saw 5"])


def test_blank_lines_keep_line_numbers_in_chunks(tmp_path):
    """A blank line inside the file: the C parser path, lines still exact across chunks."""
    town = BASE.copy()
    town["attendance"].loc[90, "status"] = "maybe"
    folder = town.write(tmp_path)
    path = folder / "attendance.csv"
    lines = path.read_text().splitlines()
    lines.insert(30, "")
    path.write_text("\n".join(lines) + "\n")
    assert same_in_chunks(folder) == (
        "rejected", ["attendance.csv, line 93, column status: unknown status 'maybe': "
                     + contract.STATUS_HINT])


def test_each_cpr_number_is_hashed_once_per_delivery(tmp_path, monkeypatch):
    town = small_municipality(pupils=20, weeks=3, cpr=True)
    folder = town.write(tmp_path)
    calls = []
    real = pseudonymising.pseudonymise
    monkeypatch.setattr(pseudonymising, "pseudonymise",
                        lambda raw, key: calls.append(raw) or real(raw, key))
    monkeypatch.setattr(reading, "CHUNK_ROWS", 7)
    load(folder, KEY)
    # every file hashes each of its CPR numbers once; the register once over all its 43 chunks
    expected = sum(len(set(frame["pupil_id"]) & set(town.cpr)) for frame in town.files.values()
                   if "pupil_id" in frame)
    assert len(town["attendance"]) // 7 > 40 and len(calls) == expected


def test_strips_are_in_pupil_and_year_order():
    entries = contract.RegisterEntries(
        pupil_ids=np.array(["a", "b", "c"], object), school_years=["2023/24", "2024/25"],
        pupil=np.array([2, 0, 2, 1], np.int32), year=np.array([1, 0, 0, 1], np.int16),
        day=np.array([10, 11, 12, 13], np.int16), status=np.array([1, 2, 3, 4], np.uint8),
        absent=np.array([0, 200, 200, 100], np.uint8))
    keys, status, absent = entries.strips()
    assert keys.values.tolist() == [["a", "2023/24"], ["b", "2024/25"], ["c", "2023/24"],
                                    ["c", "2024/25"]]
    assert status[0, 11] == 2 and status[1, 13] == 4 and status[2, 12] == 3 and status[3, 10] == 1
    assert absent[1, 13] == 100 and int(status.astype(bool).sum()) == 4


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corruptions(BASE))
def test_generated_corruptions_give_the_same_problems_in_chunks(corruption):
    town = BASE.copy()
    corruption.mutate(town)
    with tempfile.TemporaryDirectory() as tmp:
        whole = same_in_chunks(town.write(Path(tmp)), sizes=(13,))
    assert whole[0] == "rejected"
