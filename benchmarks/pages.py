"""Team pages benchmark: how long the week's list and one pupil's page take to render.

Sets up (or reuses, with --home) a demo municipality: `ews demo-data`, `ews ingest`, `ews train`,
`ews flags` for the current week, and a team token per school. Then, in this process (the app
through Starlette's TestClient: no network, no browser), logs a team in through the login form
and times, per school, the list page cold (first view after start-up) and warm, and the pupil
page of every listed pupil: the first pupil of a school cold (its school's weekly scores for the
risk-over-time chart are built then) and the others warm. Every view is audited as in
production. Prints p50/p90/max per page.

    .venv/bin/python benchmarks/pages.py [--home DIR] [--pupils 3000] [--schools 6]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import ews_env, machine, peak_rss_mb, set_up_demo  # noqa: E402


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return (f"n={len(ordered):4d}  p50 {q(0.5):7.1f} ms  p90 {q(0.9):7.1f} ms  "
            f"max {ordered[-1] * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path)
    parser.add_argument("--pupils", type=int, default=3000)
    parser.add_argument("--schools", type=int, default=6)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ews-pages-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    set_up_demo(home, args.pupils, args.schools)
    print(f"{machine()}; set-up {time.perf_counter() - started:.0f} s in {home}")
    os.environ.update(ews_env(home))

    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from model.settings import get_settings
    from model.store import open_store, schools
    from serving.app import create_app
    from serving.auth import create_token

    settings = get_settings()
    engine = open_store(settings.store_url)
    with engine.connect() as conn:
        school_ids = [s for (s,) in conn.execute(select(schools.c.school_id).order_by(
            schools.c.school_id))]
    app = create_app(settings, poll_seconds=0, warm=False)
    timings: dict[str, list[float]] = {k: [] for k in ("list cold", "list warm", "pupil cold",
                                                       "pupil warm")}
    with TestClient(app, follow_redirects=False) as client:
        for school in school_ids:
            token = create_token(engine, "team", school).token
            client.cookies.clear()
            assert client.post("/pages/login", data={"token": token}).status_code == 303
            url = f"/pages/schools/{school}/flags"
            for i in range(6):
                t = time.perf_counter()
                answer = client.get(url)
                timings["list cold" if i == 0 else "list warm"].append(time.perf_counter() - t)
                assert answer.status_code == 200, answer.text[:200]
            pupils = list(dict.fromkeys(re.findall(r'href="/pages/pupils/([^"?]+)\?',
                                                   answer.text)))
            for i, pupil in enumerate(pupils):
                t = time.perf_counter()
                assert client.get(f"/pages/pupils/{pupil}").status_code == 200
                timings["pupil cold" if i == 0 else "pupil warm"].append(time.perf_counter() - t)
    for label, values in timings.items():
        print(f"{label:10s}  {quantiles(values)}")
    print(f"peak RSS {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
