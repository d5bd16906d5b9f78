"""Feature building for every weekly as-of date of one school year, at 6,000 and 100,000 pupils:
wall time and peak memory, and a straightforward pandas groupby/rolling version of a few of the
same features for the ratio.

Run: .venv/bin/python benchmarks/features.py [--pupils 6000 100000] [--pandas-max 100000]
Each size runs in its own process so peak memory is per size. Targets (issue 3): 100,000 pupils
in under 15 s and 2 GB, at least 5x faster than the pandas version.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks._common import machine, peak_rss_mb, synthetic_inputs  # noqa: E402
from model.features import FeatureBuilder, weekly_as_of_dates  # noqa: E402

YEAR_START, YEAR_END = date(2025, 8, 11), date(2026, 6, 26)


def ours(n: int) -> dict:
    reg, enrol = synthetic_inputs(n)
    dates = weekly_as_of_dates(reg.days, YEAR_START, YEAR_END)
    base = peak_rss_mb()
    start = time.perf_counter()
    frame = FeatureBuilder(reg, enrol).build(dates)
    took = time.perf_counter() - start
    return {"pupils": n, "as_of_dates": len(dates), "rows": len(frame), "seconds": round(took, 2),
            "peak_rss_mb": round(peak_rss_mb()), "input_rss_mb": round(base),
            "rows_per_s": round(len(frame) / took)}


def pandas_version(n: int) -> dict:
    """total_rate_4w, unauthorised_rate_4w, total_rate_12w by idiomatic groupby + rolling."""
    reg, _ = synthetic_inputs(n)
    dates = weekly_as_of_dates(reg.days, YEAR_START, YEAR_END)
    start = time.perf_counter()
    p, d = np.nonzero(reg.status)
    long = pd.DataFrame({"pupil_id": reg.pupil_ids[p], "date": reg.days[d],
                         "absent": reg.absent[p, d], "unauth": (reg.status[p, d] == 4) * reg.absent[p, d]})
    long = long.sort_values(["pupil_id", "date"])
    g = long.groupby("pupil_id")
    long["abs_20"] = g["absent"].transform(lambda s: s.rolling(20, min_periods=1).sum())
    long["un_20"] = g["unauth"].transform(lambda s: s.rolling(20, min_periods=1).sum())
    long["abs_60"] = g["absent"].transform(lambda s: s.rolling(60, min_periods=1).sum())
    long["n_20"] = g.cumcount().clip(upper=19) + 1
    long["n_60"] = g.cumcount().clip(upper=59) + 1
    out = []
    for t in dates:
        before = long[long["date"] < np.datetime64(t)]
        last = before.groupby("pupil_id").tail(1)
        out.append(pd.DataFrame({"pupil_id": last["pupil_id"], "as_of": t,
                                 "total_rate_4w": last["abs_20"] / last["n_20"],
                                 "unauthorised_rate_4w": last["un_20"] / last["n_20"],
                                 "total_rate_12w": last["abs_60"] / last["n_60"]}))
    frame = pd.concat(out)
    took = time.perf_counter() - start
    return {"pupils": n, "rows": len(frame), "seconds": round(took, 2), "peak_rss_mb": round(peak_rss_mb())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, nargs="+", default=[6000, 100000])
    parser.add_argument("--pandas-max", type=int, default=100000,
                        help="largest size to also run the pandas version for")
    parser.add_argument("--one", choices=["ours", "pandas"])
    args = parser.parse_args()
    if args.one:  # child process: one measurement, printed as JSON
        fn = ours if args.one == "ours" else pandas_version
        print(json.dumps(fn(args.pupils[0])))
        return
    print(f"# feature building, every weekly as-of date of 2025/26 — {machine()}")
    print(f"{'pupils':>8} {'as-of':>6} {'rows':>10} {'ours s':>8} {'ours MB':>8} "
          f"{'pandas s':>9} {'pandas MB':>9} {'ratio':>6}")
    for n in args.pupils:
        run = [sys.executable, __file__, "--one", "ours", "--pupils", str(n)]
        a = json.loads(subprocess.run(run, capture_output=True, text=True, check=True).stdout)
        b = None
        if n <= args.pandas_max:
            run[3] = "pandas"
            b = json.loads(subprocess.run(run, capture_output=True, text=True, check=True).stdout)
        ratio = f"{b['seconds'] / a['seconds']:.1f}x" if b else "-"
        print(f"{n:>8} {a['as_of_dates']:>6} {a['rows']:>10} {a['seconds']:>8} {a['peak_rss_mb']:>8} "
              f"{(b or {}).get('seconds', '-'):>9} {(b or {}).get('peak_rss_mb', '-'):>9} {ratio:>6}")


if __name__ == "__main__":
    main()
