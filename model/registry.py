"""The MLflow registry contract, defined once for both sides: what training writes and serving
reads. The experiment names, the aliases, the artifact paths of a training run, the registry
tags, the `<ranker>.<metric>` metric keys and the clients. mlflow is imported lazily, inside
the client factories only; everything else here is plain names.

training/ (tracking, report, card, promotion) writes these names; serving/ (champion, card,
monitoring, the model page) and `model.versions` read them. A test
(tests/model/test_registry_contract.py) fails if training/ or serving/ spell one out again.
"""

from __future__ import annotations

import logging
import os

# -- experiments ------------------------------------------------------------------------------
EXPERIMENT = "fravaersradar"  # training runs
MONITORING_EXPERIMENT = "monitoring"  # `ews monitor` runs (aggregates only)
MONITORING_ARTIFACT_DIR = "monitoring"  # the monitoring experiment's folder under the artifact root

# -- aliases of the registered model ----------------------------------------------------------
CHAMPION, CHALLENGER = "champion", "challenger"

# -- artifacts of a training run --------------------------------------------------------------
MODEL_ARTIFACT = "model"  # the logged scikit-learn model
FEATURES_ARTIFACT = "features.json"  # {"features": [...]}
DATASET_ARTIFACT = "dataset.json"  # the split's as-of dates and the label spec
GRID_ARTIFACT = "grid.json"  # the hyperparameter grid's mean precision, and the chosen set
REFERENCE_ARTIFACT = "monitoring/reference.json"  # bins and proportions over the training window
EVALUATION_DIR = "evaluation"  # the evaluation report: plots, tables, the HTML page
EVALUATION_PAGE = "evaluation.html"  # the report's page, in EVALUATION_DIR
FAIRNESS_TABLE = "fairness.csv"  # in EVALUATION_DIR; per group: grouping, group, selection_rate, ...
CARD_DIR = "model_card"
CARD_EVALUATION = f"{CARD_DIR}/evaluation.json"  # what the model card is written from
CARD_MARKDOWN = f"{CARD_DIR}/model_card.md"
CARD_HTML = f"{CARD_DIR}/model_card.html"
MONITORING_ARTIFACT = "monitoring.json"  # a monitoring run's summary and tables

# -- tags -------------------------------------------------------------------------------------
# On a registered version (written by `ews train`, read by model.versions and the pages):
TRAIN_WINDOW = "train_window"  # "first..last" as-of date
TRAINED_AT = "trained_at"
GATES_TAG = "gates"  # the gates' English lines joined by " | "
GATES_PASSED = "gates_passed"
GATE_RESULTS = "gate_results"  # JSON list of {gate, passed, value, threshold, fold, text}
BEATS_BEST_RULE = "beats_best_rule"
BACKTEST = "backtest"  # JSON list per fold
LIFT_OVER_BEST_RULE = "lift_over_best_rule"
BEST_RULE = "best_rule"
RUN_ID = "run_id"
PREVIOUS_CHAMPION = "previous_champion"
NEEDS_RETRAINING = "needs_retraining"  # set after an erasure: "<reason>[,<reason>...]"
# On the registered model:
CHAMPION_HISTORY = "champion_history"  # JSON list of the champion alias's moves


# -- metric keys ------------------------------------------------------------------------------
# Of a training run, besides `<ranker>.<metric>` (metric_key), `calibration.<k>`, `fairness.<k>`:
LIFT_METRIC = LIFT_OVER_BEST_RULE  # the model's precision at list length over the best rule's
BACKTEST_LIFT = f"{BACKTEST}.{LIFT_OVER_BEST_RULE}"  # the backtest folds' mean
BACKTEST_ROC_AUC = f"{BACKTEST}.model.roc_auc"
BACKTEST_PRECISION = f"{BACKTEST}.model.precision_at_capacity"
BACKTEST_ECE_MAX = f"{BACKTEST}.calibration.ece_max"
BACKTEST_FOLDS = f"{BACKTEST}.folds"


def ranker_key(ranker: str) -> str:
    """A ranker ("model", "rule:days_4_last_month") as it appears in metric keys."""
    return str(ranker).replace(":", ".")


def metric_key(ranker: str, metric: str) -> str:
    """The `<ranker>.<metric>` key a ranker's metric is logged under (e.g.
    `rule.days_4_last_month.roc_auc`).
    """
    return f"{ranker_key(ranker)}.{metric}"


def split_metric_key(key: str, metrics: tuple[str, ...]) -> tuple[str, str] | None:
    """(ranker, metric) of a `<ranker>.<metric>` key whose metric is one of `metrics`, else None."""
    for metric in metrics:
        if key.endswith("." + metric):
            return key[: -len(metric) - 1], metric
    return None


# -- the contract by kind (tests/model/test_registry_contract.py checks training/ and serving/) --
EXPERIMENTS = (EXPERIMENT, MONITORING_EXPERIMENT)
ALIASES = (CHAMPION, CHALLENGER)
ARTIFACTS = (MODEL_ARTIFACT, FEATURES_ARTIFACT, DATASET_ARTIFACT, GRID_ARTIFACT, REFERENCE_ARTIFACT,
             EVALUATION_PAGE, FAIRNESS_TABLE, CARD_EVALUATION, CARD_MARKDOWN, CARD_HTML,
             MONITORING_ARTIFACT)
FOLDERS = (EVALUATION_DIR, CARD_DIR, MONITORING_ARTIFACT_DIR)
TAGS = (TRAIN_WINDOW, TRAINED_AT, GATES_TAG, GATES_PASSED, GATE_RESULTS, BEATS_BEST_RULE, BACKTEST,
        LIFT_OVER_BEST_RULE, BEST_RULE, RUN_ID, PREVIOUS_CHAMPION, NEEDS_RETRAINING, CHAMPION_HISTORY)
METRICS = (LIFT_METRIC, BACKTEST_LIFT, BACKTEST_ROC_AUC, BACKTEST_PRECISION, BACKTEST_ECE_MAX,
           BACKTEST_FOLDS)


# -- URIs -------------------------------------------------------------------------------------

def model_uri(name: str, version: str) -> str:
    """The URI to load a registered version with mlflow.<flavour>.load_model."""
    return f"models:/{name}/{version}"


def run_artifact_uri(run_id: str, path: str) -> str:
    """The URI of an artifact of a run."""
    return f"runs:/{run_id}/{path}"


# -- clients (mlflow imported here, lazily) ---------------------------------------------------

def _quiet() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def registry_client(settings):
    """An MLflow client on the registry in Settings, for reading (serving): mlflow imported here,
    lazily, and quiet; the tracking store (a SQLite file) kept owner-only.
    """
    _quiet()
    # MLflow's INFO lines (e.g. creating an empty registry) would break a user error's one line.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    import mlflow
    from mlflow import MlflowClient

    from model.files import private_file, sqlite_file

    if (path := sqlite_file(settings.tracking_uri)) is not None:
        private_file(path)
    mlflow.set_tracking_uri(settings.tracking_uri)
    return MlflowClient(settings.tracking_uri)


def tracking_client(settings):
    """An MLflow client for logging runs (training): points MLflow at the settings' tracking
    store and creates the experiment with its artifacts under EWS_HOME (never the working
    directory). The store holds evaluation figures per school: owner-only.
    """
    _quiet()
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    import mlflow
    from mlflow import MlflowClient

    from model.files import private_dir, private_file, sqlite_file

    if (path := sqlite_file(settings.tracking_uri)) is not None:
        private_file(path)
    private_dir(settings.artifact_root)
    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient(settings.tracking_uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT, artifact_location=settings.artifact_root.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return client
