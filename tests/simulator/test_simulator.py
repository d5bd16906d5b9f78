"""The demo municipality: the contract's shape (code tier) and its calibration (data tier).

The calibration tests measure, on generated data with a fixed non-default seed, the figures
domain.md asks a demo to reproduce and the structure the model is meant to learn: escalating
absence after early signs, next to confounders that do not escalate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from model.calendar import (
    danish_school_days,
    holiday_adjacent,
    school_year_of,
)
from model.pseudonym import parse_cpr
from simulator import (
    demo_school_years,
    generate_demo,
    iter_attendance_chunks,
    plan_demo,
    simulate_municipality,
    write_demo_municipality,
)

COLUMNS = {
    "schools": ["school_id", "name"],
    "pupils": ["pupil_id", "birth_date", "gender"],
    "enrolments": ["pupil_id", "school_id", "school_year", "grade", "class_id", "special_needs"],
    "attendance": ["pupil_id", "date", "status", "absent_fraction"],
    "concerns": ["pupil_id", "date", "source", "category", "severity"],
    "class_wellbeing": ["class_id", "school_year", "social", "academic", "calm_order", "support"],
}
STATUS_CODES = {"present": 1, "illness": 2, "authorised": 3, "unauthorised": 4}
UNTIL = date(2025, 12, 15)  # 2023/24 and 2024/25 complete, 2025/26 up to mid-December
COMPLETE = (2023, 2024)
SEED = 11


@dataclass
class Matrix:
    """The register as a pupil x school-day matrix, built from the contract's long form."""

    pupils: np.ndarray
    days: np.ndarray
    registered: np.ndarray
    absent: np.ndarray
    status: np.ndarray

    @property
    def school_year(self) -> np.ndarray:
        """First calendar year of each day's school year."""
        year = self.days.astype("datetime64[Y]").astype(int) + 1970
        return np.where(self.month >= 8, year, year - 1)

    @property
    def month(self) -> np.ndarray:
        return self.days.astype("datetime64[M]").astype(int) % 12 + 1

    def rate(self, rows, cols, status: str | None = None) -> np.ndarray:
        """Per pupil: absent fraction summed over `cols` / registered days (0 if none)."""
        a = self.absent[rows][:, cols]
        if status:
            a = a * (self.status[rows][:, cols] == STATUS_CODES[status])
        return a.sum(axis=1) / np.maximum(self.registered[rows][:, cols].sum(axis=1), 1)

    def pooled(self, rows, cols, status: str | None = None) -> float:
        """Absent fraction summed over all of rows x cols / registered pupil-days."""
        a = self.absent[np.ix_(rows, cols)]
        if status:
            a = a * (self.status[np.ix_(rows, cols)] == STATUS_CODES[status])
        return float(a.sum() / self.registered[np.ix_(rows, cols)].sum())


def to_matrix(attendance: pd.DataFrame) -> Matrix:
    p, pupils = pd.factorize(attendance["pupil_id"])
    d, days = pd.factorize(attendance["date"], sort=True)
    shape = (len(pupils), len(days))
    registered, absent, status = (
        np.zeros(shape, bool),
        np.zeros(shape, np.float32),
        np.zeros(shape, np.int8),
    )
    registered[p, d] = True
    absent[p, d] = attendance["absent_fraction"].to_numpy()
    status[p, d] = attendance["status"].map(STATUS_CODES).to_numpy()
    return Matrix(
        np.asarray(pupils, object), np.asarray(days, "datetime64[D]"), registered, absent, status
    )


@pytest.fixture(scope="module")
def small():
    """A small municipality for the contract's shape."""
    return simulate_municipality(pupils=600, schools=5, years=3, seed=SEED, until=UNTIL)


@pytest.fixture(scope="module")
def demo():
    """The municipality the calibration is measured on (3,000 pupils x 3 school years)."""
    return simulate_municipality(pupils=3000, schools=10, years=3, seed=SEED, until=UNTIL)


@pytest.fixture(scope="module")
def reg(demo) -> Matrix:
    return to_matrix(demo.tables["attendance"])


@pytest.fixture(scope="module")
def truth(demo, reg) -> pd.DataFrame:
    """Ground truth aligned with the matrix rows."""
    return demo.truth.set_index("pupil_id").reindex(reg.pupils)


def enrolled_rows(demo, reg: Matrix, start_year: int) -> pd.DataFrame:
    """The school year's enrolments with the pupil's matrix row."""
    label = f"{start_year}/{(start_year + 1) % 100:02d}"
    e = demo.tables["enrolments"]
    e = e[e["school_year"] == label].copy()
    e["row"] = (
        pd.Series(np.arange(len(reg.pupils)), index=reg.pupils).reindex(e["pupil_id"]).to_numpy()
    )
    return e.dropna(subset=["row"]).astype({"row": int})


# --- code tier: the contract's shape ------------------------------------------------------------


def test_tables_have_exactly_the_contract_columns(small):
    assert list(small.tables) == list(COLUMNS)
    for name, columns in COLUMNS.items():
        assert list(small.tables[name].columns) == columns, name
        assert len(small.tables[name]) > 0, name


def test_same_seed_gives_identical_tables_and_another_seed_does_not():
    first = generate_demo(pupils=300, schools=3, years=2, seed=5, until=UNTIL)
    again = generate_demo(pupils=300, schools=3, years=2, seed=5, until=UNTIL)
    other = generate_demo(pupils=300, schools=3, years=2, seed=6, until=UNTIL)
    for name in COLUMNS:
        pd.testing.assert_frame_equal(first[name], again[name])
    assert not first["attendance"].equals(other["attendance"])


def test_school_years_end_with_the_one_holding_until_and_stop_at_its_last_school_day(small):
    att = small.tables["attendance"]
    assert demo_school_years(3, UNTIL) == ["2023/24", "2024/25", "2025/26"]
    assert set(small.tables["enrolments"]["school_year"]) == {"2023/24", "2024/25", "2025/26"}
    days = set()
    for label in ("2023/24", "2024/25", "2025/26"):
        days |= {d for d in danish_school_days(label) if d <= UNTIL}
    seen = set(att["date"].dt.date.unique())
    assert seen == days  # every school day occurs, nothing else
    assert max(seen) == max(d for d in danish_school_days("2025/26") if d <= UNTIL)
    assert all(d.weekday() < 5 for d in seen)
    for name in ("concerns",):
        assert small.tables[name]["date"].max().date() <= UNTIL


def test_default_until_is_yesterday_so_nothing_is_in_the_future():
    yesterday = date.today() - timedelta(days=1)
    tables = generate_demo(pupils=120, schools=2, years=1, seed=3)
    assert set(tables["enrolments"]["school_year"]) == {school_year_of(yesterday)}
    for name in ("attendance", "concerns"):
        if len(tables[name]):
            assert tables[name]["date"].max().date() <= yesterday
    with pytest.raises(ValueError, match="future"):
        plan_demo(pupils=50, until=date.today())


def test_enrolments_move_up_a_grade_with_cohorts_entering_and_leaving(small):
    e = small.tables["enrolments"]
    assert not e.duplicated(["pupil_id", "school_year"]).any()
    assert e["grade"].between(0, 10).all()
    assert (e["grade"] == 10).sum() > 0  # a few go on to grade 10
    years = sorted(e["school_year"].unique())
    for before, after in zip(years, years[1:], strict=False):
        a = e[e["school_year"] == before].set_index("pupil_id")
        b = e[e["school_year"] == after].set_index("pupil_id")
        both = a.index.intersection(b.index)
        assert (b.loc[both, "grade"] == a.loc[both, "grade"] + 1).all()
        new = b.index.difference(a.index)
        assert (b.loc[new, "grade"] == 0).sum() > 0.08 * len(b)  # a new grade-0 cohort
        gone = a.index.difference(b.index)
        assert (a.loc[gone, "grade"] >= 9).sum() > 0.6 * len(gone)  # mostly grade 9 leaving
        assert ((a.loc[gone, "grade"] < 9).sum()) > 0  # some leave mid-way
        moved = (a.loc[both, "school_id"] != b.loc[both, "school_id"]).mean()
        assert 0.01 < moved < 0.06
        assert abs(len(b) - len(a)) <= 0.05 * len(a)  # the number enrolled stays about the same
    # class ids are unique across schools and years, and look like S01-2024-5A
    per_class = e.groupby("class_id")[["school_id", "school_year", "grade"]].nunique()
    assert (per_class == 1).all().all()
    assert e["class_id"].str.fullmatch(r"S\d{2}-\d{4}-\d{1,2}[A-Z]+").all()
    assert e["class_id"].str[:3].eq(e["school_id"]).all()
    assert 0.07 <= e["special_needs"].mean() <= 0.11


def test_pupils_and_schools(small):
    pupils, schools = small.tables["pupils"], small.tables["schools"]
    assert pupils["pupil_id"].is_unique and pupils["pupil_id"].str.fullmatch(r"E\d{6}").all()
    assert set(pupils["gender"]) == {"F", "M"}
    assert set(small.tables["enrolments"]["pupil_id"]) == set(pupils["pupil_id"])
    assert list(schools["school_id"]) == ["S01", "S02", "S03", "S04", "S05"]
    assert schools["name"].is_unique and schools["name"].str.endswith("skolen").all()
    # Children start grade 0 in the August of the year they turn six (a few a year later).
    e = small.tables["enrolments"].merge(pupils, on="pupil_id")
    august = pd.to_datetime(e["school_year"].str[:4] + "-08-01")
    age_minus_grade = (august - e["birth_date"]).dt.days / 365.25 - e["grade"]
    assert (
        age_minus_grade.between(5.0, 7.0).mean() > 0.95 and age_minus_grade.between(5.0, 8.0).all()
    )


def test_every_enrolled_pupil_has_a_row_on_every_school_day_but_a_few(small):
    att, e = small.tables["attendance"], small.tables["enrolments"]
    assert not att.duplicated(["pupil_id", "date"]).any()
    school_days = {
        label: sum(d <= UNTIL for d in danish_school_days(label))
        for label in e["school_year"].unique()
    }
    expected = e["school_year"].map(school_days).sum()
    att_year = att["date"].dt.date.map(school_year_of)
    rows = att.groupby([att["pupil_id"], att_year]).size()
    enrolled = pd.MultiIndex.from_frame(e[["pupil_id", "school_year"]])
    assert rows.index.isin(enrolled).all()  # only while enrolled
    missing = 1 - len(att) / expected
    assert 0.001 <= missing <= 0.0035  # ~0.2 % not registered


def test_statuses_and_fractions(small):
    att = small.tables["attendance"]
    assert set(att["status"]) == set(STATUS_CODES)
    present = att["status"] == "present"
    assert (att.loc[present, "absent_fraction"] == 0).all()
    absent = att.loc[~present, "absent_fraction"]
    assert ((absent > 0) & (absent <= 1)).all()
    partial = absent[absent < 1]
    assert 0.05 < len(partial) / len(absent) < 0.4
    assert np.allclose(att["absent_fraction"] * 200, np.round(att["absent_fraction"] * 200))


def test_concerns_and_class_wellbeing_are_coded_and_consistent(small):
    c, w, e = small.tables["concerns"], small.tables["class_wellbeing"], small.tables["enrolments"]
    assert set(c["source"]) <= {"teacher", "parent", "pupil", "health", "social", "other"}
    assert set(c["category"]) <= {
        "wellbeing",
        "social",
        "bullying",
        "academic",
        "behaviour",
        "family",
        "health",
        "other",
    }
    assert c["severity"].between(1, 3).all()
    assert not c.duplicated(["pupil_id", "date", "source", "category"]).any()
    enrolled = pd.MultiIndex.from_frame(e[["pupil_id", "school_year"]])
    assert (
        pd.MultiIndex.from_arrays([c["pupil_id"], c["date"].dt.date.map(school_year_of)])
        .isin(enrolled)
        .all()
    )
    assert set(w["class_id"]) <= set(e["class_id"])
    values = w[["social", "academic", "calm_order", "support"]]
    assert (values.isna() | ((values >= 1) & (values <= 5))).all().all()
    assert 0 < values.isna().mean().mean() < 0.05  # a few blanks: not reported
    # The survey runs January-March: the current year (until December) has no results yet.
    assert set(w["school_year"]) == {"2023/24", "2024/25"}


def test_cpr_ids_are_consistent_with_birth_date_and_gender():
    tables = generate_demo(pupils=400, schools=3, years=2, seed=4, until=UNTIL, cpr=True)
    pupils = tables["pupils"]
    assert pupils["pupil_id"].is_unique
    assert pupils["pupil_id"].str.fullmatch(r"\d{6}-\d{4}").all()
    parsed = pupils["pupil_id"].map(parse_cpr)
    assert parsed.notna().all()
    assert (parsed.str[0] == pupils["birth_date"].dt.date).all()
    assert (parsed.str[1] == pupils["gender"]).all()
    assert set(tables["attendance"]["pupil_id"]) <= set(pupils["pupil_id"])
    assert pupils["pupil_id"].str[7].astype(int).isin([4, 5, 6, 7, 8, 9]).all()  # born 2000-2036


def test_the_register_does_not_depend_on_how_it_is_chunked():
    plan = plan_demo(pupils=2200, schools=3, years=1, seed=SEED, until=date(2025, 3, 3))
    small_chunks = list(iter_attendance_chunks(plan, chunk_size=1000))
    large_chunks = list(iter_attendance_chunks(plan, chunk_size=100_000))
    assert len(small_chunks) == 3 and len(large_chunks) == 1
    pd.testing.assert_frame_equal(pd.concat(small_chunks, ignore_index=True), large_chunks[0])
    tables = generate_demo(pupils=2200, schools=3, years=1, seed=SEED, until=date(2025, 3, 3))
    pd.testing.assert_frame_equal(large_chunks[0], tables["attendance"])


def test_write_demo_municipality_writes_the_six_files(tmp_path):
    out = tmp_path / "nested" / "demo"
    summary = write_demo_municipality(out, pupils=250, schools=3, years=2, seed=9, until=UNTIL)
    tables = generate_demo(pupils=250, schools=3, years=2, seed=9, until=UNTIL)
    for name, columns in COLUMNS.items():
        path = out / f"{name}.csv"
        assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(columns)
        frame = pd.read_csv(path, dtype={"pupil_id": str})
        assert len(frame) == len(tables[name]), name
    att = pd.read_csv(out / "attendance.csv", parse_dates=["date"])
    pd.testing.assert_series_equal(att["absent_fraction"], tables["attendance"]["absent_fraction"])
    assert (att["date"] == tables["attendance"]["date"]).all()
    last = tables["enrolments"]["school_year"].max()
    on_roll = int((tables["enrolments"]["school_year"] == last).sum())
    assert on_roll == 250  # --pupils counts the pupils on roll in the last school year ...
    assert f"3 schools with {on_roll:,} pupils on roll in {last}, " in summary
    assert f"{len(tables['pupils']):,} different pupils over school years" in summary  # ... all
    assert f"{len(tables['attendance']):,} register rows" in summary
    assert re.search(r"Mean absence \d+\.\d %", summary) and ">= 10 %" in summary


def test_cli_demo_data_with_until_and_cpr(tmp_path):
    from typer.testing import CliRunner

    from ews.cli import app

    result = CliRunner().invoke(
        app,
        [
            "demo-data",
            str(tmp_path),
            "--pupils",
            "100",
            "--schools",
            "2",
            "--years",
            "1",
            "--until",
            "2025-03-03",
            "--cpr",
        ],
    )
    assert result.exit_code == 0, result.output
    pupils = pd.read_csv(tmp_path / "pupils.csv", dtype=str)
    assert pupils["pupil_id"].map(parse_cpr).notna().all()
    assert pd.read_csv(tmp_path / "attendance.csv")["date"].max() == "2025-03-03"
    bad = CliRunner().invoke(app, ["demo-data", str(tmp_path), "--until", "2999-01-01"])
    assert bad.exit_code == 2


# --- data tier: the calibration -----------------------------------------------------------------


def year_rates(demo, reg: Matrix) -> pd.DataFrame:
    """One row per pupil and complete school year: grade, rates by status."""
    frames = []
    for y in COMPLETE:
        e = enrolled_rows(demo, reg, y)
        cols = reg.school_year == y
        rows = e["row"].to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "year": y,
                    "row": rows,
                    "grade": e["grade"].to_numpy(),
                    "days": reg.registered[rows][:, cols].sum(axis=1),
                    "total": reg.rate(rows, cols),
                    **{
                        s: reg.rate(rows, cols, s)
                        for s in ("illness", "authorised", "unauthorised")
                    },
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_1_mean_absence_over_complete_years_is_6_to_8_percent(reg):
    cols = np.isin(reg.school_year, COMPLETE)
    mean = reg.absent[:, cols].sum() / reg.registered[:, cols].sum()
    assert 0.06 <= mean <= 0.08, mean


def test_2_a_fifth_of_the_pupils_are_over_10_percent_in_a_school_year(demo, reg):
    share = (year_rates(demo, reg)["total"] >= 0.10).mean()
    assert 0.18 <= share <= 0.24, share


def test_3_absence_rises_with_grade_unauthorised_most_steeply(demo, reg):
    r = year_rates(demo, reg)
    band = pd.cut(r["grade"], [-1, 3, 6, 9], labels=["0-3", "4-6", "7-9"])
    days = r["days"].groupby(band, observed=True).sum()
    by = {
        s: (r[s] * r["days"]).groupby(band, observed=True).sum() / days
        for s in ("total", "illness", "unauthorised")
    }
    assert by["total"]["0-3"] < by["total"]["4-6"] < by["total"]["7-9"]
    unauthorised = by["unauthorised"]["7-9"] / by["unauthorised"]["0-3"]
    illness = by["illness"]["7-9"] / by["illness"]["0-3"]
    assert unauthorised > illness and unauthorised > 2, (unauthorised, illness)


def test_4_illness_peaks_december_to_march(reg):
    rows = np.arange(len(reg.pupils))
    complete = np.isin(reg.school_year, COMPLETE)
    winter = reg.pooled(rows, complete & np.isin(reg.month, [12, 1, 2, 3]), "illness")
    autumn = reg.pooled(rows, complete & np.isin(reg.month, [8, 9, 10, 11]), "illness")
    spring = reg.pooled(rows, complete & np.isin(reg.month, [4, 5, 6]), "illness")
    assert winter >= 1.3 * autumn and winter >= 1.3 * spring, (winter, autumn, spring)


def test_5_authorised_leave_clusters_next_to_breaks(reg):
    after, before = holiday_adjacent(reg.days)
    adjacent = after | before
    rows = np.arange(len(reg.pupils))
    ratio = reg.pooled(rows, adjacent, "authorised") / reg.pooled(rows, ~adjacent, "authorised")
    assert ratio >= 1.5, ratio


def test_6_high_absence_persists_from_one_quarter_to_the_next(reg):
    quarter = reg.days.astype("datetime64[M]").astype(int) // 3
    correlations = []
    for q in np.unique(quarter)[:-1]:
        a, b = quarter == q, quarter == q + 1
        if a.sum() < 25 or b.sum() < 25:
            continue
        both = (reg.registered[:, a].sum(1) >= 20) & (reg.registered[:, b].sum(1) >= 20)
        rows = np.flatnonzero(both)
        correlations.append(np.corrcoef(reg.rate(rows, a), reg.rate(rows, b))[0, 1])
    assert len(correlations) >= 7
    assert min(correlations) >= 0.5, correlations


def escalations(truth: pd.DataFrame, reg: Matrix) -> pd.DataFrame:
    """Escalating pupils whose onset lies in the demo, with onset and peak as axis indices."""
    esc = truth[(truth["kind"] == "escalating") & (truth["onset"] >= pd.Timestamp(reg.days[0]))]
    out = pd.DataFrame({"row": np.flatnonzero(truth.index.isin(esc.index))})
    out["onset"] = np.searchsorted(
        reg.days, truth["onset"].to_numpy()[out["row"]].astype("datetime64[D]")
    )
    peak = truth["peak"].to_numpy()[out["row"]]
    out["peak"] = np.where(
        pd.isna(peak), len(reg.days), np.searchsorted(reg.days, peak.astype("datetime64[D]"))
    )
    return out


def test_7_escalating_pupils_a_minority_with_much_higher_later_absence(truth, reg):
    esc = escalations(truth, reg)
    share = len(esc) / len(truth)
    assert 0.06 <= share <= 0.11, share
    later = [
        reg.rate([r], slice(p, p + 60))[0]
        for r, p in zip(esc["row"], esc["peak"], strict=True)
        if reg.registered[r, p : p + 60].sum() >= 30
    ]
    others = np.flatnonzero((truth["kind"] != "escalating").to_numpy())
    base = reg.pooled(others, np.ones(len(reg.days), bool))
    assert len(later) > 50
    assert np.mean(later) >= 3 * base, (np.mean(later), base)


def test_7_escalation_starts_with_early_signs_then_long_spells(truth, reg):
    esc = escalations(truth, reg)
    esc = esc[(esc["onset"] >= 40) & (esc["peak"] + 30 <= len(reg.days))]
    weekday = (reg.days.astype(int) + 3) % 7
    early = {"absence": [], "partial": [], "monfri": [], "before": [], "spell": []}
    late_spells = []
    for r, o, p in zip(esc["row"], esc["onset"], esc["peak"], strict=True):
        a, reg_r = reg.absent[r], reg.registered[r]
        window = slice(o, o + max((p - o) // 2, 10))  # the first half of the rise
        early["absence"].append(a[window].sum() / max(reg_r[window].sum(), 1))
        early["before"].append(a[o - 40 : o].sum() / max(reg_r[o - 40 : o].sum(), 1))
        early["partial"].append(((a[window] > 0) & (a[window] < 1)).mean())
        early["monfri"].append(
            a[window][np.isin(weekday[window], [0, 4])].sum() / max(a[window].sum(), 1e-9)
        )
        early["spell"].append(_mean_spell(a[window] >= 1))
        late_spells.append(_mean_spell(a[p : p + 30] >= 1))
    assert np.mean(early["absence"]) > 1.5 * np.mean(early["before"])  # it starts at onset
    assert np.mean(early["partial"]) > 0.06  # late arrivals, a quarter to half a day
    assert np.mean(early["monfri"]) > 0.44  # more than the 2 in 5 days they are
    assert np.nanmean(early["spell"]) < 2.0  # short spells first ...
    assert np.nanmean(late_spells) > 2 * np.nanmean(early["spell"])  # ... long ones later


def _mean_spell(absent_days: np.ndarray) -> float:
    """Mean length of runs of consecutive whole absent days (nan if none)."""
    padded = np.concatenate([[0], absent_days.astype(int), [0]])
    edges = np.diff(padded)
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return float(lengths.mean()) if len(lengths) else float("nan")


def test_7_teacher_concerns_come_before_the_peak(demo, truth, reg):
    esc = escalations(truth, reg)
    concerns = demo.tables["concerns"]
    teacher = concerns[concerns["source"] == "teacher"]
    first = teacher.groupby("pupil_id")["date"].min()
    cs = np.cumsum(np.pad(reg.absent, ((0, 0), (1, 0))), axis=1)
    cr = np.cumsum(np.pad(reg.registered.astype(int), ((0, 0), (1, 0))), axis=1)
    rolling = (cs[:, 20:] - cs[:, :-20]) / np.maximum(cr[:, 20:] - cr[:, :-20], 1)
    before, noticed = [], 0
    for r in esc["row"]:
        pupil = reg.pupils[r]
        if pupil not in first.index:
            continue
        noticed += 1
        peak_day = reg.days[np.argmax(rolling[r]) + 19]  # the 20-day window with most absence
        before.append(np.datetime64(first[pupil].date()) <= peak_day)
    assert noticed >= 0.6 * len(esc)
    assert np.mean(before) >= 0.75, np.mean(before)
    # Concerns about escalating pupils are about wellbeing, social life and bullying; and their
    # severity rises.
    about = teacher[teacher["pupil_id"].isin(reg.pupils[esc["row"]])]
    assert set(about["category"]) <= {"wellbeing", "social", "bullying", "academic", "behaviour"}
    order = about.sort_values("date", kind="stable").groupby("pupil_id")["severity"]
    assert (order.last() >= order.first()).mean() > 0.9
    assert order.last().mean() > order.first().mean() + 0.3
    # A concern alone is not a sure sign: most pupils with a concern do not escalate.
    assert truth.loc[truth.index.isin(concerns["pupil_id"]), "kind"].ne("escalating").mean() > 0.4


def test_7_escalations_cluster_in_grades_6_to_8_special_needs_and_poor_class_climate(
    demo, truth, reg
):
    e = demo.tables["enrolments"]
    esc = truth[(truth["kind"] == "escalating") & (truth["onset"] >= pd.Timestamp(reg.days[0]))]
    onset_year = esc["onset"].dt.date.map(school_year_of)
    at_onset = (
        e.set_index(["pupil_id", "school_year"])
        .reindex(pd.MultiIndex.from_arrays([esc.index, onset_year]))
        .dropna()
    )
    grades_6_8 = at_onset["grade"].between(6, 8).mean()
    assert grades_6_8 > 1.5 * e["grade"].between(6, 8).mean(), grades_6_8
    assert at_onset["special_needs"].mean() > 1.5 * e["special_needs"].mean()
    w = demo.tables["class_wellbeing"].set_index("class_id")
    score = w[["social", "academic", "calm_order", "support"]].mean(axis=1)
    with_escalation = set(at_onset["class_id"])
    inside = score[score.index.isin(with_escalation)]
    outside = score[~score.index.isin(with_escalation)]
    assert len(inside) >= 20
    assert inside.mean() < outside.mean() - 0.05, (inside.mean(), outside.mean())


def test_8_chronic_illness_is_high_but_stable(truth, reg):
    chronic = np.flatnonzero((truth["kind"] == "chronic_illness").to_numpy())
    others = np.flatnonzero((truth["kind"] == "none").to_numpy())
    everything = np.ones(len(reg.days), bool)
    assert len(chronic) >= 30
    assert reg.pooled(chronic, everything) > 1.5 * reg.pooled(others, everything)
    # Per school year, no upward trend: the second half is not worse than the first.
    for y in COMPLETE:
        cols = np.flatnonzero(reg.school_year == y)
        half = len(cols) // 2
        first, second = reg.pooled(chronic, cols[:half]), reg.pooled(chronic, cols[half:])
        assert second < 1.25 * first, (y, first, second)
    quarters = reg.days.astype("datetime64[M]").astype(int) // 3
    levels = [reg.pooled(chronic, quarters == q) for q in np.unique(quarters)]
    slope = np.polyfit(np.arange(len(levels)), levels, 1)[0]
    assert abs(slope) < 0.004, levels
    # Their appointments: partial or whole illness days on the same weekday.
    weekday = (reg.days.astype(int) + 3) % 7
    illness = reg.absent[chronic] * (reg.status[chronic] == STATUS_CODES["illness"])
    by_day = np.stack([illness[:, weekday == d].sum(1) for d in range(5)], axis=1)
    assert np.median(by_day.max(1) / np.maximum(by_day.sum(1), 1e-9)) > 0.35


def test_8_flu_waves_trips_and_shared_custody(truth, reg):
    rows = np.arange(len(reg.pupils))
    illness = (reg.absent * (reg.status == STATUS_CODES["illness"])).sum(0) / reg.registered.sum(0)
    for y in COMPLETE:
        cols = reg.school_year == y
        winter = cols & np.isin(reg.month, [12, 1, 2, 3])
        week = np.convolve(illness, np.ones(5) / 5, mode="same")
        assert week[winter].max() > 1.4 * np.median(illness[cols])  # a municipality-wide burst
    # Family trips: runs of 3-5 authorised days, nearly all touching a break.
    after, before = holiday_adjacent(reg.days)
    authorised = (reg.status == STATUS_CODES["authorised"]).astype(int)
    runs = touching = 0
    for r in rows[authorised.any(1)]:
        edges = np.diff(np.concatenate([[0], authorised[r], [0]]))
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            if 3 <= e - s <= 5:
                runs += 1
                touching += bool(before[e - 1] or after[s])
    assert runs > 100 and touching / runs > 0.8
    # Shared custody: mild absence, more in the weeks with the other parent.
    custody = np.flatnonzero((truth["kind"] == "shared_custody").to_numpy())
    week = (reg.days.astype(int) + 3) // 7  # ISO weeks, numbered from a Monday
    odd, even = week % 2 == 1, week % 2 == 0
    ratios = [max(reg.rate([r], odd)[0], 1e-3) / max(reg.rate([r], even)[0], 1e-3) for r in custody]
    assert np.median(np.abs(np.log(ratios))) > np.log(1.5)  # alternate weeks differ
    assert reg.pooled(custody, np.ones(len(reg.days), bool)) < 0.12  # but absence stays mild


def windows(reg: Matrix, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing and next 60-school-day rates at axis index t, and who has both windows."""
    before, after = slice(t - 60, t), slice(t, t + 60)
    ok = (reg.registered[:, before].sum(1) >= 30) & (reg.registered[:, after].sum(1) >= 30)
    rows = np.arange(len(reg.pupils))
    return reg.rate(rows, before), reg.rate(rows, after), ok


def mid_year(reg: Matrix, y: int) -> int:
    """The as-of date: the first school day of February."""
    return int(np.searchsorted(reg.days, np.datetime64(f"{y + 1}-02-01")))


def test_9_already_concerning_and_label_shares_at_mid_year(reg):
    """Pooled over the mid-year as-of dates of both complete years (one winter's flu waves
    alone move either share by a point or two)."""
    already, label = [], []
    for y in COMPLETE:
        trailing, following, ok = windows(reg, mid_year(reg, y))
        already.append(trailing[ok] >= 0.15)
        label.append(following[ok][trailing[ok] < 0.15] >= 0.15)
    already_share, label_share = np.concatenate(already).mean(), np.concatenate(label).mean()
    assert 0.05 <= already_share <= 0.13, already_share
    assert 0.03 <= label_share <= 0.08, label_share


def test_9_the_label_is_learnable_from_early_signs(demo, truth, reg):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    weekday = (reg.days.astype(int) + 3) % 7
    monfri = np.isin(weekday, [0, 4])
    concerns = demo.tables["concerns"]
    features, labels, rising = [], [], []
    for y in COMPLETE:
        t = mid_year(reg, y)
        trailing, following, ok = windows(reg, t)
        rest = np.flatnonzero(ok & (trailing < 0.15))
        recent = slice(t - 20, t)
        previous = reg.school_year == y - 1
        last_year = reg.rate(rest, previous) if previous.any() else np.zeros(len(rest))
        known = concerns[
            (concerns["date"] < pd.Timestamp(reg.days[t]))
            & (concerns["date"] >= pd.Timestamp(reg.days[t - 60]))
        ]
        n_concerns = known.groupby("pupil_id").size().reindex(reg.pupils[rest]).fillna(0).to_numpy()
        a = reg.absent[rest]
        features.append(
            np.column_stack(
                [
                    trailing[rest],
                    reg.rate(rest, recent),
                    reg.rate(rest, recent) - trailing[rest],
                    (a[:, t - 60 : t] * monfri[t - 60 : t]).sum(1) / 60,
                    ((a[:, recent] > 0) & (a[:, recent] < 1)).sum(1),
                    n_concerns,
                    last_year,
                ]
            )
        )
        labels.append(following[rest] >= 0.15)
        onset = truth["onset"].to_numpy()[rest].astype("datetime64[D]")
        peak = truth["peak"].to_numpy()[rest].astype("datetime64[D]")
        rising.append((onset <= reg.days[t]) & ~(peak <= reg.days[t - 30]))
    x, y_, rising = np.vstack(features), np.concatenate(labels), np.concatenate(rising)
    x = np.sign(x) * np.log1p(np.abs(x) * 10)
    scores = cross_val_predict(
        LogisticRegression(max_iter=2000), x, y_, cv=5, method="predict_proba"
    )[:, 1]
    auc = roc_auc_score(y_, scores)
    assert auc >= 0.75, auc
    top = np.argsort(-scores)[: int(0.05 * len(y_))]
    assert y_[top].mean() >= 3 * y_.mean()  # a short list is far better than chance
    # Pupils whose escalation is under way are the ones the list is for.
    assert y_[rising].mean() >= 4 * y_[~rising].mean(), (y_[rising].mean(), y_[~rising].mean())
