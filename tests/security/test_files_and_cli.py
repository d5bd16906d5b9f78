"""Personal data on disk and the command line (defect 11): the store, the registry, the pseudonym
key and the exports are the owner's only; `ews ingest` of a folder that does not exist is one line,
exit 2, and creates no store; the MLflow input example is an invented row, never a pupil's."""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace

import numpy as np
import pandas as pd

from tests.cli import demo_env, run


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_ingest_of_a_missing_folder_is_one_line_and_creates_no_store(tmp_path):
    env = demo_env(tmp_path / "home")
    proc = run(["ingest", str(tmp_path / "no" / "such")], env, code=2)
    assert proc.stderr.strip().count("\n") == 0 and "is not a folder" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "home" / "ews.db").exists()


def test_the_store_key_and_state_folder_are_owner_only(tmp_path):
    env = demo_env(tmp_path / "home")
    env.pop("EWS_PSEUDONYM_KEY")  # the key is generated and kept in EWS_HOME
    run(["demo-data", str(tmp_path / "csv"), "--pupils", "40", "--schools", "2", "--years", "1",
         "--until", "2026-09-30"], env)
    old = os.umask(0o022)  # a permissive umask in the caller's shell
    try:
        run(["ingest", str(tmp_path / "csv")], env)
    finally:
        os.umask(old)
    home = tmp_path / "home"
    assert mode(home) == 0o700
    for name in ("ews.db", "pseudonym.key"):
        assert mode(home / name) == 0o600, name
    for extra in home.glob("ews.db-*"):  # WAL and shared memory take the database's mode
        assert mode(extra) == 0o600, extra.name


def test_the_store_and_the_registry_are_owner_only_outside_the_cli(tmp_path):
    from model.settings import Settings
    from model.store import open_store
    from serving.champion import registry_client

    old = os.umask(0o022)
    try:
        # mlflow.set_tracking_uri (an earlier test's training) leaves MLFLOW_TRACKING_URI in the
        # environment: name this home's registry explicitly
        settings = Settings(home=tmp_path / "home", pseudonym_key="k" * 40, environment="test",
                            mlflow_tracking_uri=None)
        open_store(settings.store_url).dispose()
        registry_client(settings).search_registered_models()
    finally:
        os.umask(old)
    assert mode(tmp_path / "home") == 0o700
    assert mode(tmp_path / "home" / "ews.db") == 0o600
    assert mode(tmp_path / "home" / "mlflow.db") == 0o600


def test_the_input_example_is_no_pupils_row():
    from model.features import FEATURE_NAMES
    from training.tracking import _input_example

    rng = np.random.default_rng(0)
    for rows in (1, 3, 50):
        frame = pd.DataFrame(rng.integers(0, 3, (rows, len(FEATURE_NAMES))).astype(float),
                             columns=FEATURE_NAMES)
        example = _input_example(SimpleNamespace(test_frame=frame))
        assert list(example.columns) == list(FEATURE_NAMES) and len(example) == 1
        values = example.to_numpy(np.float32)[0]
        # not any pupil's row, and not a pupil's value in any feature
        assert not (frame.to_numpy(np.float32) == values).all(axis=1).any()
        assert not (frame.to_numpy(np.float32) == values).any()
