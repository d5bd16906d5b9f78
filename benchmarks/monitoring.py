"""Monitoring and erasure benchmark on a trained EWS_HOME (e.g. `make demo`'s, or one made with
`ews demo-data` / `ews ingest` / `ews train`).

The home is copied to a temporary folder first (erasure deletes), then, in this process:
- reference: reading the champion's reference distributions from the registry,
- monitor:   one `serving.monitoring.monitor_week` for the week (scores, PSI per column and
             school, shares per school, realised precision of the stored lists),
- store:     storing its results,
- erase:     `serving.erasure.erase_pupil` of one pupil on a stored list (store, compaction,
             files under EWS_HOME).
Prints seconds per stage and the peak RSS.

    .venv/bin/python benchmarks/monitoring.py --home /tmp/monitor-home/home --week 2026-W47
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, peak_rss_mb, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a trained EWS_HOME (copied)")
    parser.add_argument("--week", default=None, help="ISO week to monitor (default: this week)")
    args = parser.parse_args()
    if not (args.home / "ews.db").exists():
        sys.exit(f"{args.home} has no ews.db: ingest and train there first")

    from sqlalchemy import select

    from model.inputs import load_inputs
    from model.records import flags
    from model.settings import Settings
    from model.store import open_store
    from serving.champion import load_champion
    from serving.erasure import erase_pupil
    from serving.monitoring import champion_reference, monitor_week, store_monitoring

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(args.home, home)
        os.environ["EWS_HOME"] = str(home)
        for name in ("MLFLOW_TRACKING_URI", "EWS_DATABASE_URL"):
            os.environ.pop(name, None)
        settings = Settings()
        engine = open_store(settings.store_url)
        champion = load_champion(settings)
        inputs = load_inputs(engine)
        pupils = len(inputs.register.pupil_ids)
        with timed("reference", results):
            reference = champion_reference(settings, champion.version)
        with timed("monitor", results):
            result = monitor_week(settings, engine, champion, reference, args.week, inputs=inputs)
        with timed("store", results):
            store_monitoring(engine, result)
        with engine.connect() as conn:
            pupil = conn.execute(select(flags.c.pupil_id).limit(1)).scalar()
        if pupil is not None:
            with timed("erase", results):
                erased = erase_pupil(settings, engine, pupil)
            files = len(erased.rewritten) + len(erased.removed)
        engine.dispose()

    print(f"machine: {machine()}")
    print(f"home: {args.home} ({pupils:,} pupils), week {result.week}, status {result.status}, "
          f"{len(result.psi)} PSI rows, {len(result.per_list)} list x ranker rows")
    for stage, seconds in results.items():
        print(f"  {stage:<10} {seconds:6.2f} s")
    if pupil is not None:
        print(f"  (erase rewrote or deleted {files} files)")
    print(f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
