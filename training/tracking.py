"""MLflow: tracking in EWS_HOME (SQLite backend, local artifacts, telemetry off), the model
registry and promotion by alias (`champion`, `challenger`). mlflow is imported lazily."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from model.registry import (
    BACKTEST,
    BEATS_BEST_RULE,
    BEST_RULE,
    CHALLENGER,
    CHAMPION,
    DATASET_ARTIFACT,
    EVALUATION_DIR,
    EVALUATION_PAGE,
    FEATURES_ARTIFACT,
    GATE_RESULTS,
    GATES_PASSED,
    GATES_TAG,
    GRID_ARTIFACT,
    LIFT_OVER_BEST_RULE,
    MODEL_ARTIFACT,
    MONITORING_ARTIFACT,
    MONITORING_ARTIFACT_DIR,
    MONITORING_EXPERIMENT,
    NEEDS_RETRAINING,
    PREVIOUS_CHAMPION,
    REFERENCE_ARTIFACT,
    RUN_ID,
    TRAIN_WINDOW,
    TRAINED_AT,
    metric_key,
    model_uri,
    ranker_key,
    tracking_client,
)
from model.settings import Settings
from training.pipeline import TrainResult, feature_list, promotion_gates


def mlflow_client(settings: Settings):
    """Point MLflow at the settings' tracking store; create the experiment with its artifacts
    under EWS_HOME (never the working directory). model.registry.tracking_client."""
    return tracking_client(settings)


def current_champion(settings: Settings, client=None):
    """(version, model) of the registered champion, or (None, None)."""
    import mlflow

    client = client or mlflow_client(settings)
    try:
        mv = client.get_model_version_by_alias(settings.registered_model_name, CHAMPION)
    except Exception:  # noqa: BLE001 - no registered model or no alias yet
        return None, None
    return mv.version, mlflow.sklearn.load_model(model_uri(settings.registered_model_name, mv.version))


@dataclass
class TrainOutcome:
    version: str
    run_id: str
    promoted: bool
    gate_reasons: list[str]
    metrics: dict[str, float]
    report: Path


INVENTED_VALUE = 0.123  # every feature of the input example: a made-up value, no pupil's


def _input_example(result: TrainResult) -> pd.DataFrame:
    """An invented row (every feature INVENTED_VALUE), never derived from a pupil: a median of
    a few rows is one pupil's value. Nudged in the unlikely case a pupil's row is the same."""
    from model.features import FEATURE_NAMES

    row = np.full(len(FEATURE_NAMES), INVENTED_VALUE, np.float32)
    seen = result.test_frame[FEATURE_NAMES].to_numpy(np.float32)
    while len(seen) and (seen == row).all(axis=1).any():
        row = row + np.float32(0.001)
    return pd.DataFrame([row], columns=FEATURE_NAMES)


def log_and_register(result: TrainResult, settings: Settings) -> TrainOutcome:
    """Log params, metrics, the report and the model; register a version; apply the gates."""
    import mlflow
    from mlflow.models import infer_signature

    client = mlflow_client(settings)
    champion_version, champion = current_champion(settings, client)
    gates = promotion_gates(result, settings, _champion_record(client, settings, champion_version, champion))
    name = settings.registered_model_name
    with mlflow.start_run(run_name=f"train {datetime.now(UTC):%Y-%m-%d %H:%M}") as run:
        mlflow.log_params({
            **{f"model.{k}": v for k, v in result.model.get_params().items()},
            "label.threshold": result.spec.threshold, "label.horizon_days": result.spec.horizon,
            "label.trailing_days": result.spec.trailing, "capacity.share": result.capacity.share,
            "capacity.minimum": result.capacity.minimum, "features": len(feature_list()),
            **{f"split.{k}": v for k, v in result.split.describe().items()},
            "train_window": "..".join(result.train_window),
            "evaluation.intervention_labels": settings.intervention_labels,
            "train.seed": settings.train_seed, "train.grid_size": len(result.grid),
            **{f"chosen.{k}": v for k, v in result.chosen.items()},
        })
        _log_folds(result, settings)
        mlflow.log_metrics(result.metrics())
        mlflow.log_metrics({f"rows.{k}": float(v) for k, v in result.counts.items()})
        mlflow.log_dict({"features": feature_list()}, FEATURES_ARTIFACT)
        if result.reference:  # bins and proportions over the training window, for ews monitor
            # compact: log_dict's indentation more than doubles it (0.7 MB for 12 schools)
            mlflow.log_text(json.dumps(result.reference, separators=(",", ":")), REFERENCE_ARTIFACT)
        mlflow.log_dict({"split": {k: [str(d) for d in v] for k, v in
                                   (("train", result.split.train), ("calibration", result.split.calibration),
                                    ("test", result.split.test))},
                         "label": result.spec.__dict__}, DATASET_ARTIFACT)
        example = _input_example(result)
        signature = infer_signature(example, result.model.predict_proba(example.to_numpy())[:, 1])
        info = mlflow.sklearn.log_model(result.model, name=MODEL_ARTIFACT, serialization_format="cloudpickle",
                                        signature=signature, input_example=example)
        version = mlflow.register_model(info.model_uri, name).version
        # The model card (issue 7): its evaluation and the rendered card, with the version.
        from training.card import log_model_card

        log_model_card(result, gates, settings, str(version))
        with tempfile.TemporaryDirectory() as tmp:
            from training.report import write_report

            extra = _shap_plots(result, Path(tmp))
            write_report(result, Path(tmp), gates, version=f"v{version}", extra_plots=extra)
            mlflow.log_artifacts(tmp, EVALUATION_DIR)
        run_id = run.info.run_id
    alias = CHAMPION if gates.passed else CHALLENGER
    client.set_registered_model_alias(name, alias, version)
    if gates.passed:  # issue 12: every move of the champion alias goes into its history
        from training.promotion import Move, record_move

        record_move(client, name, Move("train", str(version), champion_version), "cli:train")
    for key, value in {GATES_TAG: " | ".join(gates.reasons), TRAIN_WINDOW: "..".join(result.train_window),
                       GATES_PASSED: "true" if gates.passed else "false",
                       GATE_RESULTS: json.dumps(gates.results, separators=(",", ":")),
                       BEATS_BEST_RULE: "true" if result.beats_best_rule else "false",
                       BACKTEST: json.dumps(result.backtest(), separators=(",", ":")),
                       LIFT_OVER_BEST_RULE: f"{result.lift:.3f}", BEST_RULE: result.best_rule,
                       RUN_ID: run_id, TRAINED_AT: datetime.now(UTC).isoformat(timespec="seconds"),
                       PREVIOUS_CHAMPION: str(champion_version or "")}.items():
        client.set_model_version_tag(name, version, key, value)
    report_copy = settings.home_dir / "reports" / f"v{version}"
    _download(client, run_id, report_copy)
    return TrainOutcome(str(version), run_id, gates.passed, gates.reasons, result.metrics(),
                        report_copy / EVALUATION_PAGE)


def _champion_record(client, settings: Settings, version, model):
    """The champion as the gates need it: model, end of its training window, recorded backtest."""
    from training.pipeline import ChampionRecord

    if model is None:
        return None
    tags = dict(client.get_model_version(settings.registered_model_name, version).tags or {})
    end = None
    if TRAIN_WINDOW in tags and ".." in tags[TRAIN_WINDOW]:
        from datetime import date

        try:
            end = date.fromisoformat(tags[TRAIN_WINDOW].split("..")[1])
        except ValueError:
            end = None
    precision = None
    try:
        folds = json.loads(tags.get(BACKTEST) or "[]")
        values = [f["precision"] for f in folds if f.get("precision") is not None]
        precision = float(np.mean(values)) if values else None
    except (ValueError, TypeError, KeyError):
        precision = None
    return ChampionRecord(model, end, precision)


def _log_folds(result: TrainResult, settings: Settings) -> None:
    """Each fold of the backtest as a nested run: its dates, every ranker's metrics there, its
    calibration; and the grid's mean precision per hyperparameter set."""
    import mlflow

    for f in result.folds:
        with mlflow.start_run(run_name=f"fold {f.fold.name}", nested=True):
            mlflow.log_params({"fold": f.fold.name, "test_window": f.fold.test_window,
                               "train_window": f"{f.fold.train[0]}..{f.fold.train[-1]}",
                               "train_dates": len(f.fold.train), "test_dates": len(f.fold.test),
                               **{f"chosen.{k}": v for k, v in result.chosen.items()}})
            metrics = {}
            for name, row in f.comparison.iterrows():
                for metric in ("roc_auc", "precision_at_capacity", "lead_share", "lead_median_weeks"):
                    if row[metric] == row[metric]:
                        metrics[metric_key(name, metric)] = float(row[metric])
            metrics.update({f"calibration.{k}": v for k, v in f.calibration.items()})
            mlflow.log_metrics(metrics)
    if result.grid:
        mlflow.log_dict({"grid": result.grid, "chosen": result.chosen}, GRID_ARTIFACT)


def _shap_plots(result: TrainResult, out: Path) -> dict[str, Path]:
    """Global SHAP plots for the report: summary, importance per reason group, and the
    dependence of the three most important features (on a sample of the test slice)."""
    from model import reasons
    from model.features import feature_matrix

    sample = result.test_frame.sample(min(2000, len(result.test_frame)), random_state=0)
    X = feature_matrix(sample)
    explanation = reasons.explain(result.model, X)
    plots = {"SHAP summary": reasons.summary_plot(explanation, X, out / "shap_summary.png"),
             "SHAP importance per reason": reasons.importance_plot(explanation, out / "shap_groups.png")}
    importance = reasons.global_importance(explanation)
    top = importance.loc[importance["level"] == "feature", "name"].head(3)
    for name in top:
        plots[f"SHAP dependence: {name}"] = reasons.dependence_plot(
            explanation, X, name, out / f"shap_dependence_{name}.png")
    importance.to_csv(out / "shap_importance.csv", index=False)
    return plots


def _download(client, run_id: str, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    client.download_artifacts(run_id, EVALUATION_DIR, str(dest.parent / ".dl"))
    src = dest.parent / ".dl" / EVALUATION_DIR
    for f in src.iterdir():
        f.replace(dest / f.name)
    src.rmdir()
    (dest.parent / ".dl").rmdir()


def version_summary(settings: Settings, version: str | None = None) -> dict:
    """What the registry says about a version (default: the champion)."""
    client = mlflow_client(settings)
    name = settings.registered_model_name
    mv = (client.get_model_version_by_alias(name, CHAMPION) if version is None
          else client.get_model_version(name, version))
    run = client.get_run(mv.run_id) if mv.run_id else None
    return {"version": mv.version, "aliases": list(mv.aliases), "tags": dict(mv.tags),
            "metrics": dict(run.data.metrics) if run else {},
            "params": dict(run.data.params) if run else {}}




# -- monitoring and erasure (issue 7) ------------------------------------------------------------

def log_monitoring(settings: Settings, summary: dict, psi: pd.DataFrame, schools: pd.DataFrame,
                   precision: pd.DataFrame) -> str:
    """Log one monitoring run to the monitoring experiment (aggregates only: PSI per column and
    scope, shares per school, realised precision per ranker); returns the run id."""
    import mlflow

    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name(MONITORING_EXPERIMENT)
    experiment_id = (experiment.experiment_id if experiment is not None else client.create_experiment(
        MONITORING_EXPERIMENT, artifact_location=(settings.artifact_root / MONITORING_ARTIFACT_DIR).as_uri()))
    judged = psi.loc[psi["judged"].isna() & (psi["scope"] == "all")]
    metrics = {f"psi.{r.name}": float(r.psi) for r in judged.itertuples() if r.psi == r.psi}
    metrics |= {f"precision.{ranker_key(r.ranker)}": float(r.precision)
                for r in precision.itertuples() if r.precision == r.precision}
    metrics["psi.max"] = float(summary["max_psi"]) if summary.get("max_psi") is not None else 0.0
    with mlflow.start_run(experiment_id=experiment_id,
                          run_name=f"monitor {summary['week']} v{summary['model_version']}") as run:
        mlflow.set_tags({"week": summary["week"], "model_version": summary["model_version"],
                         "status": summary["status"]})
        mlflow.log_metrics(metrics)
        mlflow.log_dict({"summary": summary, "psi": _records(psi), "schools": _records(schools),
                         "precision": _records(precision)}, MONITORING_ARTIFACT)
    return run.info.run_id


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in frame.astype(object).to_dict("records")]


def flag_for_retraining(settings: Settings, reason: str, before: datetime | None = None) -> list[str]:
    """Tag every registered version created before `before` (default: now) with
    `needs_retraining=<reason>` (e.g. "erasure:2026-12-01"); returns the versions tagged. A
    version tagged already keeps its first reason and gets the newest added."""
    client = mlflow_client(settings)
    name = settings.registered_model_name
    cutoff = (before or datetime.now(UTC)).timestamp() * 1000
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except Exception:  # noqa: BLE001 - no registered model yet: nothing trained on the pupil
        return []
    tagged = []
    for mv in versions:
        if mv.creation_timestamp is not None and mv.creation_timestamp <= cutoff:
            old = (mv.tags or {}).get(NEEDS_RETRAINING)
            value = reason if not old or reason in old.split(",") else f"{old},{reason}"
            client.set_model_version_tag(name, mv.version, NEEDS_RETRAINING, value)
            tagged.append(str(mv.version))
    return sorted(tagged, key=int)
