"""Ingest into the store (system tier), on SQLite and PostgreSQL: what is loaded, the
data-quality report, idempotency, corrected rows, all-or-nothing, and CPR numbers that never
reach the store, the screen or the log."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from sqlalchemy import func, select, text

import serving.ingest as ingest_module
from model.errors import UserError
from model.register import load_register, register_rows
from model.store import (
    FRACTION_SCALE,
    STATUS_CODES,
    import_batches,
    metadata,
    open_store,
    read_strips,
)
from serving.ingest import ingest_folder
from tests.factories import Municipality, corruptions, small_municipality

EWS = Path(sys.executable).with_name("ews")
DANISH = {"present": "tilstede", "illness": "sygdom", "authorised": "ekstraordinær frihed",
          "unauthorised": "ulovligt"}


@pytest.fixture
def store(store_url):
    engine = open_store(store_url)
    yield engine
    engine.dispose()


def snapshot(engine) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every table's rows (in key order)."""
    out = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            out[table.name] = (len(rows), digest)
    return out


def stored_bytes(engine, url: str) -> bytes:
    """Everything the store holds, as bytes: the SQLite files, or every PostgreSQL row as text."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    with engine.connect() as conn:
        return "\n".join(
            row[0] for table in metadata.sorted_tables
            for row in conn.execute(text(f"SELECT t::text FROM {table.name} t"))
        ).encode()


def expected_register(att: pd.DataFrame) -> pd.DataFrame:
    """The contract's long form of an attendance frame (defaults applied), sorted."""
    status = att["status"].map(lambda s: {**{v: k for k, v in DANISH.items()}}.get(s, s))
    fraction = pd.to_numeric(att["absent_fraction"].replace("", np.nan))
    fraction = fraction.where(fraction.notna(), np.where(status == "present", 0.0, 1.0))
    out = pd.DataFrame({"pupil_id": att["pupil_id"].to_numpy(dtype=object),
                        "date": pd.to_datetime(att["date"]).to_numpy().astype("datetime64[D]"),
                        "status": status.to_numpy(dtype=object),
                        "absent_fraction": fraction.to_numpy(float)})
    return out.sort_values(["pupil_id", "date"]).reset_index(drop=True)


def stored_register(engine) -> pd.DataFrame:
    rows = register_rows(engine)
    rows["pupil_id"] = rows["pupil_id"].astype(object)
    rows["status"] = rows["status"].astype(object)
    rows["date"] = rows["date"].to_numpy().astype("datetime64[D]")
    return rows.sort_values(["pupil_id", "date"]).reset_index(drop=True)


def batches(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(import_batches)).scalar_one()


@pytest.fixture
def town() -> Municipality:
    return small_municipality()


# --- a valid delivery ----------------------------------------------------------------------------


def test_ingest_loads_everything_and_records_a_batch(store, settings, town, tmp_path):
    result = ingest_folder(settings, store, town.write(tmp_path))
    assert result.changed and result.batch_id == 1 and result.warnings == []
    pd.testing.assert_frame_equal(stored_register(store), expected_register(town["attendance"]),
                                  check_dtype=False)
    expected = {"schools": 2, "pupils": 20, "enrolments": 20, "register": 20, "school_days": 30,
                "concerns": 6, "class_wellbeing": len(town["class_wellbeing"]),
                "import_batches": 1}
    counts = snapshot(store)  # other modules may add tables of their own to the store
    assert {name: counts[name][0] for name in expected} == expected
    with store.connect() as conn:
        batch = conn.execute(select(import_batches)).one()
    assert [f["file"] for f in batch.files] == [f"{n}.csv" for n in town.files]
    assert batch.files[3]["rows"] == 300 and len(batch.files[3]["sha256"]) == 64
    assert batch.report == result.report


def test_the_data_quality_report(store, settings, town, tmp_path):
    att = town["attendance"]
    holes = [3, 40, 41, 200]  # enrolled pupils without an entry on a school day: not registered
    town.files["attendance"] = att.drop(index=holes).reset_index(drop=True)
    report = ingest_folder(settings, store, town.write(tmp_path)).report
    kept = expected_register(town["attendance"])
    assert report["schools"] == 2 and report["pupils"] == 20
    assert report["school_days"] == 15 and report["school_days_by_school"] == {"S1": 15, "S2": 15}
    assert report["register_entries"] == report["register_entries_imported"] == 296
    assert report["pupil_days_expected"] == 300 and report["unregistered_pupil_days"] == 4
    assert report["partial_days"] == int(((kept.status != "present")
                                          & (kept.absent_fraction < 1)).sum())
    for status in ("illness", "authorised", "unauthorised"):
        share = kept.absent_fraction[kept.status == status].sum() / 296
        assert report["absence_share"][status] == pytest.approx(share, abs=1e-6)
    assert report["absence_share"]["total"] == pytest.approx(kept.absent_fraction.sum() / 296,
                                                             abs=1e-6)
    assert report["concerns"] == town["concerns"].groupby("category").size().to_dict()
    # a pupil-day without an entry is neither present nor absent: status 0 in the matrix
    reg = load_register(store)
    assert (reg.status > 0).sum() == 296
    summary = ingest_folder(settings, store, tmp_path).summary()
    assert summary.startswith("Nothing new")


def test_summary_is_short_and_human(store, settings, town, tmp_path):
    summary = ingest_folder(settings, store, town.write(tmp_path)).summary()
    lines = summary.splitlines()
    assert lines[0].startswith("Imported batch 1 (2024/25): 2 schools, 20 pupils, 300 register")
    assert "not registered" in lines[1] and lines[2].startswith("Absence ")
    assert lines[3].startswith("Concerns: 6 (") and len(lines) <= 6


# --- idempotency and corrections -----------------------------------------------------------------


def test_importing_the_same_files_again_changes_nothing(store, settings, town, tmp_path):
    folder = town.write(tmp_path)
    ingest_folder(settings, store, folder)
    before = snapshot(store)
    again = ingest_folder(settings, store, folder)
    assert not again.changed and again.batch_id is None and again.same_as_batch == 1
    assert again.summary().startswith("Nothing new")
    assert snapshot(store) == before


@pytest.mark.slow
def test_the_same_rows_in_other_files_change_nothing(store, settings, town, tmp_path):
    ingest_folder(settings, store, town.write(tmp_path / "a"))
    before = snapshot(store)
    shuffled = town.copy()
    for name, frame in shuffled.files.items():
        shuffled.files[name] = frame.sample(frac=1, random_state=1)
    shuffled["attendance"]["status"] = shuffled["attendance"]["status"].map(DANISH)
    for folder in (shuffled.write(tmp_path / "b", sep=";"),
                   town.write(tmp_path / "c", fmt="parquet")):
        result = ingest_folder(settings, store, folder)
        assert not result.changed and result.batch_id is None and result.same_as_batch is None
        assert result.summary() == ("Nothing new: every row is already in the store; no batch "
                                    "recorded.")
    assert snapshot(store) == before


def test_corrected_rows_replace_older_ones_and_other_days_are_kept(store, settings, town,
                                                                   tmp_path):
    ingest_folder(settings, store, town.write(tmp_path / "first"))
    att = town["attendance"]
    rows = att.index[att.status == "present"][:3]
    correction = town.copy()
    correction.files["attendance"] = att.loc[rows].assign(status="unauthorised",
                                                          absent_fraction="0.5")
    result = ingest_folder(settings, store, correction.write(tmp_path / "fix"))
    assert result.changed and result.batch_id == 2
    assert result.report["changes"] == {"schools": 0, "pupils": 0, "enrolments": 0, "concerns": 0,
                                        "class_wellbeing": 0, "school_days": 0,
                                        "register_strips": att.loc[rows, "pupil_id"].nunique()}
    assert result.report["register_entries_imported"] == 3
    assert result.report["register_entries"] == 300
    expected = att.copy()
    expected.loc[rows, ["status", "absent_fraction"]] = ["unauthorised", "0.5"]
    pd.testing.assert_frame_equal(stored_register(store), expected_register(expected),
                                  check_dtype=False)


def test_a_new_week_is_merged_into_the_strips(store, settings, tmp_path):
    town = small_municipality(weeks=3)
    att = town["attendance"]
    dates = sorted(att.date.unique())
    first, later = town.copy(), town.copy()
    first.files["attendance"] = att[att.date < dates[10]]
    later.files["attendance"] = att[att.date >= dates[10]]
    ingest_folder(settings, store, first.write(tmp_path / "1"))
    result = ingest_folder(settings, store, later.write(tmp_path / "2"))
    assert result.report["changes"]["school_days"] == 10 and result.report["school_days"] == 15
    pd.testing.assert_frame_equal(stored_register(store), expected_register(att),
                                  check_dtype=False)


def test_a_delivery_may_refer_to_pupils_already_in_the_store(store, settings, town, tmp_path):
    ingest_folder(settings, store, town.write(tmp_path / "1"))
    newcomer = town.copy()
    newcomer.files["pupils"] = pd.DataFrame({"pupil_id": ["P900"], "birth_date": ["2015-03-04"],
                                             "gender": ["F"]})
    newcomer.files["enrolments"] = pd.DataFrame({
        "pupil_id": ["P900"], "school_id": ["S2"], "school_year": ["2024/25"], "grade": ["3"],
        "class_id": ["S2-3A"], "special_needs": [""]})
    old = town["attendance"][town["attendance"].pupil_id == "P001"]
    newcomer.files["attendance"] = pd.concat([old.assign(status="illness", absent_fraction=""),
                                              old.assign(pupil_id="P900")])
    newcomer.files.pop("concerns")
    newcomer.files.pop("class_wellbeing")
    result = ingest_folder(settings, store, newcomer.write(tmp_path / "2"))
    assert result.report["changes"]["pupils"] == 1
    reg = stored_register(store)
    assert (reg[reg.pupil_id == "P001"].status == "illness").all()
    assert len(reg) == 315


def test_two_school_years_make_a_strip_each(store, settings, tmp_path, monkeypatch):
    a = small_municipality(school_year="2023/24", weeks=2, seed=1, concerns=False)
    b = small_municipality(school_year="2024/25", weeks=2, seed=2, concerns=False)
    both = Municipality({name: pd.concat([a[name], b[name]], ignore_index=True)
                         for name in ("enrolments", "attendance", "class_wellbeing")})
    both.files["schools"] = a["schools"]
    both.files["pupils"] = a["pupils"]
    result = ingest_folder(settings, store, both.write(tmp_path))
    assert result.report["school_years"] == ["2023/24", "2024/25"]
    assert result.report["school_days"] == 20 and result.report["unregistered_pupil_days"] == 0
    with store.connect() as conn:
        assert len(read_strips(conn)) == 40
        assert len(read_strips(conn, school_years=["2024/25"])) == 20
        keys = pd.DataFrame({"pupil_id": ["P001", "P002", "P001"],
                             "school_year": ["2023/24", "2024/25", "2019/20"]})
        for few in (2000, 0):  # by primary key, or by school year and then filtered
            monkeypatch.setattr("model.store.FEW_KEYS", few)
            picked = read_strips(conn, keys)
            assert sorted(zip(picked.pupil_id, picked.school_year, strict=True)) == [
                ("P001", "2023/24"), ("P002", "2024/25")]
        assert read_strips(conn, keys, school_years=["2019/20"]).empty
    reg = load_register(store)
    assert reg.status.shape == (20, 20)
    pd.testing.assert_frame_equal(stored_register(store), expected_register(both["attendance"]),
                                  check_dtype=False)


# --- all-or-nothing ----------------------------------------------------------------------------

BASE = small_municipality(pupils=12, weeks=2, seed=3)


@pytest.fixture
def loaded(store, settings, tmp_path):
    """A store holding BASE, and its snapshot."""
    ingest_folder(settings, store, BASE.write(tmp_path / "base"))
    return store, snapshot(store)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@pytest.mark.slow
@given(corruption=corruptions(BASE))
def test_a_rejected_delivery_leaves_the_store_unchanged(loaded, settings, corruption):
    store, before = loaded
    note(repr(corruption))
    mutate, file, line, column = corruption
    town = BASE.copy()
    town["schools"].loc[0, "name"] = "Renamed"  # a real change, were the delivery accepted
    mutate(town)
    with tempfile.TemporaryDirectory() as tmp, pytest.raises(UserError) as err:
        ingest_folder(settings, store, town.write(Path(tmp)))
    assert any(p.file == file and p.line == line and p.column == column
               for p in err.value.problems), err.value.problems
    assert snapshot(store) == before


@pytest.mark.parametrize("failing", ["_write_strips", "_upsert"])
def test_a_failure_while_writing_leaves_the_store_unchanged(loaded, settings, tmp_path,
                                                            monkeypatch, failing):
    store, before = loaded
    real = getattr(ingest_module, failing)

    def fail_after_writing(conn, table_or_keys, *args):
        real(conn, table_or_keys, *args)  # the writes happen, then the disk fills up
        if failing == "_write_strips" or table_or_keys.name == "class_wellbeing":
            raise OSError("disk full")

    monkeypatch.setattr(ingest_module, failing, fail_after_writing)
    town = small_municipality(pupils=14, weeks=3, seed=4)
    with pytest.raises(OSError):
        ingest_folder(settings, store, town.write(tmp_path / "new"))
    assert snapshot(store) == before


def test_a_failure_on_an_empty_store_leaves_it_empty(store, settings, town, tmp_path,
                                                     monkeypatch):
    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(ingest_module, "_write_strips", fail)
    before = snapshot(store)
    with pytest.raises(OSError):
        ingest_folder(settings, store, town.write(tmp_path))
    assert snapshot(store) == before and batches(store) == 0


# --- privacy -------------------------------------------------------------------------------------


def _cpr_forms(town: Municipality) -> list[bytes]:
    forms = set()
    for number in town.cpr:
        digits = number.replace("-", "")
        forms |= {digits, f"{digits[:6]}-{digits[6:]}"}
    return [f.encode() for f in sorted(forms)]


def _cli(args: list[str], url: str, monkeypatch):
    """Run the `ews` command in-process (typer's CliRunner) against the store at `url`."""
    from typer.testing import CliRunner

    from ews.cli import app
    from model.settings import get_settings

    monkeypatch.setenv("EWS_DATABASE_URL", url)
    get_settings.cache_clear()
    return CliRunner().invoke(app, args)


def _ews(*args: str, url: str) -> subprocess.CompletedProcess:
    """Run the installed `ews` command in a process of its own."""
    env = dict(os.environ, EWS_DATABASE_URL=url)
    return subprocess.run([str(EWS), *args], env=env, capture_output=True, check=False)


def test_unknown_and_free_text_columns_are_never_stored(store, store_url, settings, town,
                                                        tmp_path):
    town["pupils"]["favourite_colour"] = "TURQUOISE-XYZZY"
    town["concerns"]["note"] = "MUM-CALLED-ABOUT-BULLYING"
    town["attendance"]["Kommentar"] = "LATE-BUS-QWERTY"
    result = ingest_folder(settings, store, town.write(tmp_path))
    assert result.warnings == [
        "pupils.csv: unknown column 'favourite_colour' ignored (not stored)",
        "attendance.csv: free-text column 'kommentar' dropped (never stored)",
        "concerns.csv: free-text column 'note' dropped (never stored)",
    ]
    dump = stored_bytes(store, store_url)
    for secret in (b"TURQUOISE", b"MUM-CALLED", b"LATE-BUS", b"favourite_colour"):
        assert secret not in dump


@pytest.mark.slow
def test_cpr_numbers_never_reach_the_store_the_screen_or_the_log(store, store_url, settings,
                                                                 tmp_path, caplog, monkeypatch):
    town = small_municipality(cpr=True)
    forms = _cpr_forms(town)
    assert len(forms) == 20
    # CPR numbers also sit in an unknown column and in a free-text note: both are dropped.
    town["pupils"]["cpr"] = town["pupils"]["pupil_id"]
    town["concerns"]["note"] = [f"ringede om {n}" for n in town["pupils"]["pupil_id"][:6]]
    bad = town.copy()
    number = next(iter(town.cpr))
    rows = bad["attendance"].index[bad["attendance"].pupil_id == number]
    bad["attendance"].loc[rows[0], "status"] = f"syg {number}"
    bad["attendance"].loc[rows[1], "date"] = "2024-08-18"

    printed = b""
    with caplog.at_level(logging.DEBUG):
        for folder in (bad.write(tmp_path / "bad"), town.write(tmp_path / "good")):
            out = _cli(["ingest", str(folder)], store_url, monkeypatch)
            printed += (out.stdout + out.stderr).encode()
        assert "error: attendance.csv, line" in printed.decode()
        assert "Imported batch 1" in printed.decode()
        for folder in (tmp_path / "bad", tmp_path / "good"):
            try:
                result = ingest_folder(settings, store, folder)
                printed += (result.summary() + "\n".join(result.warnings)).encode()
            except UserError as err:
                printed += "\n".join(str(p) for p in err.problems).encode()
    logged = caplog.text.encode()
    dump = stored_bytes(store, store_url)
    home = b"".join(p.read_bytes() for p in settings.home_dir.rglob("*") if p.is_file())
    assert batches(store) == 1
    for form in forms:
        assert form not in printed, "a CPR number was printed"
        assert form not in logged, "a CPR number was logged"
        assert form not in dump, "a CPR number was stored"
        assert form not in home, "a CPR number was written to EWS_HOME"


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_bad_input_exits_2_with_one_line_and_no_traceback(settings, town, tmp_path):
    town["attendance"].loc[15, "status"] = "sick-ish"
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    out = _ews("ingest", str(town.write(tmp_path / "bad")), url=url)
    stderr = out.stderr.decode()
    assert out.returncode == 2
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr.startswith("error: attendance.csv, line 17, column status: unknown status "
                             "'sick-ish'")


def test_cli_missing_folder_exits_2(settings, tmp_path, monkeypatch):
    out = _cli(["ingest", str(tmp_path / "nowhere")], f"sqlite:///{tmp_path / 'cli.db'}",
               monkeypatch)
    assert out.exit_code == 2 and out.stderr == f"error: {tmp_path / 'nowhere'} is not a folder\n"


def test_progress_bar_does_not_disturb(store, settings, town, tmp_path, capfd):
    result = ingest_folder(settings, store, town.write(tmp_path), progress=True)
    assert result.changed
    assert "Traceback" not in capfd.readouterr().err


def test_strip_encoding_matches_the_store(store, settings, town, tmp_path):
    ingest_folder(settings, store, town.write(tmp_path))
    with store.connect() as conn:
        strips = read_strips(conn)
    status = np.frombuffer(b"".join(strips.status), np.uint8)
    absent = np.frombuffer(b"".join(strips.absent), np.uint8)
    assert set(np.unique(status)) <= {0, *STATUS_CODES.values()}
    assert (absent[status == STATUS_CODES["present"]] == 0).all()
    assert (absent[status > 1] > 0).all() and absent.max() == FRACTION_SCALE
