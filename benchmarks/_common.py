"""Shared helpers for the benchmarks: a fast synthetic register, timing and peak memory."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")

from model.calendar import danish_school_days  # noqa: E402
from model.register import Register  # noqa: E402
from model.store import STATUS_CODES  # noqa: E402

EWS = Path(sys.executable).with_name("ews")


def ews_env(home: Path) -> dict[str, str]:
    """The environment of `ews` run on `home`/.ews: this process's, without its own store and
    registry, one thread, no telemetry."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("EWS_DATABASE_URL", "MLFLOW_TRACKING_URI")}
    env.update({"EWS_HOME": str(home / ".ews"), "OMP_NUM_THREADS": "1",
                "MLFLOW_DISABLE_TELEMETRY": "true"})
    return env


def run_ews(home: Path, *args: str) -> str:
    """Run `ews ARGS` on `home`, print how long it took; stop the benchmark if it fails."""
    started = time.perf_counter()
    done = subprocess.run([str(EWS), *args], env=ews_env(home), cwd=home, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"ews {' '.join(args)} failed:\n{done.stderr}")
    print(f"  ews {args[0]}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return done.stdout


def set_up_demo(home: Path, pupils: int, schools: int, years: int = 3) -> None:
    """Demo data, ingest, train and this week's lists in `home`, unless it holds them already."""
    if (home / ".ews" / "ews.db").exists() and (home / ".ews" / "mlflow.db").exists():
        print(f"reusing {home}", file=sys.stderr)
        return
    print(f"setting up a demo municipality in {home} ...", file=sys.stderr)
    run_ews(home, "demo-data", str(home / "demo"), "--pupils", str(pupils), "--schools",
            str(schools), "--years", str(years))
    run_ews(home, "ingest", str(home / "demo"), "--no-progress")
    run_ews(home, "train")
    run_ews(home, "flags", "--out", str(home / "lists"))


def machine() -> str:
    return f"{platform.node()}: {os.cpu_count()} cores, {platform.python_version()}, {date.today()}"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(label: str, results: dict):
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start


def synthetic_inputs(n_pupils: int, years=("2024/25", "2025/26"), schools: int = 50, seed: int = 0):
    """A register of `n_pupils` over `years` with per-pupil absence rates (not realistic, but the
    same shape and density as a real one), and matching enrolments."""
    rng = np.random.default_rng(seed)
    days = np.array([d for y in years for d in danish_school_days(y)], dtype="datetime64[D]")
    ids = np.array([f"B{i:07d}" for i in range(n_pupils)], dtype=object)
    rate = rng.gamma(1.5, 0.04, n_pupils).astype(np.float32)
    status = np.full((n_pupils, len(days)), STATUS_CODES["present"], np.int8)
    absent = np.zeros((n_pupils, len(days)), np.float32)
    for lo in range(0, len(days), 50):  # by blocks of days to bound temporary memory
        hi = min(lo + 50, len(days))
        draw = rng.random((n_pupils, hi - lo), dtype=np.float32)
        is_abs = draw < rate[:, None]
        cat = (draw * 1000).astype(np.int64) % 3 + 2
        status[:, lo:hi] = np.where(is_abs, cat, STATUS_CODES["present"])
        absent[:, lo:hi] = is_abs
    school = np.array([f"S{i % schools:03d}" for i in range(n_pupils)], dtype=object)
    grade = np.arange(n_pupils) % 10
    enrol = pd.concat([pd.DataFrame({
        "pupil_id": ids, "school_year": y, "school_id": school, "grade": np.minimum(grade + k, 10),
        "class_id": [f"{s}-{y[:4]}-{g}" for s, g in zip(school, grade, strict=True)],
        "special_needs": False}) for k, y in enumerate(years)], ignore_index=True)
    return Register(ids, days, status, absent), enrol
