"""System tier (issue 12): `ews models`, `ews promote` and `ews rollback` on a small trained demo,
with their audit entries and the refusal of a version whose backtest loses to the best rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.versions import champion_stack, legacy_gate, version_facts
from tests.cli import run, trained_demo


def _settings(env: dict):
    from model.settings import Settings

    home = Path(env["EWS_HOME"]).resolve()
    settings = Settings(home=home, pseudonym_key=env["EWS_PSEUDONYM_KEY"], database_url=None)
    settings.mlflow_tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    return settings


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """A demo trained once (version 1, the champion) and a second version of the same model
    registered beside it (version 2), whose tags each test sets as it needs."""
    from training.tracking import mlflow_client

    root = tmp_path_factory.mktemp("promotion")
    env, _ = trained_demo(root, pupils=600, schools=3, seed=11)
    settings = _settings(env)
    client = mlflow_client(settings)
    v1 = client.get_model_version("fravaersradar", "1")
    # version 2 gets a run of its own without metrics, so the figures the tests give its tags
    # are the ones read (version 1's run holds the real backtest's metrics)
    run2 = client.create_run(client.get_run(v1.run_id).info.experiment_id, run_name="version 2")
    client.set_terminated(run2.info.run_id)
    client.create_model_version("fravaersradar", v1.source, run_id=run2.info.run_id)
    return env, settings, client


def _audit_rows(env: dict, action: str) -> list[dict]:
    from model.store import open_store
    from serving.audit import entries

    settings = _settings(env)
    return [r for r in entries(open_store(settings.store_url), settings.secret_key())
            if r["action"] == action]


def _champion(settings) -> str | None:
    from serving.champion import champion_version

    return champion_version(settings)


@pytest.mark.slow
def test_models_lists_every_version_with_window_figures_gates_and_aliases(two_versions):
    env, settings, client = two_versions
    client.set_model_version_tag("fravaersradar", "2", "train_window", "2024-08-12..2026-08-31")
    client.set_model_version_tag("fravaersradar", "2", "backtest", json.dumps([
        {"fold": "autumn", "test_window": "2025-09-01..2025-11-24", "lift": 1.4, "roc_auc": 0.81,
         "best_rule_roc_auc": 0.74, "ece": 0.02},
        {"fold": "spring", "test_window": "2026-03-02..2026-05-25", "lift": 1.6, "roc_auc": 0.79,
         "best_rule_roc_auc": 0.73, "ece": 0.03}]))
    client.set_model_version_tag("fravaersradar", "2", "gate_results", json.dumps([
        {"gate": "calibration", "passed": False, "value": 0.064, "threshold": 0.05,
         "fold": "spring", "text": "calibration error 0.064 exceeds 0.050"}]))
    client.set_model_version_tag("fravaersradar", "2", "gates_passed", "false")
    out = run(["models"], env).stdout.splitlines()
    assert out[0].split()[:4] == ["version", "aliases", "training", "window"]
    row2 = next(line for line in out if line.split()[0] == "2")
    assert "2024-08-12..2026-08-31" in row2 and "1.50x" in row2 and "0.800" in row2
    assert "0.030" in row2 and row2.rstrip().endswith("FAILED")
    assert any("fold autumn 2025-09-01..2025-11-24: lift 1.40x, AUC 0.810" in line for line in out)
    assert any("FAILED calibration [fold spring]: calibration error 0.064 exceeds 0.050" in line
               for line in out)
    row1 = next(line for line in out if line.split()[0] == "1")
    assert "champion" in row1
    v1 = client.get_model_version("fravaersradar", "1")
    assert v1.tags["train_window"] in row1  # today's tags read as the fallback


@pytest.mark.slow
def test_promote_is_refused_for_a_version_that_loses_to_the_best_rule(two_versions):
    env, settings, client = two_versions
    client.set_model_version_tag("fravaersradar", "2", "beats_best_rule", "false")
    before = len(_audit_rows(env, "model_promote"))
    proc = run(["promote", "2", "--reason", "try it"], env, code=2)
    assert proc.stderr.strip().splitlines() == [
        "error: refused: version 2 cannot be promoted because its backtest loses to the best rule"
        " (1.50x the best rule)"]
    assert _champion(settings) == "1"
    assert len(_audit_rows(env, "model_promote")) == before  # nothing recorded
    # today's versions without the tag: the logged lift decides
    client.delete_model_version_tag("fravaersradar", "2", "beats_best_rule")
    client.delete_model_version_tag("fravaersradar", "2", "backtest")
    client.set_model_version_tag("fravaersradar", "2", "lift_over_best_rule", "0.950")
    proc = run(["promote", "2", "--reason", "try it"], env, code=2)
    assert "loses to the best rule (0.95x the best rule)" in proc.stderr
    assert "Traceback" not in proc.stderr and _champion(settings) == "1"
    proc = run(["promote", "9", "--reason", "x"], env, code=2)
    assert proc.stderr.strip() == "error: no registered version 9 of fravaersradar"


@pytest.mark.slow
def test_promote_and_rollback_move_the_champion_and_are_audited(two_versions):
    env, settings, client = two_versions
    client.set_model_version_tag("fravaersradar", "2", "beats_best_rule", "true")
    reason = "Kalibreringen er god nok i foråret; se 0101101234 \n og rapporten " + "x" * 400
    out = run(["promote", "2", "--reason", reason], env).stdout
    assert out.strip() == "version 2 is the champion (was version 1)"
    assert _champion(settings) == "2"
    [entry] = _audit_rows(env, "model_promote")
    assert entry["actor"] == "cli:promote" and entry["pupil_marker"] is None
    kept = entry["detail"]["reason"]
    assert entry["detail"]["version"] == "2" and entry["detail"]["previous"] == "1"
    assert kept.startswith("Kalibreringen er god nok i foråret; se ########## og rapporten xxx")
    assert "0101101234" not in json.dumps(entry["detail"]) and "\n" not in kept
    assert len(kept) == 300
    history = json.loads(client.get_registered_model("fravaersradar").tags["champion_history"])
    assert [(m["action"], m["version"], m["previous"]) for m in history] == [
        ("train", "1", None), ("promote", "2", "1")]

    out = run(["rollback"], env).stdout
    assert out.strip() == "version 1 is the champion again (was version 2)"
    assert _champion(settings) == "1"
    [entry] = _audit_rows(env, "model_rollback")
    assert entry["detail"] == {"version": "1", "previous": "2"}
    # nothing before version 1: a second rollback is refused in one line
    proc = run(["rollback"], env, code=2)
    assert proc.stderr.strip() == "error: version 1 has no previous champion to roll back to"
    assert run(["audit"], env).stdout.count("model_") == 2


def test_facts_fall_back_to_todays_tags_and_metrics():
    facts = version_facts("4", ["challenger"], {
        "gates": "beats the best rule (days_4_last_month) 1.62x (gate 1.10x) | calibration error "
                 "0.064 exceeds 0.050",
        "train_window": "2022-09-12..2023-03-27", "lift_over_best_rule": "1.620",
        "best_rule": "days_4_last_month"}, {"model.roc_auc": 0.77, "calibration.ece": 0.064})
    assert (facts.lift, facts.roc_auc, facts.ece) == (1.62, 0.77, 0.064)
    assert [(g.gate, g.passed) for g in facts.gates] == [("lift", True), ("calibration", False)]
    assert facts.gates_passed is False and facts.promotable() == (True, "")
    assert legacy_gate("calibration error 0.064 exceeds 0.050").threshold == 0.05
    assert version_facts("5", [], {}, {}).promotable() == (
        False, "it records no backtest against the rules")


def test_champion_stack_replays_promotions_and_rollbacks():
    history = [{"action": "train", "version": "1"}, {"action": "train", "version": "2"},
               {"action": "promote", "version": "4"}, {"action": "rollback", "version": "2"}]
    assert champion_stack(history, "2") == ["1", "2"]
    assert champion_stack([], "3") == ["3"]


@pytest.mark.slow
def test_without_a_champion_flags_hand_out_the_rules_and_score_refuses_in_one_line(tmp_path):
    """Ingested, never trained: `ews flags` writes the statutory and already-concerning sections
    and says in one line that early warning waits; `ews score`, `ews models` and `ews rollback`
    refuse in one line each."""
    import csv

    from tests.cli import demo_env

    env = demo_env(tmp_path / "home")
    run(["demo-data", str(tmp_path / "csv"), "--pupils", "300", "--schools", "2", "--seed", "3",
         "--until", "2026-11-20"], env)
    run(["ingest", str(tmp_path / "csv")], env)
    proc = run(["flags", "--week", "2026-W47", "--out", str(tmp_path / "lists")], env)
    assert proc.stderr.strip().splitlines() == [
        "note: no champion model is promoted yet: the early-warning section waits for a "
        "promoted model (ews train, ews promote)"]
    assert len(proc.stdout.strip().splitlines()) == 2
    rows = [r for school in ("S01", "S02")
            for r in csv.DictReader((tmp_path / "lists" / "2026-W47" / f"{school}.csv").open())]
    assert rows and {r["section"] for r in rows} <= {"statutory", "already_concerning"}
    assert all(r["risk"] == "" for r in rows)
    printed = (tmp_path / "lists" / "2026-W47" / "S01.html").read_text()
    assert "Der er endnu ingen godkendt model: afsnittet venter på" in printed
    ids = [(r["school_id"], r["pupil_id"]) for r in rows]
    assert len(ids) == len(set(ids))
    for args in (["score", "--as-of", "2026-11-16", "--out", str(tmp_path / "s.csv")],
                 ["models"], ["rollback"]):
        proc = run(args, env, code=2)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, proc.stderr)
        assert "Traceback" not in proc.stderr
