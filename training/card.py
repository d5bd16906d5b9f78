"""The training side of the model card: the evaluation a card is written from, logged with the
version as `model_card/evaluation.json` (plus the rendered card) at registration.

Only aggregates go in: rankers' metrics, calibration, fairness per group, the teams' uptake per
school and the intervention counts; never a pupil's id. Serving reads the JSON back and renders
it with `model.card` (so the served card shows the current contact).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from model.card import CARD_SCHEMA, model_card
from model.registry import CARD_EVALUATION, CARD_HTML, CARD_MARKDOWN
from model.rules import ALARM_RULES
from model.settings import Settings
from training.pipeline import TrainResult, feature_list

COMPARISON_COLUMNS = ("roc_auc", "pr_auc", "precision_at_capacity", "recall_at_capacity",
                      "precision_at_5pct", "lead_time_median_weeks", "lead_time_mean_weeks",
                      "detected_before_onset", "listed")


def _plain(value):
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _split(result: TrainResult) -> dict[str, str]:
    """The training window, and (issue 12) the backtest's folds and out-of-fold calibration."""
    split = result.split.describe()
    if result.folds:
        split["calibration"] = (f"out-of-fold margins of the {len(result.folds)} backtest folds, "
                                "with the season (month of the as-of date) as input")
        split["test"] = "; ".join(f"{f.fold.name} {f.fold.test_window}" for f in result.folds)
    return split


def card_evaluation(result: TrainResult, gates, settings: Settings) -> dict:
    """What the model card of this training result says, as plain JSON types."""
    comparison = [{"ranker": str(name), **{c: _plain(row[c]) for c in COMPARISON_COLUMNS}}
                  for name, row in result.comparison.iterrows()]
    fairness = [{k: _plain(v) for k, v in row.items()} for row in result.fairness.to_dict("records")]
    uptake = ([{"school_id": str(school), **{k: _plain(v) for k, v in row.items()}}
               for school, row in result.uptake.iterrows()] if not result.uptake.empty else [])
    return {
        "schema": CARD_SCHEMA,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": {"threshold": result.spec.threshold, "horizon": result.spec.horizon,
                  "trailing": result.spec.trailing},
        "capacity": {"share": result.capacity.share, "minimum": result.capacity.minimum},
        "train_window": list(result.train_window),
        "split": _split(result),
        "rows": {k: int(v) for k, v in result.counts.items()},
        "comparison": comparison,
        "best_rule": result.best_rule,
        "lift": _plain(float(result.lift)),
        "rules": {f"rule:{r.name}": {"da": r.da, "en": r.en} for r in ALARM_RULES},
        "calibration": {k: _plain(v) for k, v in result.calibration.items()},
        "fairness_ratios": {k: _plain(v) for k, v in result.fairness_ratios.items()},
        "fairness": fairness,
        "gates": {"passed": bool(gates.passed), "reasons": list(gates.reasons)} if gates else {},
        "uptake": uptake,
        "intervention_labels": settings.intervention_labels,
        "interventions": {k: _plain(v) for k, v in result.interventions.items()},
        "features": feature_list(),
    }


def log_model_card(result: TrainResult, gates, settings: Settings, version: str) -> dict:
    """Log the card's evaluation and the rendered card (Markdown, HTML) in the active run."""
    import mlflow

    evaluation = card_evaluation(result, gates, settings)
    markdown, html = model_card(settings.registered_model_name, str(version), evaluation,
                                {"tags": {}}, settings.contact)
    mlflow.log_text(json.dumps(evaluation, ensure_ascii=False, indent=1), CARD_EVALUATION)
    mlflow.log_text(markdown, CARD_MARKDOWN)
    mlflow.log_text(html, CARD_HTML)
    return evaluation
