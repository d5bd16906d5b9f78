"""Erasure and retention on SQLite and PostgreSQL: after `erase_pupil` no table, stored list or
export under EWS_HOME names the pupil (but the audit log's one-way marker), and a training set
built afterwards excludes the pupil; retention deletes exactly what is older than its windows
and touches the audit log only through its own window."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from model.errors import UserError
from model.inputs import load_inputs
from model.labels import LabelSpec
from model.pseudonym import pseudonymise
from model.records import audit_log, audit_marker, flag_lists, flags, reviews, scores
from model.settings import Settings
from model.store import enrolments, metadata, open_store, pupils, register
from tests.factories import small_municipality

KEY = "test-key-" + "x" * 32
FLAG_WEEKS = ("2024-W36", "2024-W39")


def make_settings(home: Path, store_url: str, **overrides) -> Settings:
    return Settings(home=home, pseudonym_key=KEY, environment="test", database_url=store_url,
                    mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}", **overrides)


def every_stored_text(engine) -> list[tuple[str, str]]:
    """(table, text) of every value of every table: strings, JSON and bytes as text."""
    import model.oversight  # noqa: F401 - its tables belong to the metadata scanned

    out = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)).all():
                for value in row:
                    if isinstance(value, bytes):
                        out.append((table.name, value.decode("latin-1")))
                    elif isinstance(value, (dict, list)):
                        out.append((table.name, json.dumps(value)))
                    elif value is not None:
                        out.append((table.name, str(value)))
    return out


def files_naming(home: Path, needle: str) -> list[Path]:
    """Every file under `home` (the store's own files too) whose bytes, or unpacked zip members,
    contain `needle`."""
    from serving.erasure import file_text

    return [p for p in home.rglob("*") if p.is_file() and needle.encode() in file_text(p)]


@pytest.fixture
def served_town(tmp_path, store_url):
    """A small municipality (36 pupils, every other one with a CPR number, 12 weeks) ingested;
    two weekly lists built with a tiny model and exported into EWS_HOME, one review, a scores
    CSV export under EWS_HOME."""
    from serving.champion import Champion
    from serving.exports import export_flag_list
    from serving.flags import build_weekly_lists
    from serving.ingest import ingest_folder
    from serving.stored_lists import stored_flag_list
    from tests.serving.conftest import train_tiny

    home = tmp_path / "home"
    settings = make_settings(home, store_url)
    engine = open_store(settings.store_url)
    town = small_municipality(pupils=36, schools=2, weeks=12, cpr=True, seed=4)
    ingest_folder(settings, engine, town.write(tmp_path / "delivery"))
    champion = Champion(train_tiny(engine, 0, 15), "1", settings.registered_model_name)
    for week in FLAG_WEEKS:
        for flag_list in build_weekly_lists(settings, engine, champion, week,
                                            today=date(2024, 12, 1)):
            export_flag_list(stored_flag_list(engine, flag_list.school_id, week), home / "lists")
    return settings, engine, town, champion


def listed_cpr_pupil(settings, engine, town) -> tuple[str, str]:
    """(CPR number, pseudonym) of a CPR-numbered pupil on an early-warning list."""
    key = settings.secret_key()
    by_pseudonym = {pseudonymise(c, key): c for c in town.cpr}
    with engine.connect() as conn:
        rows = conn.execute(select(flags.c.pupil_id).where(
            flags.c.section == "early_warning")).scalars().all()
    for pupil_id in rows:
        if pupil_id in by_pseudonym:
            return by_pseudonym[pupil_id], pupil_id
    raise AssertionError("no CPR-numbered pupil on an early-warning list")


@pytest.mark.slow
def test_erase_leaves_nothing_of_the_pupil_but_the_audit_marker(served_town):
    from serving.erasure import ERASE, erase_pupil
    from serving.scoring import score_frame
    from serving.stored_lists import record_review
    from training.dataset import build_training_set

    settings, engine, town, champion = served_town
    home = settings.home_dir
    cpr, pseudonym = listed_cpr_pupil(settings, engine, town)
    with engine.connect() as conn:
        flag_id = conn.execute(select(flags.c.id).where(flags.c.pupil_id == pseudonym)).scalar()
    record_review(engine, flag_id, "investigate", "team-S1 (team)", date(2024, 10, 1))
    inputs = load_inputs(engine)
    frame = score_frame(inputs.feature_builder(), champion.model, date(2024, 10, 28),
                        LabelSpec.from_settings(settings))
    (home / "out").mkdir()
    frame[["pupil_id", "school_id", "risk"]].to_csv(home / "out" / "scores.csv", index=False)
    dates = [date(2024, 9, 16), date(2024, 9, 23), date(2024, 9, 30)]
    before = build_training_set(inputs.feature_builder(), dates, LabelSpec(horizon=10))
    # the pupil is everywhere before: store, lists, exports, training set
    assert any(pseudonym in t for _, t in every_stored_text(engine))
    exports = [p for p in files_naming(home, pseudonym) if p.suffix in (".csv", ".xlsx", ".html")]
    assert {p.suffix for p in exports} == {".csv", ".xlsx", ".html"}
    assert pseudonym in set(before["pupil_id"])
    if engine.dialect.name == "sqlite":
        db = Path(engine.url.database)
        stored = db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes()
                                    if db.with_name(db.name + "-wal").exists() else b"")
        assert pseudonym.encode() in stored

    result = erase_pupil(settings, engine, cpr)

    assert result.deleted["pupils"] == 1 and result.deleted["register"] == 1
    assert result.deleted["flags"] >= 1 and result.deleted["reviews"] == 1
    assert result.deleted["scores"] >= 1
    assert not [table for table, t in every_stored_text(engine) if pseudonym in t]
    assert files_naming(home, pseudonym) == []
    if engine.dialect.name == "sqlite":  # the file itself, free pages and WAL included
        db = Path(engine.url.database)
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                assert pseudonym.encode() not in path.read_bytes(), path.name
        assert db.stat().st_size > 0
    assert cpr not in "".join(t for _, t in every_stored_text(engine))
    # the lists and exports are still there, only without the pupil
    assert sorted(result.rewritten) == sorted(exports) and not result.removed
    assert (home / "lists" / FLAG_WEEKS[0]).is_dir()
    marker = audit_marker(pseudonym, settings.secret_key())
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log).where(
            audit_log.c.pupil_marker == marker)).all()]
        remaining = conn.execute(select(pupils.c.pupil_id)).scalars().all()
    assert ERASE in actions and len(remaining) == 35
    # a training set built now excludes the pupil, and keeps everyone else
    after_inputs = load_inputs(engine)
    after = build_training_set(after_inputs.feature_builder(), dates, LabelSpec(horizon=10))
    assert pseudonym not in set(after["pupil_id"])
    assert set(after["pupil_id"]) == set(before["pupil_id"]) - {pseudonym}


@pytest.mark.slow
def test_erase_is_idempotent_and_an_unknown_pupil_is_one_clear_error(served_town):
    from serving.erasure import erase_pupil

    settings, engine, town, _ = served_town
    cpr, pseudonym = listed_cpr_pupil(settings, engine, town)
    first = erase_pupil(settings, engine, pseudonym)  # by pseudonym this time
    assert first.changed
    with engine.connect() as conn:
        rows_before = conn.execute(select(audit_log.c.id)).all()
    again = erase_pupil(settings, engine, cpr)
    assert not again.changed and again.erased_before is not None
    assert "already erased" in again.lines(settings.home_dir)[0]
    with engine.connect() as conn:
        assert conn.execute(select(audit_log.c.id)).all() == rows_before  # nothing new
    with pytest.raises(UserError, match="unknown pupil 'NOBODY'"):
        erase_pupil(settings, engine, "NOBODY")
    with pytest.raises(UserError) as err:
        erase_pupil(settings, engine, "010101-4001")
    assert "010101" not in str(err.value)  # a CPR number is never echoed


# -- retention ---------------------------------------------------------------------------------


@pytest.fixture
def history(tmp_path, store_url):
    """Register data of 2023/24 and 2024/25 ingested; scores, lists with flags, reviews and
    audit rows dated across 2022/23-2025/26 inserted."""
    from serving.audit import record
    from serving.ingest import ingest_folder

    home = tmp_path / "home"
    settings = make_settings(home, store_url)
    engine = open_store(settings.store_url)
    for year, seed in (("2023/24", 1), ("2024/25", 2)):
        town = small_municipality(pupils=10, schools=2, weeks=3, school_year=year, seed=seed)
        ingest_folder(settings, engine, town.write(tmp_path / year.replace("/", "-")))
    created = datetime(2025, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for as_of in (date(2023, 3, 6), date(2024, 3, 4), date(2024, 9, 2), date(2025, 9, 1)):
            week = f"{as_of.isocalendar()[0]}-W{as_of.isocalendar()[1]:02d}"
            conn.execute(insert(scores).values(as_of=as_of, pupil_id="P001", model_version="1",
                                               school_id="S1", grade=3, risk=0.2, margin=-1.0,
                                               band="low", already_concerning=False, reasons=[]))
            list_id = conn.execute(insert(flag_lists).values(
                week=week, school_id="S1", as_of=as_of, model_version="1", capacity=3,
                pupils_on_roll=5, created_at=created)).inserted_primary_key[0]
            flag_id = conn.execute(insert(flags).values(
                list_id=list_id, pupil_id="P001", section="early_warning", rank=1, grade=3,
                reasons=[], new_this_week=True)).inserted_primary_key[0]
            conn.execute(insert(reviews).values(
                flag_id=flag_id, pupil_id="P001", school_id="S1", week=week,
                decision="no_action", decided_on=as_of, decided_by="team-S1 (team)",
                created_at=created))
    for at in (datetime(2019, 5, 1, tzinfo=UTC), datetime(2021, 5, 1, tzinfo=UTC),
               datetime(2025, 5, 1, tzinfo=UTC)):
        record(engine, settings.secret_key(), actor="cli:test", role="admin", action="read_risk",
               pupils=["P001"], at=at)
    return settings, engine


def _count(engine, table, *where) -> int:
    from sqlalchemy import func

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def test_retention_keeps_the_current_and_previous_school_year_of_lists(history):
    from serving.retention import apply_retention

    settings, engine = history
    today, now = date(2025, 9, 15), datetime(2025, 9, 15, tzinfo=UTC)
    lists = settings.home_dir / "lists"
    for week in ("2024-W10", "2024-W36", "2025-W36"):
        (lists / week).mkdir(parents=True)
        for suffix in ("csv", "xlsx", "html"):
            (lists / week / f"S1.{suffix}").write_text("P001")
    dry = apply_retention(settings, engine, dry_run=True, today=today, now=now)
    assert _count(engine, scores) == 4  # a dry run deletes nothing
    assert (lists / "2024-W10" / "S1.csv").exists()
    result = apply_retention(settings, engine, today=today, now=now)
    assert dry.counts == result.counts
    assert result.counts["scores"] == 2 and result.counts["flag_lists"] == 2
    # the exports of the weeks whose lists are gone go too; the kept weeks' stay
    assert result.counts["export files under EWS_HOME"] == 3
    assert sorted(p.name for p in lists.iterdir()) == ["2024-W36", "2025-W36"]
    assert result.counts["flags"] == 2 and result.counts["reviews"] == 2
    with engine.connect() as conn:
        kept = sorted(conn.execute(select(scores.c.as_of)).scalars())
        weeks = sorted(conn.execute(select(reviews.c.week)).scalars())
    assert kept == [date(2024, 9, 2), date(2025, 9, 1)]  # 2024/25 and 2025/26
    assert weeks == ["2024-W36", "2025-W36"]
    # register data: three school years by default, so 2023/24 stays
    assert result.counts["register"] == 0
    assert _count(engine, register, register.c.school_year == "2023/24") == 10
    # the audit log: nothing younger than five years is touched; the 2019 row is purged
    assert result.counts["audit_log"] == 1
    with engine.connect() as conn:
        years = sorted(r.at.year for r in conn.execute(select(audit_log).where(
            audit_log.c.action == "read_risk")))
        actions = [r.action for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]
    assert years == [2021, 2025]
    assert actions[-2:] == ["audit_purge", "retention_apply"]


def test_retention_of_register_data_follows_its_own_window(history):
    from serving.retention import apply_retention

    settings, engine = history
    settings = settings.model_copy(update={"retention_register_school_years": 2})
    result = apply_retention(settings, engine, today=date(2025, 9, 15),
                             now=datetime(2025, 9, 15, tzinfo=UTC))
    assert result.counts["register"] == 10 and result.counts["enrolments"] == 10
    assert _count(engine, register, register.c.school_year == "2024/25") == 10
    assert _count(engine, enrolments, enrolments.c.school_year == "2023/24") == 0
    # pupils enrolled in 2024/25 are kept (the two deliveries share their ids)
    assert result.counts["pupils"] == 0 and _count(engine, pupils) == 10


def test_the_audit_log_stays_append_only_outside_its_purge(history):
    settings, engine = history
    for statement in ("DELETE FROM audit_log", "UPDATE audit_log SET actor = 'x'"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    # a purge guard admits only rows older than its cut-off, and only in its transaction
    from serving.retention import purge_audit_log

    cutoff = datetime(2019, 12, 31, tzinfo=UTC)
    with engine.begin() as conn:
        assert purge_audit_log(conn, settings.secret_key(), cutoff) == 1
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    assert _count(engine, audit_log, audit_log.c.action == "read_risk") == 2
    assert _count(engine, audit_log, audit_log.c.at < cutoff + timedelta(days=1)) == 0


def test_monitoring_results_round_trip_and_a_rerun_replaces_them(tmp_path, store_url):
    import numpy as np
    import pandas as pd

    from serving.monitoring import Monitoring, latest_monitoring, store_monitoring

    engine = open_store(store_url)
    psi = pd.DataFrame({"scope": ["all", "all", "S1"], "name": ["score", "grade", "score"],
                        "psi": [0.31, np.nan, 0.02], "level": ["alarm", "ok", "ok"],
                        "judged": [None, None, None], "basis": ["month", "month", "window"],
                        "rows": [120, 120, 60]})
    schools = pd.DataFrame([{"school_id": "S1", "pupils_on_roll": 60, "flagged": 3,
                             "share_flagged": 0.05, "share_already_concerning": 0.1,
                             "reference_already_concerning": None, "mean_risk": 0.12,
                             "reference_mean_risk": 0.1, "score_psi": 0.02}])
    precision = pd.DataFrame({"ranker": ["model", "rule:days_4_last_month"], "lists": [2, 2],
                              "listed": [6, 6], "known": [6, 5], "positives": [3, 1],
                              "precision": [0.5, 0.2]})

    def result(status):
        return Monitoring("2025-W06", date(2025, 2, 3), "7", status, ["drift: score"], psi,
                          schools, precision, pd.DataFrame(), {"first": "2024-09-09"},
                          "erasure:2026-12-01", "note")

    store_monitoring(engine, result("alarm"))
    store_monitoring(engine, result("warning"))  # the same week and version: replaced
    latest = latest_monitoring(engine)
    assert latest["status"] == "warning" and latest["needs_retraining"] == "erasure:2026-12-01"
    assert [(r["scope"], r["name"], r["psi"]) for r in latest["psi"]] == [
        ("all", "score", 0.31), ("all", "grade", None), ("S1", "score", 0.02)]
    assert latest["schools"][0]["reference_already_concerning"] is None
    assert [r["ranker"] for r in latest["precision"]] == ["model", "rule:days_4_last_month"]
    from model.oversight import monitoring_psi, monitoring_runs

    assert _count(engine, monitoring_runs) == 1 and _count(engine, monitoring_psi) == 3
