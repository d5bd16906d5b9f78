"""The municipality's KPIs (model.kpi) against an independent computation with plain pandas from
the delivered register, suppression of small numbers, and the figures against the plan."""

from __future__ import annotations

import os
from datetime import date

import numpy as np
import pandas as pd
import pytest

from model.kpi import ALL, KpiSpec, against_plan, kpi_table, list_outcomes, sums_of_pupils


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    """A small demo municipality of two school years, ingested, with lists and decisions."""
    from tests.kpi_town import build_town

    folder, _, engine = build_town(tmp_path_factory.mktemp("kpi-home"))
    return folder, engine


def _expected(folder, spec: KpiSpec) -> pd.DataFrame:
    """The figures computed from attendance.csv and enrolments.csv with plain pandas: one row
    per (school_id or ALL, period), before suppression."""
    att = pd.read_csv(folder / "attendance.csv", dtype={"pupil_id": str})
    enrol = pd.read_csv(folder / "enrolments.csv", dtype={"pupil_id": str})
    att["date"] = pd.to_datetime(att["date"])
    absence = att["status"] != "present"
    # the contract's default: a missing fraction is a whole day for an absence status
    att["fraction"] = att["absent_fraction"].where(att["absent_fraction"].notna(),
                                                    absence.astype(float)).where(absence, 0.0)
    start = np.where(att["date"].dt.month >= 8, att["date"].dt.year, att["date"].dt.year - 1)
    att["school_year"] = [f"{s}/{(s + 1) % 100:02d}" for s in start]
    att["quarter"] = (att["date"].dt.year.astype(str) + "-Q"
                      + att["date"].dt.quarter.astype(str))
    att = att.merge(enrol[["pupil_id", "school_year", "school_id"]], on=["pupil_id", "school_year"])
    for cat in ("illness", "authorised", "unauthorised"):
        att[cat] = att["fraction"].where(att["status"] == cat, 0.0)

    # the statutory rule: quarter-to-date unauthorised share on each registered day, from the
    # 10th registered day of the quarter on
    att = att.sort_values(["pupil_id", "date"])
    g = att.groupby(["pupil_id", "quarter"])
    days_so_far = g.cumcount() + 1
    rate_so_far = g["unauthorised"].cumsum() / days_so_far
    att["warn"] = (days_so_far >= spec.min_days) & (rate_so_far >= spec.warning)
    att["notify"] = (days_so_far >= spec.min_days) & (rate_so_far >= spec.notification)
    quarter_level = att.groupby(["pupil_id", "school_year", "quarter"])[["warn", "notify"]].any()

    att["year"] = att["school_year"]
    rows = []
    for period_col in ("year", "quarter"):
        per = att.groupby(["pupil_id", "school_id", "school_year", period_col]).agg(
            days=("date", "size"), absent=("fraction", "sum"), illness=("illness", "sum"),
            authorised=("authorised", "sum"), unauthorised=("unauthorised", "sum")).reset_index()
        if period_col == "quarter":
            lv = quarter_level.reset_index()
        else:
            lv = quarter_level.groupby(["pupil_id", "school_year"]).any().reset_index()
            lv["year"] = lv["school_year"]
        per = per.merge(lv, on=["pupil_id", "school_year", period_col])
        per["rate"] = per["absent"] / per["days"]
        for school, grp in [*per.groupby("school_id"), (ALL, per)]:
            for (year, period), p in grp.groupby(["school_year", period_col]):
                rows.append({
                    "school_id": school, "school_year": year, "period": period,
                    "pupils": len(p), "absence_rate": p["absent"].sum() / p["days"].sum(),
                    **{f"absence_rate_{c}": p[c].sum() / p["days"].sum()
                       for c in ("illness", "authorised", "unauthorised")},
                    "over_10": int((p["rate"] >= spec.concerning).sum()),
                    "over_15": int((p["rate"] >= spec.problematic).sum()),
                    "unauthorised_10": int(p["warn"].sum()),
                    "unauthorised_15": int(p["notify"].sum())})
    return pd.DataFrame(rows)


def test_kpis_equal_an_independent_pandas_computation_from_the_register(town):
    from model.kpi_report import compute_report

    folder, engine = town
    spec = KpiSpec()
    report = compute_report(engine, spec)
    got = report.rows.set_index(["school_id", "period"])
    expected = _expected(folder, spec)
    assert len(got) == len(expected)
    kinds = set()
    for e in expected.itertuples(index=False):
        row = got.loc[(e.school_id, e.period)]
        kinds.add((e.school_id == ALL, "/" in e.period))
        assert row["school_year"] == e.school_year
        assert row["pupils"] == e.pupils
        for col in ("absence_rate", "absence_rate_illness", "absence_rate_authorised",
                    "absence_rate_unauthorised"):
            assert row[col] == pytest.approx(e._asdict()[col], abs=1e-9), (e.school_id, e.period)
        hidden = set(filter(None, row["suppressed_columns"].split(";")))
        for col, count, share in (("share_over_10", e.over_10, True),
                                  ("share_over_15", e.over_15, True),
                                  ("unauthorised_10", e.unauthorised_10, False),
                                  ("unauthorised_15", e.unauthorised_15, False)):
            if 1 <= count <= 4:
                assert row[col] is None and col in hidden and row["suppressed"], (col, e)
            else:
                want = count / e.pupils if share else count
                assert row[col] == pytest.approx(want, abs=1e-12), (col, e.school_id, e.period)
                assert col not in hidden
    # school-year and quarter rows, per school and for the whole municipality
    assert kinds == {(False, True), (False, False), (True, True), (True, False)}
    assert {"2024/25", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2", "2025/26", "2025-Q3",
            "2025-Q4"} <= set(got.loc[ALL].index)
    # the statutory lines were reached by enough pupils to be shown somewhere
    assert (report.rows["unauthorised_15"].fillna(0) >= 5).any()


def test_a_school_year_option_gives_that_years_rows_and_keeps_the_baseline(town):
    from model.kpi_report import compute_report

    _, engine = town
    full = compute_report(engine, KpiSpec())
    one = compute_report(engine, KpiSpec(), school_year="2025/26")
    assert one.baseline == full.baseline == "2024/25"
    assert set(one.rows["school_year"]) == {"2025/26"}
    expected = full.rows[full.rows["school_year"] == "2025/26"].reset_index(drop=True)
    pd.testing.assert_frame_equal(one.rows, expected)
    assert one.rows["share_over_15_baseline"].notna().any()


def _per_pupil(counts: dict[str, int], pupils: int = 20) -> pd.DataFrame:
    """School k has `counts[k]` pupils at 20 % absence with 15 % unauthorised in the quarter,
    the others at 2 %."""
    rows = []
    for school, n in counts.items():
        for i in range(pupils):
            high = i < n
            for period in ("2024/25", "2024-Q4"):
                rows.append({"pupil_id": f"{school}-{i}", "school_id": school,
                             "school_year": "2024/25", "period": period,
                             "last_day": "2024-12-20",
                             "registered_days": 40, "absent_days": 8.0 if high else 0.8,
                             "illness_days": 2.0 if high else 0.8, "authorised_days": 0.0,
                             "unauthorised_days": 6.0 if high else 0.0,
                             "unauthorised_10": high, "unauthorised_15": high})
    return pd.DataFrame(rows)


def test_suppression_hides_every_numerator_from_1_to_4_and_shows_0_and_5_up():
    counts = {f"S{n}": n for n in range(0, 8)}
    rows = kpi_table(sums_of_pupils(_per_pupil(counts), KpiSpec()), KpiSpec()).set_index(
        ["school_id", "period"])
    for school, n in counts.items():
        for period in ("2024/25", "2024-Q4"):
            row = rows.loc[(school, period)]
            for col in ("share_over_10", "share_over_15", "unauthorised_10", "unauthorised_15"):
                if 1 <= n <= 4:
                    assert row[col] is None, (school, col)
                    assert row["suppressed"] and col in row["suppressed_columns"].split(";")
                else:
                    assert row[col] == pytest.approx(n / 20 if col.startswith("share") else n)
            assert row["suppressed"] == (1 <= n <= 4)
            assert row["pupils"] == 20 and row["absence_rate"] is not None
    # ALL adds them up: 28 pupils over the lines, shown
    assert rows.loc[(ALL, "2024/25"), "unauthorised_15"] == sum(counts.values())


def test_a_group_of_fewer_than_5_pupils_shows_no_figure():
    rows = kpi_table(sums_of_pupils(_per_pupil({"S1": 0}, pupils=3), KpiSpec()), KpiSpec())
    school = rows[rows["school_id"] == "S1"].iloc[0]
    assert school["pupils"] is None and school["absence_rate"] is None
    assert school["absence_rate_illness"] is None and school["suppressed"]


def test_list_outcomes_suppress_decisions_of_1_to_4_pupils():
    flags, reviews = [], []
    for k, decision in enumerate(("investigate", "already_known", "no_action", "other")):
        for i in range(k + 2):  # 2, 3, 4, 5 pupils
            fid = len(flags) + 1
            flags.append({"id": fid, "pupil_id": f"P{fid}", "section": "early_warning",
                          "risk": 0.3, "band": "raised", "school_id": "S1",
                          "as_of": date(2024, 10, 7)})
            reviews.append({"flag_id": fid, "pupil_id": f"P{fid}", "decision": decision,
                            "decided_on": date(2024, 10, 9), "created_at": pd.Timestamp(i)})
    out = list_outcomes(pd.DataFrame(flags), pd.DataFrame(reviews), KpiSpec())
    s1 = out[(out["school_id"] == "S1") & (out["period"] == "2024-Q4")].iloc[0]
    assert s1["flags"] == 14 and s1["reviewed"] == 14 and s1["share_reviewed"] == 1.0
    assert s1["investigate"] is None and s1["already_known"] is None
    assert s1["no_action"] is None and s1["other"] == 5
    assert s1["suppressed"]


def test_change_from_baseline_and_on_track():
    spec = KpiSpec(baseline="2023/24")
    rows = pd.DataFrame([
        {"school_id": "S1", "school_year": "2023/24", "period": "2023/24", "absence_rate": 0.08,
         "share_over_10": 0.2, "share_over_15": 0.10, "unauthorised_10": 20,
         "unauthorised_15": 10},
        {"school_id": "S1", "school_year": "2024/25", "period": "2024/25", "absence_rate": 0.07,
         "share_over_10": 0.2, "share_over_15": 0.084, "unauthorised_10": None,
         "unauthorised_15": 10},
        {"school_id": "S1", "school_year": "2024/25", "period": "2024-Q4", "absence_rate": 0.07,
         "share_over_10": 0.2, "share_over_15": 0.084, "unauthorised_10": 4,
         "unauthorised_15": 9},
    ])
    out = against_plan(rows, spec, "2023/24").set_index("period")
    assert out.loc["2024/25", "share_over_15_change"] == pytest.approx(-0.16)
    assert out.loc["2024/25", "share_over_15_target"] == pytest.approx(0.085)
    assert out.loc["2024/25", "share_over_15_on_track"] is True
    assert out.loc["2024/25", "unauthorised_15_on_track"] is False  # 10 > 9 = 10 x 0.9
    assert out.loc["2024/25", "unauthorised_10_change"] is None  # suppressed: no change shown
    assert out.loc["2023/24", "share_over_15_on_track"] is None  # the baseline is the reference
    assert out.loc["2024-Q4", "share_over_15_baseline"] is None  # no 2023-Q4 row


def test_follow_up_compares_8_school_weeks_before_and_after_by_risk_band():
    from model.kpi import FOLLOW_UP_NOTE, follow_up
    from model.register import Register

    days = np.array([np.datetime64("2024-09-02") + np.timedelta64(k, "D") for k in range(140)])
    days = days[np.is_busday(days)][:100]  # 100 school days
    decided = days[50].astype(object)
    status = np.ones((3, 100), np.int8)
    absent = np.zeros((3, 100), np.float32)
    status[0, 10:50], absent[0, 10:50] = 4, 1.0  # investigated: all absent before, none after
    status[1, :], absent[1, :] = 2, 0.5  # listed, not investigated: half days throughout
    status[2, 60:] = 0  # listed, not investigated, left 10 days after: not measured after
    register = Register(np.array(["A", "B", "C"], object), days, status, absent)
    flags = pd.DataFrame([
        {"id": 1, "pupil_id": "A", "section": "early_warning", "risk": 0.6, "band": "high",
         "school_id": "S1", "as_of": days[45].astype(object)},
        {"id": 2, "pupil_id": "B", "section": "early_warning", "risk": 0.55, "band": "high",
         "school_id": "S1", "as_of": decided},
        {"id": 3, "pupil_id": "C", "section": "early_warning", "risk": 0.5, "band": "high",
         "school_id": "S1", "as_of": decided}])
    reviews = pd.DataFrame([{"flag_id": 1, "pupil_id": "A", "decision": "investigate",
                             "decided_on": decided, "created_at": pd.Timestamp(0)},
                            {"flag_id": 2, "pupil_id": "B", "decision": "no_action",
                             "decided_on": decided, "created_at": pd.Timestamp(0)}])
    out = follow_up(flags, reviews, register, KpiSpec(suppress_below=1)).set_index("group")
    inv = out.loc["investigated"]
    assert inv["pupils"] == 1 and inv["absence_before"] == 1.0 and inv["absence_after"] == 0.0
    assert inv["change"] == -1.0
    listed = out.loc["listed, not investigated"]
    assert listed["pupils"] == 2 and listed["measured_after"] == 1  # C has 10 days after only
    assert listed["absence_before"] == pytest.approx(0.25)  # B 0.5, C 0.0
    assert listed["absence_after"] == pytest.approx(0.5) and listed["change"] == 0.0
    assert "not an effect estimate" in FOLLOW_UP_NOTE["en"]
    # with the default suppression these groups of 1 and 2 pupils show nothing
    hidden = follow_up(flags, reviews, register, KpiSpec())
    assert hidden["suppressed"].all() and hidden["absence_before"].isna().all()


def test_ews_kpi_writes_csv_and_xlsx_and_says_one_line_on_bad_input(town, tmp_path):
    import csv

    from openpyxl import load_workbook

    from tests.cli import run

    folder, engine = town
    home = folder.parent
    env = {**os.environ, "EWS_HOME": str(home), "OMP_NUM_THREADS": "1",
           "EWS_PSEUDONYM_KEY": "test-key-" + "x" * 32,
           "EWS_DATABASE_URL": f"sqlite:///{home / 'ews.db'}"}
    out = tmp_path / "kpi"
    done = run(["kpi", "--school-year", "2025/26", "--out", str(out)], env)
    assert "baseline 2024/25" in done.stdout
    with open(out / "kpi.csv") as fh:
        rows = list(csv.DictReader(fh))
    required = ["school_id", "period", "pupils", "absence_rate", "share_over_10",
                "share_over_15", "unauthorised_10", "unauthorised_15", "suppressed"]
    assert list(rows[0])[:3] == ["school_id", "school_year", "period"]
    assert set(required) <= set(rows[0])
    assert {r["period"] for r in rows} == {"2025/26", "2025-Q3", "2025-Q4"}
    assert {r["school_id"] for r in rows} == {"ALL", "S01", "S02", "S03", "S04"}
    for r in rows:
        for share in ("absence_rate", "share_over_10", "share_over_15"):
            assert r[share] == "" or 0 <= float(r[share]) <= 1
        assert r["suppressed"] in ("true", "false")
        assert (r["suppressed"] == "true") == any(r[c] == "" for c in required)
    book = load_workbook(out / "kpi.xlsx")
    assert book.sheetnames == ["Nøgletal", "Listernes udfald", "Opfølgning", "Om tallene"]
    assert book["Nøgletal"].max_row == len(rows) + 1
    from sqlalchemy import select

    from model.records import audit_log

    with engine.connect() as conn:
        actions = [a for (a,) in conn.execute(select(audit_log.c.action).where(
            audit_log.c.actor == "cli:kpi"))]
    assert actions == ["export_kpi"]
    for bad, says in ((["--school-year", "2025-26"], "--school-year"),
                      (["--school-year", "2019/20"], "nothing is registered")):
        failed = run(["kpi", *bad, "--out", str(tmp_path / "x")], env, code=2)
        assert failed.stderr.count("\n") == 1 and says in failed.stderr
        assert "Traceback" not in failed.stderr


@pytest.mark.postgres
def test_the_same_kpis_on_postgresql(town, postgres_url, tmp_path):
    from model.kpi_report import compute_report
    from model.settings import Settings
    from model.store import open_store
    from serving.ingest import ingest_folder
    from tests.kpi_town import KEY, UNTIL, store_lists

    folder, engine = town
    settings = Settings(home=tmp_path, pseudonym_key=KEY, environment="test",
                        database_url=postgres_url)
    pg = open_store(postgres_url)
    ingest_folder(settings, pg, folder, today=UNTIL)
    store_lists(pg, 23)
    on_sqlite, on_postgres = compute_report(engine, KpiSpec()), compute_report(pg, KpiSpec())
    pd.testing.assert_frame_equal(on_sqlite.rows, on_postgres.rows)
    pd.testing.assert_frame_equal(on_sqlite.lists, on_postgres.lists)
    pd.testing.assert_frame_equal(on_sqlite.follow_up, on_postgres.follow_up)
    assert len(on_postgres.follow_up) > 0
    pg.dispose()
