"""System tier: `ews monitor` on a trained demo municipality - quiet on the register as it
was, the drift alarm once one school's register stops registering illness - and `ews erase`
and `ews retention apply` through the command line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.cli import EWS, run, trained_demo

WEEK = "2026-W06"  # Monday 2026-02-02, inside the last school year of the training window
SHIFTED_SCHOOL = "S02"
SHIFT_FROM = "2024-12-02"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo municipality (900 pupils, 3 schools, 2024/25-2026/27) ingested and trained once."""
    root = tmp_path_factory.mktemp("monitoring")
    env, _ = trained_demo(root)
    return root, env


def stop_registering_illness(src: Path, dst: Path, school: str, since: str) -> int:
    """Copy the delivery with the school's illness entries from `since` on turned into present
    (a register that stopped recording illness); returns how many rows changed."""
    shutil.copytree(src, dst)
    register = pd.read_csv(dst / "attendance.csv", dtype=str)
    enrol = pd.read_csv(dst / "enrolments.csv", dtype=str)
    at_school = set(enrol.loc[enrol["school_id"] == school, "pupil_id"])
    rows = (register["pupil_id"].isin(at_school) & (register["date"] >= since)
            & (register["status"] == "illness"))
    register.loc[rows, "status"] = "present"
    register.loc[rows, "absent_fraction"] = "0"
    register.to_csv(dst / "attendance.csv", index=False)
    return int(rows.sum())


def monitoring_runs(env) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{Path(env['EWS_HOME']) / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("monitoring")
    return client.search_runs([experiment.experiment_id]) if experiment else []


@pytest.mark.slow
def test_monitor_is_quiet_on_the_register_as_it_was_and_alarms_on_a_school_without_illness(demo):
    root, env = demo
    quiet = run(["monitor", "--week", WEEK], env)
    assert f"monitoring {WEEK} (as of 2026-02-02) with model version 1" in quiet.stdout
    assert "drift:" not in quiet.stderr and "status: alarm" not in quiet.stderr
    assert "S02" in quiet.stdout and "score" in quiet.stdout

    changed = stop_registering_illness(root / "csv", root / "shifted", SHIFTED_SCHOOL, SHIFT_FROM)
    assert changed > 500
    run(["ingest", str(root / "shifted")], env)
    alarm = run(["monitor", "--week", WEEK], env, code=3)
    drift = [line for line in alarm.stderr.splitlines() if line.startswith("warning: drift:")]
    assert drift and "status: alarm" in alarm.stderr
    assert any(f"at school {SHIFTED_SCHOOL}" in line and "illness" in line for line in drift)
    # the other schools' registers are as they were
    assert not any("at school S01" in line or "at school S03" in line for line in drift)

    runs = monitoring_runs(env)
    statuses = sorted(r.data.tags["status"] for r in runs)
    assert len(runs) == 2 and statuses[0] == "alarm" and statuses[1] in ("ok", "warning")
    alarmed = next(r for r in runs if r.data.tags["status"] == "alarm")
    assert alarmed.data.metrics["psi.max"] > 0.25

    from model.settings import Settings
    from model.store import open_store
    from serving.monitoring import latest_monitoring

    latest = latest_monitoring(open_store(Settings(home=Path(env["EWS_HOME"])).store_url))
    assert latest["status"] == "alarm" and latest["week"] == WEEK
    worst = [r for r in latest["psi"] if r["scope"] == SHIFTED_SCHOOL and r["level"] == "alarm"]
    assert worst and all(r["judged"] is None for r in worst)


@pytest.mark.slow
def test_erase_through_the_command_line_flags_the_models_for_retraining(demo):
    root, env = demo
    lists = Path(env["EWS_HOME"]) / "lists"
    run(["flags", "--week", "2026-W47", "--school", "S01", "--out", str(lists)], env)
    listed = pd.read_csv(lists / "2026-W47" / "S01.csv", dtype=str)
    pupil = listed.loc[listed["section"] == "early_warning", "pupil_id"].iloc[0]

    erased = run(["erase", "--pupil", pupil], env)
    assert "rewrote lists/2026-W47/S01.csv without the pupil" in erased.stdout
    assert "tagged model versions 1 needs_retraining" in erased.stdout
    assert pupil not in (lists / "2026-W47" / "S01.csv").read_text()
    again = run(["erase", "--pupil", pupil], env)
    assert again.stdout.startswith("already erased on")
    unknown = subprocess.run(EWS + ["erase", "--pupil", "E999999"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert unknown.returncode == 2 and unknown.stderr.strip().startswith("error: unknown pupil")
    assert "Traceback" not in unknown.stderr

    monitored = subprocess.run(EWS + ["monitor", "--week", "2026-W47", "--no-mlflow"], env=env,
                               capture_output=True, text=True, timeout=600)
    assert monitored.returncode in (0, 3)
    assert "model version 1 needs retraining (erasure:" in monitored.stderr

    # what a retrained model would be trained on no longer holds the pupil
    from model.inputs import load_inputs
    from model.labels import LabelSpec
    from model.settings import Settings
    from model.store import open_store
    from training.dataset import build_training_set, candidate_as_of_dates
    from training.splits import temporal_split

    settings = Settings(home=Path(env["EWS_HOME"]))
    inputs = load_inputs(open_store(settings.store_url))
    spec = LabelSpec.from_settings(settings)
    builder = inputs.feature_builder()
    split = temporal_split(candidate_as_of_dates(inputs), builder.day_major.days, spec.horizon)
    train = build_training_set(builder, split.train + split.calibration, spec)
    assert len(train) and pupil not in set(train["pupil_id"])
    assert pupil not in set(inputs.register.pupil_ids)


@pytest.mark.slow
def test_retention_dry_run_and_apply_print_counts_per_table(demo):
    root, env = demo
    dry = run(["retention", "apply", "--dry-run"], env)
    assert "would delete" in dry.stdout and "rows from scores" in dry.stdout
    applied = run(["retention", "apply"], env)
    assert "deleted" in applied.stdout and "rows from audit_log" in applied.stdout
    audit = run(["audit"], env)
    assert "retention_apply" in audit.stdout
