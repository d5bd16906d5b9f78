"""Weekly-list benchmark: a full weekly run for 100,000 pupils, stage by stage.

Setup (not timed): a demo municipality of 100,000 pupils over two school years from
`simulator` (its plan and chunked register, straight into the pupil x school-day matrix, no
CSV), and a RiskModel with the default hyperparameters (what `ews train` fits) trained on a
sample of pupils at earlier as-of dates and calibrated on later ones. Inputs and model go to a
temporary folder.

Timed, in a fresh child process so peak memory is the weekly run's own: one call of
`serving.flags.build_weekly_lists` for the week, on a fresh SQLite store, split into
- features:  the day-major sums and the feature rows of every pupil on roll at the Monday,
- scoring:   margin, calibrated risk, band, already-concerning, the statutory quarter rule and
             the early-warning ranks for everyone,
- reasons:   SHAP (TreeExplainer) and the top reasons for everyone on an early-warning list,
- lists:     cutting the three sections per school,
- storing:   all scores, the lists and their flags into SQLite, in one transaction;
then (reported apart, outside the target) a re-run of the same week (in-place update) and the
exports of every school's list (CSV, Excel, HTML).

Target (issue 4): the weekly run under 30 s on a 2-core machine, one thread per process.

    .venv/bin/python benchmarks/weekly.py [--pupils 100000] [--schools 50] [--week 2025-W11]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks._common import machine, peak_rss_mb  # noqa: E402

UNTIL = date(2025, 3, 7)  # the register ends on the Friday before the benchmark's week
TRAIN_DATES = [date(2023, 10, 2), date(2023, 11, 6), date(2024, 1, 8), date(2024, 2, 5),
               date(2024, 3, 4), date(2024, 4, 8)]
CALIBRATION_DATES = [date(2024, 9, 2), date(2024, 10, 7), date(2024, 11, 4)]


# -- setup ----------------------------------------------------------------------------------------


def generate(pupils: int, schools: int, seed: int = 7):
    """The demo municipality's register matrix and tables (Inputs), two school years."""
    from model.inputs import Inputs
    from model.register import Register
    from simulator import (
        build_class_wellbeing,
        build_concerns,
        iter_register,
        plan_demo,
        static_tables,
    )

    plan = plan_demo(pupils=pupils, schools=schools, years=2, seed=seed, until=UNTIL)
    n, d = len(plan.population.pupil_ids), len(plan.calendar.days)
    status = np.zeros((n, d), np.int8)
    absent = np.zeros((n, d), np.float32)
    for chunk in iter_register(plan):
        status[chunk.pupils], absent[chunk.pupils] = chunk.status, chunk.absent
    register = Register(plan.population.pupil_ids.astype(object),
                        plan.calendar.days.astype("datetime64[D]"), status, absent)
    tables = static_tables(plan)  # schools, pupils, enrolments as the demo writes them
    concerns = build_concerns(plan, np.random.default_rng([seed, 6]))
    wellbeing = build_class_wellbeing(plan, np.random.default_rng([seed, 7]))
    return Inputs(register, tables["enrolments"], concerns, wellbeing, tables["pupils"])


def sample_inputs(inputs, n: int, seed: int = 0):
    """The same municipality restricted to n random pupils (for a quick training set)."""
    from model.inputs import Inputs
    from model.register import Register

    reg = inputs.register
    rows = np.sort(np.random.default_rng(seed).choice(len(reg.pupil_ids), n, replace=False))
    ids = set(reg.pupil_ids[rows])
    keep = lambda frame: frame.loc[frame["pupil_id"].isin(ids)]  # noqa: E731
    return Inputs(Register(reg.pupil_ids[rows], reg.days, reg.status[rows], reg.absent[rows]),
                  keep(inputs.enrolments), keep(inputs.concerns), inputs.class_wellbeing,
                  keep(inputs.pupils))


def train(inputs, sample: int):
    """A RiskModel with default hyperparameters on `sample` pupils, calibrated on later dates."""
    from model.estimator import RiskModel
    from model.features import feature_matrix
    from model.labels import LabelSpec, attach_labels

    small = sample_inputs(inputs, sample)
    builder = small.feature_builder()
    frame = attach_labels(builder.build(TRAIN_DATES + CALIBRATION_DATES), builder.day_major,
                          builder.row_of, LabelSpec())
    frame = frame.loc[frame["label"].notna()]
    when = frame["as_of"].dt.date
    fit, cal = frame.loc[when.isin(TRAIN_DATES)], frame.loc[when.isin(CALIBRATION_DATES)]
    model = RiskModel().fit(feature_matrix(fit), fit["label"].to_numpy())
    return model.calibrate(feature_matrix(cal), cal["label"].to_numpy()), len(fit)


# -- the timed weekly run (child process) ---------------------------------------------------------


def _timed(stages: dict, label: str, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stages[label] += time.perf_counter() - start
    return wrapper


def weekly_run(folder: Path, week: str) -> dict:
    """Load the prepared inputs and model, then time one weekly run on a fresh SQLite store."""
    import model.inputs
    import serving.flags as flags_module
    import serving.scoring
    import serving.stored_lists as stored_lists
    from model.estimator import RiskModel
    from model.features import FeatureBuilder
    from model.settings import Settings
    from model.store import open_store
    from serving.champion import Champion
    from serving.exports import export_flag_list

    with open(folder / "inputs.pkl", "rb") as fh:
        inputs = pickle.load(fh)
    with open(folder / "model.pkl", "rb") as fh:
        risk_model = pickle.load(fh)
    settings = Settings(home=folder / "home", threads=1)
    engine = open_store(f"sqlite:///{folder / 'weekly.db'}")
    champion = Champion(risk_model, "1", "benchmark")
    import model.reasons  # noqa: F401 - module import outside the timing; shap loads on first use

    stages: dict[str, float] = defaultdict(float)
    # Wrap the real code path's steps (module attributes looked up at call time).
    model.inputs.Inputs.feature_builder = _timed(stages, "features",
                                                 model.inputs.Inputs.feature_builder)
    FeatureBuilder.build = _timed(stages, "features", FeatureBuilder.build)
    flags_module.score_week = _timed(stages, "score_week", flags_module.score_week)
    RiskModel.decision_function = _timed(stages, "predict", RiskModel.decision_function)
    serving.scoring.trailing_rates = _timed(stages, "trailing", serving.scoring.trailing_rates)
    flags_module.plan_lists = _timed(stages, "lists", flags_module.plan_lists)
    flags_module.explain_listed = _timed(stages, "reasons", flags_module.explain_listed)
    flags_module._store_scores = _timed(stages, "storing", flags_module._store_scores)
    flags_module._store_list = _timed(stages, "storing", flags_module._store_list)

    base_rss = peak_rss_mb()
    start = time.perf_counter()
    lists = flags_module.build_weekly_lists(settings, engine, champion, week, inputs=inputs)
    total = time.perf_counter() - start
    first = dict(stages)
    run_rss = peak_rss_mb()

    counts = _row_counts(engine)
    start = time.perf_counter()
    again = flags_module.build_weekly_lists(settings, engine, champion, week, inputs=inputs)
    rerun = time.perf_counter() - start
    same = ([flags_module.as_dict(fl) for fl in again] == [flags_module.as_dict(fl) for fl in lists]
            and _row_counts(engine) == counts)

    start = time.perf_counter()
    for fl in lists:
        stored = stored_lists.stored_flag_list(engine, fl.school_id, fl.week)
        export_flag_list(stored, folder / "exports")
    exports = time.perf_counter() - start

    count = lambda section: sum(len(fl.section(section)) for fl in lists)  # noqa: E731
    return {
        "stages": {
            "features": first["features"],
            "scoring": first["score_week"] - first["features"],
            "reasons": first["reasons"],
            "lists": first["lists"],
            "storing": first["storing"],
        },
        "scoring_parts": {
            "model prediction (2 calls)": first["predict"],
            "trailing rate (full-register day-major sums)": first["trailing"],
        },
        "total": total,
        "rerun": rerun,
        "rerun_identical": same,
        "rows": counts,
        "exports": exports,
        "peak_rss_mb": run_rss,
        "inputs_rss_mb": base_rss,
        "pupils_on_roll": sum(fl.pupils_on_roll for fl in lists),
        "schools": len(lists),
        "early_warning": count("early_warning"),
        "statutory": count("statutory"),
        "already_concerning": count("already_concerning"),
    }


def _row_counts(engine) -> dict[str, int]:
    from sqlalchemy import func, select

    from model.records import flag_lists, flags, scores

    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                for t in (scores, flag_lists, flags)}


# -- driver ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=100_000)
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument("--week", default="2025-W11")
    parser.add_argument("--train-sample", type=int, default=10_000,
                        help="pupils in the training sample")
    parser.add_argument("--keep", type=Path, help="prepare the inputs in this folder and keep them")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # the timed run, in its own process
        print(json.dumps(weekly_run(args.child, args.week)))
        return

    print(f"# weekly flag lists, {args.pupils:,} pupils in {args.schools} schools, week "
          f"{args.week} - {machine()}, {_memory_gib()} GiB RAM")
    with tempfile.TemporaryDirectory(prefix="ews-weekly-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        inputs = generate(args.pupils, args.schools)
        shape = inputs.register.status.shape
        print(f"setup: demo register {shape[0]:,} pupils x {shape[1]} school days in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        risk_model, rows = train(inputs, args.train_sample)
        print(f"setup: RiskModel (defaults: {risk_model.max_iter} trees, "
              f"{risk_model.max_leaf_nodes} leaves) on {rows:,} rows in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        with open(folder / "inputs.pkl", "wb") as fh:
            pickle.dump(inputs, fh, protocol=pickle.HIGHEST_PROTOCOL)
        with open(folder / "model.pkl", "wb") as fh:
            pickle.dump(risk_model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        del inputs
        run = [sys.executable, __file__, "--child", str(folder), "--week", args.week]
        load_before = os.getloadavg()[0]
        result = json.loads(subprocess.run(run, capture_output=True, text=True,
                                           check=True).stdout)

    print(f"{result['pupils_on_roll']:,} pupils on roll in {result['schools']} schools; listed: "
          f"{result['early_warning']:,} early warnings (SHAP reasons), {result['statutory']:,} "
          f"statutory, {result['already_concerning']:,} already concerning")
    for stage, seconds in result["stages"].items():
        print(f"  {stage:<10} {seconds:7.2f} s")
        if stage == "scoring":
            for part, part_seconds in result["scoring_parts"].items():
                print(f"    of which {part}: {part_seconds:.2f} s")
    verdict = "under" if result["total"] < 30 else "OVER"
    print(f"  {'total':<10} {result['total']:7.2f} s  ({verdict} the 30 s target)")
    print(f"  peak RSS {result['peak_rss_mb']:,.0f} MiB (inputs alone "
          f"{result['inputs_rss_mb']:,.0f} MiB)")
    rows = ", ".join(f"{v:,} {k}" for k, v in result["rows"].items())
    same = "identical lists, no new rows" if result["rerun_identical"] else "LISTS OR ROWS DIFFER"
    print(f"stored: {rows}; re-run of the same week (in-place update) {result['rerun']:.2f} s: "
          f"{same}")
    print(f"exports of {result['schools']} lists (CSV, Excel, HTML): {result['exports']:.2f} s")
    print(f"load average (1 min) before the timed run {load_before:.1f}, after it "
          f"{os.getloadavg()[0]:.1f}, on {os.cpu_count()} cores")


def _memory_gib() -> int:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30)
    except ImportError:  # pragma: no cover
        return 0


if __name__ == "__main__":
    main()
