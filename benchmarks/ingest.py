"""Ingest benchmark: a large delivery in the data contract, ingested and loaded back.

Generates (vectorised numpy + pyarrow, no demo module) two deliveries as contract CSVs in a
temporary folder: 6,000 pupils x 3 school years (~3.6M register rows) and 50,000 pupils x 1 school
year (~10M rows). Each is ingested into a fresh SQLite store (and a fresh PostgreSQL schema with
--postgres) in a child process, which reports the ingest wall time, its peak RSS, the time of a
second ingest of the same files (idempotent: nothing new) and the time to load the register back
into the pupil x school-day matrix (`load_register`).

Targets: 50,000 pupils x 1 year ingested in under 2 minutes; loaded back in under 10 s.

    .venv/bin/python benchmarks/ingest.py [--postgres [URL]] [--only 6000x3|50000x1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCENARIOS = {"6000x3": (6000, ["2022/23", "2023/24", "2024/25"]), "50000x1": (50000, ["2024/25"])}
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATUSES = np.array(["present", "illness", "authorised", "unauthorised"])


def _write_csv(path: Path, columns: dict[str, object]) -> None:
    """Write columns (pyarrow arrays or numpy arrays) as an unquoted CSV with a plain header."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table({k: v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v)
                      for k, v in columns.items()})
    with open(path, "wb") as fh:
        fh.write((",".join(columns) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def _dictionary(codes: np.ndarray, values: list[str]):
    """A text column given as codes into a few values, without a Python string per row."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                          pa.array(values)).cast(pa.string())


def generate(folder: Path, pupils: int, years: list[str], seed: int = 7) -> int:
    """Write a delivery of `pupils` pupils over `years` into `folder`; returns register rows."""
    from model.calendar import danish_school_days, parse_school_year

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_schools = max(2, pupils // 500)
    school_ids = [f"S{i + 1:03d}" for i in range(n_schools)]
    ids = [f"p-{i:07d}" for i in range(pupils)]
    _write_csv(folder / "schools.csv", {"school_id": school_ids,
                                        "name": [f"Skole {i + 1}" for i in range(n_schools)]})
    first = parse_school_year(years[0])
    grade0 = rng.integers(0, 10, pupils)
    born = np.array([f"{first - 6 - g}-{m:02d}-{d:02d}" for g, m, d in
                     zip(grade0, rng.integers(1, 13, pupils), rng.integers(1, 29, pupils),
                         strict=True)])
    _write_csv(folder / "pupils.csv", {"pupil_id": ids, "birth_date": born,
                                       "gender": rng.choice(["F", "M"], pupils)})
    school = np.arange(pupils) % n_schools
    enrol = {k: [] for k in ("pupil_id", "school_id", "school_year", "grade", "class_id",
                             "special_needs")}
    for y, year in enumerate(years):
        grade = (grade0 + y) % 11
        enrol["pupil_id"] += ids
        enrol["school_id"] += [school_ids[s] for s in school]
        enrol["school_year"] += [year] * pupils
        enrol["grade"] += grade.astype(str).tolist()
        enrol["class_id"] += [f"{school_ids[s]}-{g}{'AB'[i % 2]}"
                              for i, (s, g) in enumerate(zip(school, grade, strict=True))]
        enrol["special_needs"] += rng.choice(["true", "false"], pupils, p=[0.08, 0.92]).tolist()
    _write_csv(folder / "enrolments.csv", enrol)

    # Register: a per-pupil absence propensity; 15 % of absences are partial days.
    propensity = rng.gamma(1.2, 0.05, pupils).clip(0, 0.9)
    pupil_codes, date_codes, status_codes, fraction_codes, all_days = [], [], [], [], []
    for year in years:
        days = danish_school_days(year)
        offset = len(all_days)
        all_days += [d.isoformat() for d in days]
        n = pupils * len(days)
        absent = rng.random(n) < np.repeat(propensity, len(days))
        kind = rng.choice([1, 2, 3], n, p=[0.6, 0.25, 0.15])
        pupil_codes.append(np.repeat(np.arange(pupils), len(days)))
        date_codes.append(np.tile(np.arange(len(days)), pupils) + offset)
        status_codes.append(np.where(absent, kind, 0))
        fraction_codes.append(np.where(absent & (rng.random(n) < 0.15),
                                       rng.integers(1, 4, n), 0))
    rows = sum(len(c) for c in pupil_codes)
    _write_csv(folder / "attendance.csv", {
        "pupil_id": _dictionary(np.concatenate(pupil_codes), ids),
        "date": _dictionary(np.concatenate(date_codes), all_days),
        "status": _dictionary(np.concatenate(status_codes), STATUSES.tolist()),
        "absent_fraction": _dictionary(np.concatenate(fraction_codes), ["", "0.25", "0.5", "0.75"]),
    })
    n_concerns = pupils // 20
    who = rng.choice(pupils, n_concerns, replace=False)
    concern_days = rng.choice(len(all_days), n_concerns)
    _write_csv(folder / "concerns.csv", {
        "pupil_id": [ids[i] for i in who],
        "date": [all_days[d] for d in concern_days],
        "source": rng.choice(["teacher", "parent", "health", "social"], n_concerns),
        "category": rng.choice(["wellbeing", "bullying", "academic", "family"], n_concerns),
        "severity": rng.choice(["1", "2", "3"], n_concerns),
    })
    return rows


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(folder: Path, url: str) -> dict:
    """Ingest `folder` into the store at `url`, ingest again, load back; timings as a dict."""
    from model.register import load_register
    from model.settings import Settings
    from model.store import open_store
    from serving.ingest import ingest_folder

    settings = Settings()
    engine = open_store(url)
    rss_before = _peak_rss_mb()
    t0 = time.perf_counter()
    result = ingest_folder(settings, engine, folder)
    ingest_s = time.perf_counter() - t0
    rss_ingest = _peak_rss_mb()
    t0 = time.perf_counter()
    again = ingest_folder(settings, engine, folder)
    again_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reg = load_register(engine)
    load_s = time.perf_counter() - t0
    engine.dispose()
    return {
        "ingest_s": round(ingest_s, 1), "peak_rss_mb": round(rss_ingest),
        "rss_after_imports_mb": round(rss_before), "reingest_s": round(again_s, 2),
        "reingest_nothing_new": not again.changed, "load_s": round(load_s, 2),
        "matrix": list(reg.status.shape), "entries": result.report["register_entries"],
        "unregistered": result.report["unregistered_pupil_days"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES, default=None,
                        help="also ingest into PostgreSQL (a fresh schema at this URL)")
    parser.add_argument("--only", choices=list(SCENARIOS), action="append")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1])))
        return

    import psutil

    print(f"ingest benchmark, {date.today()}, {platform.node()}: {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}")
    base = args.keep or Path(tempfile.mkdtemp(prefix="ews-bench-"))
    for name in args.only or list(SCENARIOS):
        pupils, years = SCENARIOS[name]
        folder = base / name / "delivery"
        t0 = time.perf_counter()
        rows = generate(folder, pupils, years)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        print(f"\n{name}: {pupils:,} pupils x {len(years)} school year(s), {rows:,} register rows,"
              f" {size:,.0f} MiB of CSV (generated in {time.perf_counter() - t0:.1f} s)")
        targets = [("sqlite", f"sqlite:///{base / name / 'store.db'}")]
        schema = None
        if args.postgres:
            schema = "bench_" + uuid.uuid4().hex[:10]
            _psql(args.postgres, f'CREATE SCHEMA "{schema}"')
            sep = "&" if "?" in args.postgres else "?"
            targets.append(("postgresql", f"{args.postgres}{sep}options=-csearch_path%3D{schema}"))
        try:
            for backend, url in targets:
                env = dict(os.environ, EWS_HOME=str(base / name / "home"),
                           EWS_PSEUDONYM_KEY="benchmark-key-" + "x" * 32)
                out = subprocess.run([sys.executable, __file__, "--child", str(folder), url],
                                     env=env, capture_output=True, text=True, check=False)
                if out.returncode:
                    print(f"  {backend}: FAILED\n{out.stderr[-2000:]}")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"  {backend:<10} ingest {r['ingest_s']:>6.1f} s   peak RSS "
                      f"{r['peak_rss_mb']:>5} MB   re-ingest {r['reingest_s']:.2f} s "
                      f"(nothing new: {r['reingest_nothing_new']})   load_register "
                      f"{r['load_s']:.2f} s -> {r['matrix'][0]:,} x {r['matrix'][1]} matrix")
        finally:
            if schema:
                _psql(args.postgres, f'DROP SCHEMA "{schema}" CASCADE')
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def _psql(url: str, sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


if __name__ == "__main__":
    main()
