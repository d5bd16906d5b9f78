"""A small served municipality for the API tests, built once per session.

Three schools (S1-S3), 48 pupils (every other one delivered with a CPR number), the first 12 school
weeks of 2024/25 ingested through the contract; two tiny RiskModel versions registered in a
temporary MLflow registry (v1 is the champion, v2 waits to be promoted); one stored weekly list
per school; and a token per role and school.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")

KEY = "test-key-" + "x" * 32
FLAG_WEEK = "2024-W39"  # a Monday inside the ingested 12 weeks


class NoChampion:
    """A registry with no promoted version: what serving sees before the first promotion."""

    def champion_version(self):
        return None

    def load(self, version):
        raise AssertionError("nothing to load")

    def details(self, version):
        return {}


@dataclass
class World:
    settings: object
    engine: object
    town: object  # tests.factories.Municipality (the files as ingested)
    tokens: dict[str, str] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)
    flag_ids: dict[str, list[int]] = field(default_factory=dict)  # school -> its flag ids

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def pupils_of(self, school: str) -> list[str]:
        """Ids as delivered (CPR numbers for half of them) of the school's pupils."""
        enrol = self.town["enrolments"]
        return enrol.loc[enrol["school_id"] == school, "pupil_id"].tolist()


def make_settings(home: Path, database_url: str | None = None):
    from model.settings import Settings

    settings = Settings(home=home, pseudonym_key=KEY, environment="test",
                        database_url=database_url or f"sqlite:///{home / 'ews.db'}")
    settings.mlflow_tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    return settings


def train_tiny(engine, seed: int, iterations: int):
    """A small monotone RiskModel on the ingested register, labels from the later absence."""
    from model.estimator import RiskModel
    from model.features import feature_matrix, weekly_as_of_dates
    from model.inputs import load_inputs

    inputs = load_inputs(engine)
    builder = inputs.feature_builder()
    days = builder.day_major.days
    dates = weekly_as_of_dates(days, days[10].astype(object), days[-1].astype(object))
    frame = builder.build(dates)
    rng = np.random.default_rng(seed)
    score = np.nan_to_num(frame["total_rate_4w"].to_numpy()) + rng.normal(0, 0.03, len(frame))
    y = (score > np.quantile(score, 0.7)).astype(int)
    X = feature_matrix(frame)
    model = RiskModel(max_iter=iterations, min_samples_leaf=10, max_leaf_nodes=7,
                      random_state=seed).fit(X, y)
    return model.calibrate(X, y)


def register_model(settings, model, *, champion: bool, auc: float) -> str:
    import mlflow

    from training.tracking import mlflow_client

    client = mlflow_client(settings)
    name = settings.registered_model_name
    with mlflow.start_run():
        mlflow.log_metrics({"model.roc_auc": auc, "calibration.ece": 0.02})
        info = mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle",
                                        pip_requirements=["scikit-learn"])
    version = str(mlflow.register_model(info.model_uri, name).version)
    client.set_model_version_tag(name, version, "trained_at",
                                 datetime.now(UTC).isoformat(timespec="seconds"))
    client.set_model_version_tag(name, version, "train_window", "2024-08-26..2024-10-28")
    if champion:
        client.set_registered_model_alias(name, "champion", version)
    return version


def promote(settings, version: str) -> None:
    from training.tracking import mlflow_client

    mlflow_client(settings).set_registered_model_alias(settings.registered_model_name,
                                                       "champion", version)


def store_a_monitoring_run(world: World, week: str = "2024-W44"):
    """Monitor `week` against a reference built from the autumn of 2024 and store the run;
    returns (run id, the Monitoring result)."""
    from datetime import date

    from model.features import feature_matrix, weekly_as_of_dates
    from model.inputs import load_inputs
    from model.monitoring import reference_distributions
    from serving.champion import load_champion
    from serving.monitoring import monitor_week, store_monitoring

    champion = load_champion(world.settings)
    builder = load_inputs(world.engine).feature_builder()
    window = builder.build(weekly_as_of_dates(builder.day_major.days, date(2024, 9, 2),
                                              date(2024, 10, 21)))
    reference = reference_distributions(
        window, champion.model.predict_proba(feature_matrix(window))[:, 1], min_rows=10)
    result = monitor_week(world.settings, world.engine, champion, reference, week,
                          today=date(2024, 12, 1))
    return store_monitoring(world.engine, result), result


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    return build_world(tmp_path_factory.mktemp("api-home"))


def build_world(home: Path, database_url: str | None = None) -> World:
    """The served municipality of the module docstring, in `home` (its store on `database_url`,
    default a SQLite file there)."""
    from model.store import open_store
    from serving.auth import create_token, revoke_token
    from serving.champion import load_champion
    from serving.flags import build_weekly_lists
    from serving.ingest import ingest_folder
    from tests.factories import small_municipality

    settings = make_settings(home, database_url)
    engine = open_store(settings.store_url)
    town = small_municipality(pupils=48, schools=3, weeks=12, cpr=True, seed=3)
    ingest_folder(settings, engine, town.write(home / "delivery"))

    w = World(settings, engine, town)
    w.versions.append(register_model(settings, train_tiny(engine, 0, 15), champion=True, auc=0.81))
    w.versions.append(register_model(settings, train_tiny(engine, 1, 25), champion=False, auc=0.84))

    champion = load_champion(settings)
    for flag_list in build_weekly_lists(settings, engine, champion, FLAG_WEEK):
        w.flag_ids[flag_list.school_id] = [f.id for f in flag_list.flags]

    for who, role, school in (("school-S1", "school", "S1"), ("team-S1", "team", "S1"),
                              ("school-S2", "school", "S2"), ("team-S2", "team", "S2"),
                              ("analyst", "analyst", None), ("admin", "admin", None),
                              ("revoked", "team", "S1")):
        w.tokens[who] = create_token(engine, role, school, name=who).token
    revoke_token(engine, "revoked")
    return w


@pytest.fixture(scope="session")
def client(world):
    """A TestClient on the app (lifespan run: the champion loaded from the registry)."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    app = create_app(world.settings, poll_seconds=0)
    with TestClient(app) as c:
        yield c


@contextmanager
def served(app, **config):
    """The app under a real uvicorn on 127.0.0.1 (in a thread); yields the base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           **{"log_config": None, **config}))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline and thread.is_alive():
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
