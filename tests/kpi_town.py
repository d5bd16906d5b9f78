"""A small municipality for the KPI tests: a demo register of two school years (2024/25 whole,
2025/26 up to 1 December) ingested into a SQLite store, and weekly lists with the teams'
decisions stored beside it (made here, without a model: the KPIs only count them)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

KEY = "test-key-" + "x" * 32
UNTIL = date(2025, 12, 1)
LIST_MONDAYS = ([date(2024, 9, 30) + timedelta(weeks=k) for k in range(0, 20, 2)]
                + [date(2025, 9, 1) + timedelta(weeks=k) for k in range(0, 12, 2)])
DECISIONS = ("investigate", "already_known", "no_action", "other")


def build_town(home: Path, *, pupils: int = 500, schools: int = 4, seed: int = 23):
    """(folder of the delivered files, settings, engine) with lists and reviews stored."""
    from model.settings import Settings
    from model.store import open_store
    from serving.ingest import ingest_folder
    from simulator import write_demo_municipality

    folder = home / "delivery"
    write_demo_municipality(folder, pupils=pupils, schools=schools, years=2, seed=seed,
                            until=UNTIL)
    settings = Settings(home=home, pseudonym_key=KEY, environment="test",
                        database_url=f"sqlite:///{home / 'ews.db'}")
    engine = open_store(settings.store_url)
    ingest_folder(settings, engine, folder, today=UNTIL)
    store_lists(engine, seed)
    return folder, settings, engine


def store_lists(engine, seed: int, per_list: int = 8) -> None:
    """Every other Monday of 2024/25's autumn and winter and of 2025/26's autumn, a list per
    school of `per_list`
    early-warning flags (random pupils, random risk) and decisions on about 70 % of them."""
    from model.estimator import risk_band
    from model.records import flag_lists, flags, reviews
    from model.store import enrolments

    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        enrol = conn.execute(select(enrolments.c.pupil_id, enrolments.c.school_id,
                                    enrolments.c.school_year)).all()
        now = datetime(2025, 12, 1, tzinfo=UTC)
        for monday in LIST_MONDAYS:
            year = "2024/25" if monday < date(2025, 8, 1) else "2025/26"
            by_school: dict[str, list[str]] = {}
            for pupil, school, enrolled in enrol:
                if enrolled == year:
                    by_school.setdefault(school, []).append(pupil)
            week = f"{monday.isocalendar()[0]}-W{monday.isocalendar()[1]:02d}"
            for school, pupils in sorted(by_school.items()):
                list_id = conn.execute(insert(flag_lists).values(
                    week=week, school_id=school, as_of=monday, model_version="1",
                    capacity=per_list, pupils_on_roll=len(pupils), created_at=now)
                ).inserted_primary_key[0]
                chosen = rng.choice(sorted(pupils), per_list, replace=False)
                risk = np.sort(rng.uniform(0.05, 0.7, per_list))[::-1]
                bands = risk_band(risk)
                for rank, (pupil, r, band) in enumerate(zip(chosen, risk, bands, strict=True)):
                    flag_id = conn.execute(insert(flags).values(
                        list_id=list_id, pupil_id=str(pupil), section="early_warning",
                        rank=rank + 1, grade=3, risk=float(r), band=str(band), reasons=[],
                        new_this_week=True)).inserted_primary_key[0]
                    if rng.random() < 0.7:
                        conn.execute(insert(reviews).values(
                            flag_id=flag_id, pupil_id=str(pupil), school_id=school, week=week,
                            decision=str(rng.choice(DECISIONS, p=[0.4, 0.2, 0.3, 0.1])),
                            decided_on=monday + timedelta(days=2), decided_by="team:test",
                            created_at=now))
