"""National scale on one machine: every stage at 10k-550k pupils, wall time, peak RSS and rows/s.

For each size a national-shaped demo register is generated (vectorised, written as Parquet in
row groups, never held whole): N pupils in N/500 schools, two school years (2024/25, 2025/26),
one delivery folder per school year in the data contract. Then, each stage in its own child
process (so peak RSS is the stage's own):

- ingest:   `ews ingest` of the two deliveries into a fresh SQLite store (and, with --postgres,
            of the current year into a fresh PostgreSQL schema, COPY for the register);
- features: load the register from the store, then the 51 features of every pupil on roll at
            every weekly as-of date of 2025/26, streamed by pupil chunk into Parquet;
- train:    a RiskModel (the defaults of `ews train`) on a sample of as-of dates of 2024/25
            (features and labels for every pupil; fitted on at most 400,000 pupil-dates),
            calibrated on a later date;
- weekly:   one weekly run for every school (score everyone, SHAP reasons for everyone on an
            early-warning list, store scores and lists in SQLite);
- kpi:      `ews kpi --out DIR` as a command (its own process, imports included) on that store:
            the municipality's KPIs per school and ALL for both school years and their
            quarters, what the week's lists led to and the before/after follow-up, after a
            third of the early-warning flags were given an `investigate` decision (not timed).

Figures go to OUT/national.json and OUT/national.csv (one row per size and stage), a table is
printed, and OUT/national.png plots cost against pupils. Timings are reported, not asserted.

    .venv/bin/python benchmarks/national.py [--pupils 10000 50000 ...] [--out DIR] [--postgres]
        [--as-of-dates N] [--keep] [--stages ingest features train weekly kpi]

`--stages` runs only some stages (the others' figures are left out): e.g. `ingest kpi` measures
the KPIs at a size where the whole pipeline would not fit the time at hand (without lists, the
KPIs' list outcomes and follow-up are then empty).

How the generated register differs from `simulator`: the same shape and volume (every pupil
registered on every school day, ~5-8 % absence, illness > leave > unauthorised, partial days,
persistent and rising absence for some pupils, concerns, class wellbeing), but no per-pupil
story (no school refusal or custody patterns), no movers between schools and no leavers; ids
are pseudonymous (no CPR numbers to hash). It exists to measure cost, not model quality.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks._common import peak_rss_mb  # noqa: E402
from model.progress import Steps  # noqa: E402

YEARS = ("2024/25", "2025/26")
SIZES = (10_000, 50_000, 100_000, 250_000, 550_000)
PUPILS_PER_SCHOOL = 500  # ~1,100 folkeskoler for ~550,000 pupils
SCHOOLS_PER_MUNICIPALITY = 11  # ~98 municipalities
PUPIL_BLOCK = 25_000  # pupils generated (and written as one Parquet row group) at a time
TRAIN_DATES = [date(2024, 9, 30), date(2024, 11, 4), date(2025, 1, 13), date(2025, 2, 10)]
CALIBRATION_DATES = [date(2025, 3, 10)]
TRAIN_ROWS, CALIBRATION_ROWS = 400_000, 200_000
WEEK = "2026-W10"  # the weekly run: Monday 2 March 2026
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PSEUDONYM_KEY = "benchmark-key-" + "x" * 32
STATUS_NAMES = ["present", "illness", "authorised", "unauthorised"]
FRACTION_TEXT = ["", "0.25", "0.5", "0.75"]


# --- the national demo register ------------------------------------------------------------------


def _table(columns: dict):
    import pyarrow as pa

    return pa.table({k: v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v)
                     for k, v in columns.items()})


def _text(codes: np.ndarray, values) -> object:
    """A text column given as codes into a few values, without a Python string per row."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                          pa.array(list(values))).cast(pa.string())


def generate(base: Path, pupils: int, seed: int = 11) -> dict:
    """Write one delivery folder per school year under `base`; returns counts."""
    import pyarrow.parquet as pq

    from model.calendar import danish_school_days, parse_school_year

    rng = np.random.default_rng(seed)
    n_schools = max(2, pupils // PUPILS_PER_SCHOOL)
    school_ids = np.array([f"S{i + 1:04d}" for i in range(n_schools)], object)
    ids = np.array([f"p{i:07d}" for i in range(pupils)], object)
    school = rng.integers(0, n_schools, pupils)
    grade0 = rng.integers(0, 10, pupils)
    first = parse_school_year(YEARS[0])
    born = (np.array([f"{first - 6}-01-01"], "datetime64[D]")
            - (grade0 * 365.25).astype("timedelta64[D]") + rng.integers(0, 365, pupils))
    gender = rng.choice(np.array(["F", "M"], object), pupils)
    needs = rng.random(pupils) < 0.08
    # absence propensity: persistent between years, higher in later grades, rising for some
    base_rate = rng.gamma(1.3, 0.045, pupils) * (0.8 + 0.04 * grade0)
    rising = rng.random(pupils) < 0.12
    slope = np.where(rising, rng.uniform(0.3, 1.5, pupils), 0.0)
    counts = {"pupils": pupils, "schools": n_schools, "register_rows": 0, "years": {}}
    concern_rng = np.random.default_rng([seed, 1])
    for y, year in enumerate(YEARS):
        folder = base / f"delivery-{year.replace('/', '-')}"
        folder.mkdir(parents=True, exist_ok=True)
        grade = np.minimum(grade0 + y, 10)
        classes = np.array([f"{s}-{g}{'AB'[k]}" for s, g, k in
                            zip(school_ids[school], grade, np.arange(pupils) % 2, strict=True)],
                           object)
        pq.write_table(_table({"school_id": school_ids,
                               "name": [f"Skole {i + 1}" for i in range(n_schools)]}),
                       folder / "schools.parquet")
        pq.write_table(_table({"pupil_id": ids, "birth_date": np.datetime_as_string(born),
                               "gender": gender}), folder / "pupils.parquet")
        pq.write_table(_table({"pupil_id": ids, "school_id": school_ids[school],
                               "school_year": np.full(pupils, year, object),
                               "grade": grade.astype(str).astype(object), "class_id": classes,
                               "special_needs": np.where(needs, "true", "false").astype(object)}),
                       folder / "enrolments.parquet")
        distinct = np.unique(classes)
        pq.write_table(_table({"class_id": distinct,
                               "school_year": np.full(len(distinct), year, object),
                               **{k: np.round(rng.uniform(2.8, 4.6, len(distinct)), 2).astype(str)
                                  for k in ("social", "academic", "calm_order", "support")}}),
                       folder / "class_wellbeing.parquet")
        days = danish_school_days(year)
        day_text = [d.isoformat() for d in days]
        month = np.array([d.month for d in days])
        season = np.where(np.isin(month, [12, 1, 2, 3]), 1.35, 0.85)  # illness peaks in winter
        progress = (y * len(days) + np.arange(len(days))) / (2 * len(days))
        rows = 0
        with pq.ParquetWriter(folder / "attendance.parquet", _attendance_schema()) as writer:
            for lo in range(0, pupils, PUPIL_BLOCK):
                hi = min(lo + PUPIL_BLOCK, pupils)
                k = hi - lo
                rate = np.clip(base_rate[lo:hi, None] * season[None, :]
                               * (1 + slope[lo:hi, None] * progress[None, :]), 0, 0.9)
                draw = rng.random((k, len(days)), dtype=np.float32)
                absent = draw < rate
                kind = np.where(draw < rate * 0.55, 1, np.where(draw < rate * 0.85, 2, 3))
                status = np.where(absent, kind, 0).astype(np.int32)
                partial = absent & (rng.random((k, len(days)), dtype=np.float32) < 0.12)
                fraction = np.where(partial, rng.integers(1, 4, (k, len(days))), 0)
                writer.write_table(_table({
                    "pupil_id": _text(np.repeat(np.arange(k), len(days)), ids[lo:hi]),
                    "date": _text(np.tile(np.arange(len(days)), k), day_text),
                    "status": _text(status.ravel(), STATUS_NAMES),
                    "absent_fraction": _text(fraction.ravel(), FRACTION_TEXT),
                }))
                rows += k * len(days)
        n_concerns = pupils // 25
        who = concern_rng.choice(pupils, n_concerns, replace=False)
        on = concern_rng.integers(0, len(days), n_concerns)
        pq.write_table(_table({
            "pupil_id": ids[who], "date": np.array(day_text, object)[on],
            "source": concern_rng.choice(np.array(["teacher", "parent", "health", "social"], object),
                                         n_concerns),
            "category": concern_rng.choice(np.array(["wellbeing", "bullying", "academic", "family"],
                                                    object), n_concerns),
            "severity": concern_rng.choice(np.array(["1", "2", "3"], object), n_concerns)}),
            folder / "concerns.parquet")
        counts["register_rows"] += rows
        counts["years"][year] = {"folder": str(folder), "register_rows": rows,
                                 "school_days": len(days),
                                 "bytes": sum(p.stat().st_size for p in folder.iterdir())}
    return counts


def _attendance_schema():
    import pyarrow as pa

    return pa.schema([(c, pa.string()) for c in ("pupil_id", "date", "status", "absent_fraction")])


# --- the stages (each in a child process) ---------------------------------------------------------


def _settings(home: Path):
    from model.settings import Settings

    return Settings(home=home, threads=1)


def stage_ingest(run: Path, url: str, years: list[str]) -> dict:
    """Ingest the deliveries of `years` (in order) into the store at `url`."""
    from model.store import open_store
    from serving.ingest import ingest_folder

    settings = _settings(run / "home")
    engine = open_store(url)
    out = {}
    for year in years:
        folder = run / "data" / f"delivery-{year.replace('/', '-')}"
        start = time.perf_counter()
        result = ingest_folder(settings, engine, folder)
        seconds = time.perf_counter() - start
        rows = result.report["register_entries_imported"]
        out[year] = {"seconds": seconds, "rows": rows, "rows_per_s": rows / seconds,
                     "changed": result.changed, "peak_rss_mb": peak_rss_mb()}
    engine.dispose()
    seconds, rows = sum(v["seconds"] for v in out.values()), sum(v["rows"] for v in out.values())
    return {"seconds": seconds, "rows": rows, "rows_per_s": rows / seconds, "deliveries": out}


def stage_features(run: Path, url: str, as_of_dates: int | None) -> dict:
    """Load the register, then stream every weekly as-of date's features into Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from model.features import weekly_as_of_dates
    from model.inputs import load_inputs
    from model.store import open_store

    engine = open_store(url)
    start = time.perf_counter()
    inputs = load_inputs(engine)
    load_s = time.perf_counter() - start
    load_rss = peak_rss_mb()
    dates = weekly_as_of_dates(inputs.register.days, date(2025, 8, 11), date(2026, 6, 26))
    if as_of_dates:
        dates = dates[:: max(1, len(dates) // as_of_dates)][:as_of_dates]
    target = run / "features" / "school_year=2025-26"
    target.mkdir(parents=True, exist_ok=True)
    builder = inputs.feature_builder()
    rows, write_s = 0, 0.0
    start = time.perf_counter()
    for k, frame in enumerate(builder.build_chunks(dates)):
        t0 = time.perf_counter()
        # dictionary pages only for the id columns: the float features are mostly distinct
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                       target / f"part-{k:04d}.parquet", compression="lz4",
                       use_dictionary=["pupil_id", "school_id", "class_id", "gender"])
        write_s += time.perf_counter() - t0
        rows += len(frame)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": rows, "rows_per_s": rows / seconds,
            "build_seconds": seconds - write_s, "write_seconds": write_s,
            "as_of_dates": len(dates), "load_seconds": load_s, "load_peak_rss_mb": load_rss,
            "register": list(inputs.register.status.shape),
            "parquet_mb": sum(p.stat().st_size for p in target.iterdir()) / 2**20}


def stage_train(run: Path, url: str) -> dict:
    """A RiskModel with the defaults on every pupil at TRAIN_DATES, calibrated on later ones."""
    import pickle

    from model.estimator import RiskModel
    from model.features import feature_matrix
    from model.inputs import load_inputs
    from model.labels import LabelSpec, attach_labels
    from model.store import open_store

    inputs = load_inputs(open_store(url))
    start = time.perf_counter()
    builder = inputs.feature_builder()
    frame = builder.build(TRAIN_DATES + CALIBRATION_DATES)
    frame = attach_labels(frame, builder.rate_sums(), builder.row_of, LabelSpec())
    frame = frame.loc[frame["label"].notna()]
    when = frame["as_of"].dt.date
    fit, cal = frame.loc[when.isin(TRAIN_DATES)], frame.loc[when.isin(CALIBRATION_DATES)]
    # Fitting cost follows the sample, not the country: at most TRAIN_ROWS pupil-dates
    # (a uniform sample), and CALIBRATION_ROWS for calibration.
    sampled = len(fit) > TRAIN_ROWS
    if sampled:
        fit = fit.sample(TRAIN_ROWS, random_state=0)
    if len(cal) > CALIBRATION_ROWS:
        cal = cal.sample(CALIBRATION_ROWS, random_state=0)
    X_fit, y_fit = feature_matrix(fit), fit["label"].to_numpy()
    X_cal, y_cal = feature_matrix(cal), cal["label"].to_numpy()
    del frame, fit, cal, builder
    features_s = time.perf_counter() - start
    start = time.perf_counter()
    model = RiskModel().fit(X_fit, y_fit).calibrate(X_cal, y_cal)
    fit_s = time.perf_counter() - start
    with open(run / "model.pkl", "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    rows = len(y_fit)
    return {"seconds": features_s + fit_s, "rows": rows, "rows_per_s": rows / (features_s + fit_s),
            "features_seconds": features_s, "fit_seconds": fit_s, "sampled": sampled,
            "positive_share": float(np.mean(y_fit)), "calibration_rows": len(y_cal)}


def stage_weekly(run: Path, url: str) -> dict:
    """One weekly run for every school, on the store (read, score, reasons, lists, storing)."""
    import pickle

    import serving.flags as flags
    from model.inputs import load_inputs
    from model.store import open_store
    from serving.champion import Champion

    with open(run / "model.pkl", "rb") as fh:
        champion = Champion(pickle.load(fh), "1", "benchmark")
    settings = _settings(run / "home")
    engine = open_store(url)
    stages = {}
    real = {name: getattr(flags, name) for name in ("score_week", "explain_listed",
                                                    "plan_lists", "_store_scores", "_store_list")}

    def timed(name):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return real[name](*args, **kwargs)
            finally:
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    for name in real:
        setattr(flags, name, timed(name))
    import model.reasons  # noqa: F401 - the module outside the timing; shap loads on first use

    start = time.perf_counter()
    inputs = load_inputs(engine)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    lists = flags.build_weekly_lists(settings, engine, champion, WEEK, inputs=inputs)
    seconds = time.perf_counter() - start
    on_roll = sum(fl.pupils_on_roll for fl in lists)
    listed = sum(len(fl.section("early_warning")) for fl in lists)
    return {"seconds": seconds, "rows": on_roll, "rows_per_s": on_roll / seconds,
            "load_seconds": load_s, "schools": len(lists), "early_warning": listed,
            "parts": {"scoring (features, risk, rules)": stages["score_week"],
                      "reasons (SHAP)": stages["explain_listed"], "lists": stages["plan_lists"],
                      "storing": stages["_store_scores"] + stages.get("_store_list", 0.0)}}


def _decide_a_third(url: str) -> int:
    """Give every third early-warning flag of the stored lists an `investigate` decision (and
    the others of those a mix), as the teams would record them; returns the decisions made."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert, select

    from model.records import DECISIONS, flag_lists, flags, reviews
    from model.store import open_store

    engine = open_store(url)
    with engine.begin() as conn:
        listed = conn.execute(select(flags.c.id, flags.c.pupil_id, flag_lists.c.school_id,
                                     flag_lists.c.week, flag_lists.c.as_of).join_from(
            flags, flag_lists, flags.c.list_id == flag_lists.c.id).where(
            flags.c.section == "early_warning").order_by(flags.c.id)).all()
        rows = [{"flag_id": f.id, "pupil_id": f.pupil_id, "school_id": f.school_id,
                 "week": f.week, "decision": DECISIONS[(k // 3) % len(DECISIONS)] if k % 3
                 else "investigate", "decided_on": f.as_of + timedelta(days=2),
                 "decided_by": "team:benchmark", "created_at": datetime.now(UTC)}
                for k, f in enumerate(listed) if k % 2 == 0]
        if rows:
            conn.execute(insert(reviews), rows)
    engine.dispose()
    return len(rows)


def stage_kpi(run: Path, url: str) -> dict:
    """`ews kpi --out DIR` on the store, as a command of its own (wall time of the command)."""
    import csv
    import resource

    decided = _decide_a_third(url)
    out = run / "kpi"
    env = dict(os.environ, EWS_DATABASE_URL=url, EWS_HOME=str(run / "home"),
               EWS_PSEUDONYM_KEY=PSEUDONYM_KEY, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ews", "kpi", "--out", str(out)], env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:
        raise RuntimeError(f"ews kpi failed: {done.stderr[-2000:]}")
    with open(out / "kpi.csv") as fh:
        kpi_rows = sum(1 for _ in csv.DictReader(fh))
    with open(out / "kpi_follow_up.csv") as fh:
        follow_rows = sum(1 for _ in csv.DictReader(fh))
    from sqlalchemy import func, select

    from model.store import open_store, register

    with open_store(url).connect() as conn:
        strips = conn.execute(select(func.count()).select_from(register)).scalar()
    return {"seconds": seconds, "rows": strips, "rows_per_s": strips / seconds,
            "kpi_rows": kpi_rows, "follow_up_rows": follow_rows, "decisions_recorded": decided,
            # CPU time of the command (imports included): what the wall time would be on an
            # idle machine, barely moved by other work sharing the cores
            "command_cpu_seconds": cpu,
            # the command ran as a child of this process: its own peak, not this one's
            "command_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


STAGES = {"ingest": stage_ingest, "features": stage_features, "train": stage_train,
          "weekly": stage_weekly, "kpi": stage_kpi}


def child(args) -> None:
    run, url = Path(args.run), args.url
    if args.stage == "ingest":
        call = lambda: stage_ingest(run, url, args.years)  # noqa: E731
    elif args.stage == "features":
        call = lambda: stage_features(run, url, args.as_of_dates)  # noqa: E731
    else:
        call = lambda: STAGES[args.stage](run, url)  # noqa: E731
    if args.profile:  # where the time goes: cProfile, the top functions by own time
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(call)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        Path(args.profile).write_text(text.getvalue())
    else:
        result = call()
    import resource

    result["peak_rss_mb"] = max(peak_rss_mb(), result.get("command_peak_rss_mb", 0))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time of the whole child (imports and loading included): unlike wall time, barely
    # moved by other work sharing the cores
    result["process_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


# --- the driver ------------------------------------------------------------------------------------


def _run_child(stage: str, run: Path, url: str, extra: list[str], log,
               profile: Path | None = None) -> dict:
    env = dict(os.environ, EWS_HOME=str(run / "home"), EWS_PSEUDONYM_KEY=PSEUDONYM_KEY,
               PYTHONPATH=str(ROOT))
    cmd = [sys.executable, __file__, "--child", stage, "--run", str(run), "--url", url, *extra]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(f"stage {stage} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    log(f"  {stage:<16} {result['seconds']:8.1f} s  {result['peak_rss_mb']:8,.0f} MiB  "
        f"{result['rows']:>12,} rows  {result['rows_per_s']:>12,.0f} rows/s")
    return result


def _postgres_schema(url: str, sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def measure(pupils: int, out: Path, postgres: str | None, as_of_dates: int | None,
            keep: bool, log, profile: bool = False, stages: tuple[str, ...] = tuple(STAGES),
            steps: Steps | None = None) -> dict:
    """Every stage at one size; the generated data and store live under out/run-<pupils>.
    `steps` shows which stage runs (one step per stage, one more with PostgreSQL)."""
    import shutil

    steps = steps or Steps("national", 0, enabled=False)

    run = out / f"run-{pupils}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    start = time.perf_counter()
    steps.next(f"{pupils:,}: generating")
    counts = generate(run / "data", pupils)
    gen_s = time.perf_counter() - start
    log(f"{pupils:,} pupils, {counts['schools']:,} schools: {counts['register_rows']:,} register "
        f"rows over {len(YEARS)} school years generated in {gen_s:.1f} s")
    url = f"sqlite:///{run / 'store.db'}"
    extra_dates = ["--as-of-dates", str(as_of_dates)] if as_of_dates else []
    result = {"pupils": pupils, "schools": counts["schools"], "register_rows": counts["register_rows"],
              "generate_seconds": gen_s, "stages": {}}
    try:
        steps.next(f"{pupils:,}: ingest")
        result["stages"]["ingest (SQLite, 2 years)"] = _run_child(
            "ingest", run, url, ["--years", *YEARS], log, _profile(out, "ingest", pupils, profile))
        if postgres:
            schema = "national_" + uuid.uuid4().hex[:10]
            _postgres_schema(postgres, f'CREATE SCHEMA "{schema}"')
            sep = "&" if "?" in postgres else "?"
            pg_url = f"{postgres}{sep}options=-csearch_path%3D{schema}"
            try:
                steps.next(f"{pupils:,}: ingest (PostgreSQL)")
                result["stages"]["ingest (PostgreSQL, 1 year)"] = _run_child(
                    "ingest", run, pg_url, ["--years", YEARS[-1]], log)
            finally:
                _postgres_schema(postgres, f'DROP SCHEMA "{schema}" CASCADE')
        if "features" in stages:
            steps.next(f"{pupils:,}: features")
            result["stages"]["features"] = _run_child("features", run, url, extra_dates, log,
                                                    _profile(out, "features", pupils, profile))
        if "train" in stages:
            steps.next(f"{pupils:,}: train")
            result["stages"]["train"] = _run_child("train", run, url, [], log,
                                                    _profile(out, "train", pupils, profile))
        if "weekly" in stages:
            steps.next(f"{pupils:,}: weekly")
            result["stages"]["weekly"] = _run_child("weekly", run, url, [], log,
                                                    _profile(out, "weekly", pupils, profile))
        if "kpi" in stages:
            steps.next(f"{pupils:,}: kpi")
            result["stages"]["kpi"] = _run_child("kpi", run, url, [], log,
                                                    _profile(out, "kpi", pupils, profile))
    finally:
        if not keep:
            shutil.rmtree(run, ignore_errors=True)
    return result


def _profile(out: Path, stage: str, pupils: int, on: bool) -> Path | None:
    return out / f"profile-{stage}-{pupils}.txt" if on else None


def write_figures(results: list[dict], out: Path, meta: dict) -> None:
    """national.json (everything), national.csv (size x stage) and national.png (cost plot)."""
    import csv

    (out / "national.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    with open(out / "national.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["pupils", "stage", "seconds", "peak_rss_mb", "rows", "rows_per_s"])
        for r in results:
            for stage, s in r["stages"].items():
                w.writerow([r["pupils"], stage, round(s["seconds"], 2), round(s["peak_rss_mb"]),
                            s["rows"], round(s["rows_per_s"])])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_u, ax_m) = plt.subplots(1, 3, figsize=(15, 4.4))
    for stage in results[0]["stages"]:
        points = [(r["pupils"], r["stages"][stage]) for r in results if stage in r["stages"]]
        xs = [p for p, _ in points]
        ax_t.plot(xs, [s["seconds"] for _, s in points], marker="o", label=stage)
        # flat = cost grows linearly with the pupils
        ax_u.plot(xs, [1000 * s["seconds"] / p for p, s in points], marker="o", label=stage)
        ax_m.plot(xs, [s["peak_rss_mb"] / 1024 for _, s in points], marker="o", label=stage)
    ax_t.set_xscale("log")
    ax_t.set_yscale("log")
    ax_u.set_xscale("log")
    ax_m.set_xscale("log")
    for ax, title in ((ax_t, "wall time (s), log-log"),
                      (ax_u, "wall time per 1,000 pupils (s): flat = linear"),
                      (ax_m, "peak RSS (GiB)")):
        ax.set_xlabel("pupils")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    ax_t.legend(fontsize=7)
    fig.suptitle(f"Fraværsradar at national scale - {meta['machine']}, {meta['date']} "
                 "(shared machine, load average 3-6)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "national.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--out", type=Path, help="folder for the figures (default: a temp folder)")
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES, default=None,
                        help="also ingest into PostgreSQL (a fresh schema at this URL)")
    parser.add_argument("--as-of-dates", type=int, default=None,
                        help="features for only this many of the weekly as-of dates (smoke runs)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and stores")
    parser.add_argument("--replot", type=Path, help="write the figures again from this national.json")
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES),
                        help="only these stages (ingest always runs: the others need its store)")
    parser.add_argument("--child", choices=list(STAGES), dest="stage", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--years", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help="also run each stage under cProfile; with --child: the "
                        "file for its profile", nargs="?", const="yes", default=None)
    args = parser.parse_args()
    if args.stage:
        child(args)
        return
    if args.replot:  # figures again from a national.json (e.g. after a change to the plot)
        saved = json.loads(args.replot.read_text())
        write_figures(saved["results"], args.out or args.replot.parent, saved["meta"])
        return

    import psutil

    out = args.out or Path(tempfile.mkdtemp(prefix="ews-national-"))
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date": date.today().isoformat(), "machine": (
        f"{platform.node()}: {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"), "week": WEEK,
        "as_of_dates": args.as_of_dates or "every weekly as-of date of 2025/26"}
    print(f"# national scale - {meta['date']}, {meta['machine']}", flush=True)
    results = []

    def log(text: str) -> None:
        print(text, flush=True)

    per_size = 2 + len([s for s in args.stages if s != "ingest"]) + (1 if args.postgres else 0)
    with Steps("national", per_size * len(args.pupils), width=32) as steps:
        for pupils in args.pupils:
            results.append(measure(pupils, out, args.postgres, args.as_of_dates, args.keep, log,
                                   bool(args.profile), tuple(args.stages), steps))
            write_figures(results, out, meta)  # after every size, so a long run leaves figures
    print(f"\nfigures: {out / 'national.json'}, {out / 'national.csv'}, {out / 'national.png'}")
    print(f"{'pupils':>8}  {'stage':<28} {'seconds':>8} {'peak MiB':>9} {'rows':>12} {'rows/s':>11}")
    for r in results:
        for stage, s in r["stages"].items():
            print(f"{r['pupils']:>8,}  {stage:<28} {s['seconds']:>8.1f} {s['peak_rss_mb']:>9,.0f} "
                  f"{s['rows']:>12,} {s['rows_per_s']:>11,.0f}")


if __name__ == "__main__":
    main()
