"""System tier: the `ews` command line end to end on a small demo municipality."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import pytest

from tests.cli import run, trained_demo


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory):
    """A demo municipality (900 pupils, three school years) ingested and trained once."""
    root = tmp_path_factory.mktemp("system")
    env, trained = trained_demo(root)
    return root, env, trained


@pytest.mark.slow
def test_train_registers_a_version_and_reports_against_the_rules(trained_home):
    root, env, out = trained_home
    assert "registered fravaersradar version 1 as" in out
    assert "precision at list length" in out and "median lead time" in out
    report = Path(env["EWS_HOME"]) / "reports" / "v1" / "evaluation.html"
    html = report.read_text()
    assert "Against the rules at the same list length" in html and "Fairness" in html
    assert "SHAP summary" in html
    plots = {p.name for p in report.parent.glob("*.png")}
    assert {"calibration.png", "precision_at_k.png", "lead_time.png", "shap_summary.png",
            "shap_groups.png"} <= plots
    assert len([p for p in plots if p.startswith("shap_dependence_")]) == 3
    # the report and the MLflow artifacts never hold pupil ids
    assert "E000" not in html


@pytest.mark.slow
def test_score_writes_every_pupil_on_roll_with_reasons(trained_home):
    root, env, out = trained_home
    assert "version 1 as champion" in out
    out = root / "scores.csv"
    out.write_text("an older export, readable by all\n")
    out.chmod(0o644)
    run(["score", "--as-of", "2026-11-16", "--out", str(out)], env)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # personal data: the owner's only
    rows = list(csv.DictReader(out.open()))
    assert {"pupil_id", "school_id", "grade", "risk", "band", "already_concerning",
            "reason_1", "reason_2", "reason_3"} <= set(rows[0])
    assert 800 <= len(rows) <= 950
    risks = [float(r["risk"]) for r in rows]
    assert all(0 <= r <= 1 for r in risks)
    assert any(r["reason_1"] for r in rows)
    one_school = root / "s01.csv"
    run(["score", "--as-of", "2026-11-16", "--out", str(one_school), "--school", "S01"], env)
    assert {r["school_id"] for r in csv.DictReader(one_school.open())} == {"S01"}


def test_user_errors_are_one_line_without_traceback(tmp_path):
    env = {**os.environ, "EWS_HOME": str(tmp_path / "home"), "EWS_PSEUDONYM_KEY": "k" * 40}
    for args in (["score", "--as-of", "yesterday", "--out", str(tmp_path / "x.csv")],
                 ["train"],
                 ["ingest", str(tmp_path / "missing")]):
        proc = run(args, env, code=None)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_version_that_fails_the_gates_stays_challenger(trained_home):
    root, env, _ = trained_home
    strict = {**env, "EWS_GATE_MIN_LIFT_OVER_RULES": "100"}
    out = run(["train"], strict).stdout
    assert "version 2 as challenger" in out
    assert "the gate asks 100.00x" in out
    from serving.champion import champion_version

    assert champion_version(_home_settings(env)) == "1"


def _home_settings(env: dict):
    """The settings of the `ews` runs: this home's store and registry, whatever an earlier test
    left in this process's environment (mlflow.set_tracking_uri sets MLFLOW_TRACKING_URI)."""
    from model.settings import Settings

    home = Path(env["EWS_HOME"]).resolve()
    settings = Settings(home=home, pseudonym_key=env["EWS_PSEUDONYM_KEY"], database_url=None)
    settings.mlflow_tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    return settings


@pytest.mark.slow
def test_the_model_card_is_logged_written_and_served(trained_home):
    import re

    from fastapi.testclient import TestClient
    from mlflow import MlflowClient

    from serving.app import create_app

    root, env, out = trained_home
    home = Path(env["EWS_HOME"]).resolve()
    card_env = {**env, "EWS_CONTACT": "Skoleforvaltningen, tlf. 12 34 56 78"}
    paths = run(["model-card"], card_env).stdout.split()
    assert paths == [str(home / "model-cards" / f"fravaersradar-v1.{ext}") for ext in ("md", "html")]
    md, html = (Path(p).read_text() for p in paths)
    # the figures come from the version's own evaluation: the precisions `ews train` printed
    model_p, rule_p = re.search(r"precision at list length ([0-9.]+) vs ([0-9.]+)", out).groups()
    assert re.search(rf"\| the model \| [0-9.]+ \| [0-9.]+ \| {model_p} \|", md)
    assert f"| {rule_p} |" in md and "Skoleforvaltningen, tlf. 12 34 56 78" in md
    assert "<h2 id=\"dansk\">Dansk: kort fortalt</h2>" in html and "E000" not in md + html
    # logged with the version at registration
    settings = _home_settings(env)
    client = MlflowClient(settings.tracking_uri)
    run_id = client.get_model_version("fravaersradar", "1").run_id
    logged = {f.path for f in client.list_artifacts(run_id, "model_card")}
    assert logged == {"model_card/evaluation.json", "model_card/model_card.md", "model_card/model_card.html"}
    # and served: the full card, linked from /v1/model
    with TestClient(create_app(settings, poll_seconds=0)) as api:
        served = api.get("/v1/model/card")
        assert served.status_code == 200 and "Against the rules at the same list length" in served.text
        assert f"<td>{model_p}</td>" in served.text
        assert api.get("/v1/model/card", params={"format": "markdown"}).text.startswith("# Modelkort")
    # an unknown version: one line, exit 2
    proc = run(["model-card", "99"], env, code=None)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "error: model version '99' of fravaersradar is not registered")


@pytest.mark.slow
def test_training_reports_what_the_teams_did_with_the_lists(trained_home):
    import re
    from datetime import date

    from mlflow import MlflowClient
    from sqlalchemy import select

    from model.records import flag_lists, flags
    from model.store import open_store
    from serving.stored_lists import record_review

    root, env, _ = trained_home
    run(["flags", "--week", "2026-W45", "--out", str(root / "lists")], env)
    settings = _home_settings(env)
    engine = open_store(settings.store_url)
    with engine.connect() as conn:
        early = conn.execute(select(flags.c.id, flag_lists.c.school_id)
                             .join(flag_lists, flags.c.list_id == flag_lists.c.id)
                             .where(flags.c.section == "early_warning")).all()
    s01 = [flag_id for flag_id, school in early if school == "S01"]
    record_review(engine, s01[0], "investigate", "team:test", date(2026, 11, 3))
    record_review(engine, s01[1], "no_action", "team:test", date(2026, 11, 3))
    engine.dispose()

    out = run(["train"], env).stdout
    version = re.search(r"registered fravaersradar version (\d+)", out).group(1)
    client = MlflowClient(settings.tracking_uri)
    metrics = client.get_run(client.get_model_version("fravaersradar", version).run_id).data.metrics
    assert metrics["feedback.all.flags"] == len(early) and metrics["feedback.all.reviewed"] == 2
    assert metrics["feedback.S01.flags"] == len(s01) and metrics["feedback.S01.investigate"] == 1
    assert metrics["feedback.S01.share_reviewed"] == pytest.approx(2 / len(s01))
    assert metrics["feedback.all.pupils_acted_on"] == 1 and "intervention.rows_marked" in metrics
    report = (Path(env["EWS_HOME"]) / "reports" / f"v{version}" / "evaluation.html").read_text()
    assert "Feedback from the detection teams" in report and "S01" in report
    md = Path(run(["model-card", version], env).stdout.split()[0]).read_text()
    assert f"| S01 | {len(s01)} | 2 |" in md and f"| all | {len(early)} | 2 |" in md


def test_model_card_without_a_champion_is_one_line(tmp_path):
    env = {**os.environ, "EWS_HOME": str(tmp_path / "home"), "EWS_PSEUDONYM_KEY": "k" * 40}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = run(["model-card"], env, code=None)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: no champion model is registered yet: run `ews train` first, or name a version"]


def test_a_bad_setting_is_one_line(tmp_path):
    env = {**os.environ, "EWS_HOME": str(tmp_path / "home"), "EWS_PSEUDONYM_KEY": "k" * 40,
           "EWS_INTERVENTION_LABELS": "drop"}
    proc = run(["model-card"], env, code=None)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: setting EWS_INTERVENTION_LABELS: Input should be 'mark', 'exclude' or 'ignore'"]


# -- issue 12: the refit champion --------------------------------------------------------------


@pytest.mark.slow
def test_last_years_absence_carries_weight_in_the_champion(trained_home):
    """The refit learns from rows where last year's absence is known, so the reason group
    "last year" has a SHAP importance above zero in the registered champion."""
    import pandas as pd

    _, env, out = trained_home
    importance = pd.read_csv(Path(env["EWS_HOME"]) / "reports" / "v1" / "shap_importance.csv")
    groups = importance[importance["level"] == "group"].set_index("name")["mean_abs_shap"]
    assert groups["last_year"] > 0
    assert "fold 1:" in out and "fold 3:" in out and "backtest mean" in out


@pytest.mark.slow
def test_the_registry_records_the_backtest_and_the_gates(trained_home):
    import json

    from mlflow import MlflowClient

    _, env, _ = trained_home
    settings = _home_settings(env)
    client = MlflowClient(settings.tracking_uri)
    mv = client.get_model_version("fravaersradar", "1")
    tags = mv.tags
    start, end = tags["train_window"].split("..")
    assert start < end
    assert tags["gates_passed"] in ("true", "false") and tags["beats_best_rule"] in ("true", "false")
    results = json.loads(tags["gate_results"])
    assert {g["gate"] for g in results} >= {"lift", "calibration"}
    assert all(set(g) == {"gate", "passed", "value", "threshold", "fold", "text"} for g in results)
    assert tags["gates"] == " | ".join(g["text"] for g in results)
    folds = json.loads(tags["backtest"])
    assert [f["fold"][0] for f in folds] == ["1", "2", "3"]
    metrics = client.get_run(mv.run_id).data.metrics
    for key in ("backtest.lift_over_best_rule", "backtest.model.roc_auc",
                "backtest.calibration.ece_max", "backtest.model.precision_at_capacity"):
        assert key in metrics
    # the folds are nested runs of the training run
    nested = client.search_runs([client.get_run(mv.run_id).info.experiment_id],
                                f"tags.mlflow.parentRunId = '{mv.run_id}'")
    assert sorted(r.data.params["fold"] for r in nested) == [f["fold"] for f in folds]
