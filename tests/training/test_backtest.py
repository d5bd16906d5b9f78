"""The backtest on rolling folds, the refit on every closed label window, the gates on the
backtest and the registry's records of them (issue 12)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from model.errors import UserError
from model.settings import Settings
from tests.municipality import small_municipality
from training.dataset import candidate_as_of_dates
from training.pipeline import ChampionRecord, promotion_gates, train_and_evaluate
from training.splits import label_end_date, rolling_folds


@pytest.fixture(scope="module")
def municipality():
    return small_municipality(300, seed=1)


@pytest.fixture(scope="module")
def result(municipality):
    settings = Settings(home="/tmp/unused-ews-home", train_grid_size=1, intervention_labels="ignore")
    return train_and_evaluate(municipality, settings)


def test_each_fold_trains_only_on_labels_closed_before_its_test_window(municipality):
    days = municipality.register.days
    dates = candidate_as_of_dates(municipality)
    folds = rolling_folds(dates, days, 60, n_folds=3, fold_weeks=12)
    assert len(folds) == 3
    known = [t for t in dates if label_end_date(days, t, 60) is not None]
    assert folds[-1].test[-1] == known[-1]  # the last fold ends at the newest known label
    for before, after in zip(folds, folds[1:], strict=False):
        assert before.test[-1] < after.test[0]  # consecutive, never overlapping
    for fold in folds:
        # the gap: no training label window reaches into the test window
        assert max(label_end_date(days, t, 60) for t in fold.train) < fold.test[0]
        assert all(label_end_date(days, t, 60) is not None for t in fold.test)
        # and everything that had closed before the test window is used
        assert fold.train == [t for t in known if label_end_date(days, t, 60) < fold.test[0]]


def test_folds_shrink_with_little_history_and_refuse_too_little(municipality):
    days = municipality.register.days
    dates = candidate_as_of_dates(municipality)
    folds = rolling_folds(dates[:45], days, 60, fold_weeks=12)
    assert [len(f.test) for f in folds] == [8, 8, 8] and len(folds[0].train) >= 8
    with pytest.raises(UserError, match="too little history to backtest"):
        rolling_folds(dates[:30], days, 60)


def test_the_refit_learns_from_every_closed_label_window(municipality, result):
    """The registered model's training window ends within 13 school weeks of the training as-of
    date (the day after the newest school day), and includes the folds' test weeks."""
    days = municipality.register.days
    end = np.datetime64(result.train_window[1], "D")
    school_days_after = int((days > end).sum())
    assert school_days_after <= 13 * 5
    assert result.split.train[-1] >= max(f.fold.test[-1] for f in result.folds)
    assert label_end_date(days, result.split.train[-1], 60) is not None
    assert result.counts["train_rows"] > max(
        int(f.test["label"].notna().sum()) for f in result.folds)
    # with an as-of date the window moves with it
    early = train_and_evaluate(municipality, Settings(home="/tmp/unused", train_grid_size=1),
                               as_of=date(2025, 3, 3))
    cut = np.datetime64("2025-03-03", "D")
    gap = int(((days > np.datetime64(early.train_window[1], "D")) & (days < cut)).sum())
    assert 50 <= gap <= 13 * 5


def test_the_served_risk_is_level_with_the_refit_training_window(municipality, result):
    """The calibration map's slope comes from the folds' out-of-fold margins, its level from the
    refit's own training rows: their mean risk is their rate of concerning absence."""
    from model.features import feature_matrix
    from model.labels import LabelSpec
    from training.dataset import build_training_set

    rows = build_training_set(municipality.feature_builder(), result.split.train, LabelSpec())
    rows = rows[rows["label"].notna()]
    model = result.model
    risk = model.probability(model.decision_function(feature_matrix(rows)), rows["as_of"].to_numpy())
    assert risk.mean() == pytest.approx(rows["label"].mean(), abs=1e-4)
    assert model.calibration_[0] > 0.0  # a slope fitted on the folds, not reset


def test_every_fold_is_judged_with_every_rule_and_out_of_fold_calibration(result):
    assert [f.fold.name.split(":")[0] for f in result.folds] == ["1", "2", "3"]
    for f in result.folds:
        assert "model" in f.comparison.index and any(f.comparison.index.str.startswith("rule:"))
        assert {"lead_share", "lead_median_weeks"} <= set(f.comparison.columns)
        assert 0 <= f.calibration["ece_not_yet_concerning"] <= 1
        record = f.summary()
        assert set(record) >= {"fold", "test_window", "precision", "best_rule", "best_rule_precision",
                               "lift", "roc_auc", "best_rule_roc_auc", "ece", "lead_share",
                               "lead_median_weeks"}
    assert result.calibration["ece_max"] == max(f.calibration["ece_not_yet_concerning"]
                                                for f in result.folds)
    metrics = result.metrics()
    for key in ("backtest.lift_over_best_rule", "backtest.model.roc_auc",
                "backtest.calibration.ece_max", "backtest.model.precision_at_capacity"):
        assert key in metrics
    json.dumps(result.backtest())  # the registry's tag is plain JSON


def test_gates_judge_the_backtest_and_give_every_reason(result):
    lenient = Settings(home="/tmp/unused", gate_min_lift_over_rules=0.0, gate_max_calibration_error=1.0)
    gates = promotion_gates(result, lenient)
    assert gates.passed and [g["gate"] for g in gates.results] == ["lift", "calibration",
                                                                   "calibration", "calibration"]
    assert [g["fold"] for g in gates.results[1:]] == [f.fold.name for f in result.folds]
    strict = Settings(home="/tmp/unused", gate_min_lift_over_rules=100.0, gate_max_calibration_error=0.0)
    gates = promotion_gates(result, strict)
    assert not gates.passed
    assert len(gates.reasons) == 4 and all(not g["passed"] for g in gates.results)
    assert "the gate asks 100.00x" in gates.reasons[0]
    assert all("exceeds 0.000" in r for r in gates.reasons[1:])
    json.dumps(gates.results)


def test_the_champion_gate_compares_on_the_same_folds(result):
    lenient = Settings(home="/tmp/unused", gate_min_lift_over_rules=0.0, gate_max_calibration_error=1.0)
    # a champion trained before the folds is scored on them: a weak one loses
    from model.estimator import RiskModel
    from model.features import feature_matrix

    rows = result.folds[0].test.dropna(subset=["label"])
    weak = RiskModel(max_iter=2, max_leaf_nodes=2, min_samples_leaf=5).fit(
        feature_matrix(rows), np.random.default_rng(0).random(len(rows)) < 0.5)
    check = promotion_gates(result, lenient, ChampionRecord(weak, date(2000, 1, 1))).results[-1]
    assert check["gate"] == "champion" and check["passed"], check
    assert "on the 3 fold(s) after its training window" in check["text"]
    # a champion trained on every fold's weeks is compared by its recorded backtest
    better = promotion_gates(result, lenient, ChampionRecord(result.model, date(2099, 1, 1), 1.0))
    assert not better.passed and "below the champion's 1.000" in better.reasons[-1]
