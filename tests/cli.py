"""Driving the `ews` command line from system tests: one call, and a trained demo municipality."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EWS = [sys.executable, "-m", "ews"]


def run(args: list[str], env: dict, code: int | None = 0) -> subprocess.CompletedProcess:
    """Run `ews ARGS`; assert its exit code unless `code` is None."""
    proc = subprocess.run(EWS + args, env=env, capture_output=True, text=True, timeout=600)
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def demo_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run on EWS_HOME=`home`, with a fixed pseudonym key and one
    thread, whatever the test process has set for its own store and registry."""
    env = {**os.environ, "EWS_HOME": str(home), "EWS_PSEUDONYM_KEY": "k" * 40,
           "OMP_NUM_THREADS": "1", **extra}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("EWS_DATABASE_URL", None)
    return env


def trained_demo(root: Path, pupils: int = 900, schools: int = 3, seed: int = 5,
                 env: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    """Write a demo municipality (three school years up to 2026-11-20) to `root`/csv, ingest it
    into `root`/home and train; returns the environment and what `ews train` printed.

    A few hundred pupils are too few for the model to clear the real lift gate reliably
    (quality is measured on the full demo: docs/evaluation.md), so the gate is opened: these
    tests check mechanics, not quality. One tree structure of the hyperparameter grid keeps the
    suite's time (the iterations are still chosen on the folds)."""
    env = env or demo_env(root / "home")
    env = {**env, "EWS_GATE_MIN_LIFT_OVER_RULES": "0"}
    env.setdefault("EWS_TRAIN_GRID_SIZE", "1")  # one tree structure of the grid: the suite's time
    run(["demo-data", str(root / "csv"), "--pupils", str(pupils), "--schools", str(schools),
         "--seed", str(seed), "--until", "2026-11-20"], env)
    run(["ingest", str(root / "csv")], env)
    return env, run(["train"], env).stdout
