"""Weekly flag lists and reviews (serving tier): the three sections hold the right pupils, the
capacity rule, a week run twice is the same and stores nothing twice, "new this week" and
reviews across weeks, reviews survive re-runs, review validation, golden files of the three
export formats, and `ews flags` end to end. Storage tests run on SQLite and PostgreSQL.

Set EWS_UPDATE_GOLDEN=1 to rewrite the golden files (then read the diff before committing).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from model.capacity import Capacity, list_flags
from model.errors import UserError
from model.estimator import RiskModel
from model.features import feature_matrix
from model.labels import LabelSpec, attach_labels
from model.records import SECTIONS, flag_lists, flags, reviews, scores
from model.register import Register
from model.settings import Settings
from model.store import STATUS_CODES, open_store
from serving.champion import Champion
from serving.exports import flag_list_csv, flag_list_html, flag_list_xlsx
from serving.flags import as_dict, build_weekly_lists, score_week
from serving.stored_lists import record_review, stored_flag, stored_flag_list
from tests.municipality import small_municipality

GOLDEN = Path(__file__).with_name("golden")
UPDATE_GOLDEN = os.environ.get("EWS_UPDATE_GOLDEN") == "1"
WEEK, AS_OF = "2024-W46", date(2024, 11, 11)
PREVIOUS = "2024-W45"
TRAIN_DATES = [date(2023, 10, 2), date(2023, 11, 6), date(2024, 1, 8), date(2024, 2, 5),
               date(2024, 3, 4), date(2024, 4, 8), date(2024, 9, 2), date(2024, 10, 7),
               date(2025, 1, 13), date(2025, 2, 3)]
NOTIFY, WARN, KNOWN = "T0010", "T0020", "T0030"  # all at school S1 (even numbers)


# -- the municipality and the model ------------------------------------------------------------


def _with_known_cases(town):
    """The small municipality with three pupils whose 2024/25 is set by hand: NOTIFY has 4 and
    WARN 3 unauthorised days in Q4 2024 before 11 November (of 24 school days: 17 % and 13 %),
    otherwise present; KNOWN is ill on the 20 school days before 4 November (a third of the
    trailing 60 days in weeks 45 and 46), otherwise present."""
    reg = town.register
    status, absent = reg.status.copy(), reg.absent.copy()
    row = {p: i for i, p in enumerate(reg.pupil_ids)}
    days = reg.days
    year = days >= np.datetime64("2024-08-01")
    quarter = np.flatnonzero((days >= np.datetime64("2024-10-01")) & (days < np.datetime64(AS_OF)))
    assert len(quarter) == 24
    before_w45 = np.flatnonzero(days < np.datetime64("2024-11-04"))[-20:]
    for pupil, sick_days, unauthorised_days in ((NOTIFY, [], quarter[[0, 5, 10, 15]]),
                                                (WARN, [], quarter[[1, 6, 11]]),
                                                (KNOWN, before_w45, [])):
        i = row[pupil]
        status[i, year], absent[i, year] = STATUS_CODES["present"], 0.0
        status[i, sick_days], absent[i, sick_days] = STATUS_CODES["illness"], 1.0
        status[i, unauthorised_days] = STATUS_CODES["unauthorised"]
        absent[i, unauthorised_days] = 1.0
    return replace(town, register=Register(reg.pupil_ids, days, status, absent))


@pytest.fixture(scope="module")
def town():
    return _with_known_cases(small_municipality())


@pytest.fixture(scope="module")
def champion(town) -> Champion:
    """A small RiskModel (fixed seed) trained on the town, wrapped as the registry would."""
    from threadpoolctl import threadpool_limits

    builder = town.feature_builder()
    frame = attach_labels(builder.build(TRAIN_DATES), builder.day_major, builder.row_of,
                          LabelSpec())
    known = frame.loc[frame["label"].notna()]
    with threadpool_limits(limits=1):
        model = RiskModel(max_iter=60, min_samples_leaf=20, max_leaf_nodes=8, random_state=0).fit(
            feature_matrix(known), known["label"].to_numpy())
    return Champion(model, "7", "fravaersradar")


@pytest.fixture
def engine(store_url):
    engine = open_store(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def _build(settings, engine, champion, town, week=WEEK, school=None):
    return build_weekly_lists(settings, engine, champion, week, school, inputs=town)


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                for t in (scores, flag_lists, flags, reviews)}


def _ids(rows) -> list[str]:
    return [r["pupil_id"] for r in rows]


# -- the sections ------------------------------------------------------------------------------


def test_lists_have_three_sections_with_the_right_pupils(settings, sqlite_engine, champion, town):
    lists = _build(settings, sqlite_engine, champion, town)
    assert [fl.school_id for fl in lists] == ["S1", "S2"]
    frame = score_week(settings, town, champion.model, AS_OF).set_index("pupil_id")
    s1 = stored_flag_list(sqlite_engine, "S1", WEEK)
    assert s1["as_of"] == "2024-11-11" and s1["model_version"] == "7"
    assert s1["pupils_on_roll"] == (frame["school_id"] == "S1").sum() == 60
    early, statutory, known = (s1["sections"][k] for k in
                               ("early_warning", "statutory", "already_concerning"))

    # statutory: the rule's facts, notification before warning, no prediction
    levels = {r["pupil_id"]: r["statutory_level"] for r in statutory}
    assert levels[NOTIFY] == "notification" and levels[WARN] == "warning"
    assert KNOWN not in levels
    assert [r["statutory_level"] for r in statutory] == sorted(
        (r["statutory_level"] for r in statutory), key=["notification", "warning"].index)
    row = next(r for r in statutory if r["pupil_id"] == NOTIFY)
    assert row["unauthorised_quarter"] == pytest.approx(4 / 24)
    assert all(r["risk"] is None and r["band"] is None and r["reasons"] == [] for r in statutory)

    # already concerning: the known case, not the statutory ones, ranked by risk; a statutory
    # pupil who is also already concerning is listed once, under statutory, with a badge
    assert KNOWN in _ids(known) and NOTIFY not in _ids(known) and WARN not in _ids(known)
    concerning = set(frame.index[frame["already_concerning"] & (frame["school_id"] == "S1")])
    assert set(_ids(known)) == concerning - set(levels)
    assert {r["pupil_id"] for r in statutory if r["also"] == ["already_concerning"]} == (
        concerning & set(levels)) != set()
    assert [r["risk"] for r in known] == sorted((r["risk"] for r in known), reverse=True)

    # early warning: not yet concerning, the highest risks, cut at capacity
    assert len(early) == s1["capacity"] == 3
    assert KNOWN not in _ids(early)
    assert not frame.loc[_ids(early), "already_concerning"].any()
    risks = [r["risk"] for r in early]
    assert risks == sorted(risks, reverse=True) and [r["rank"] for r in early] == [1, 2, 3]
    others = frame.loc[(frame["school_id"] == "S1") & ~frame["already_concerning"]
                       & ~frame.index.isin(_ids(early)), "risk"]
    assert others.max() <= min(risks)
    for r in early:
        assert r["band"] in ("high", "raised", "watch", "low")
        assert r["absence_year"] == pytest.approx(frame.at[r["pupil_id"], "total_rate_year"])
        assert r["trend"] == pytest.approx(frame.at[r["pupil_id"], "trend_4w"])
        assert 1 <= len(r["reasons"]) <= 3
        assert all(x["effect"] > 0 and x["text"] for x in r["reasons"])
        assert [x["effect"] for x in r["reasons"]] == sorted(
            (x["effect"] for x in r["reasons"]), reverse=True)
    assert all(r["new_this_week"] and r["review"] is None
               for rows in s1["sections"].values() for r in rows)

    # every pupil on roll is scored and stored; reasons only for those listed early
    with sqlite_engine.connect() as conn:
        stored = pd.DataFrame(conn.execute(select(scores)).all(), columns=scores.c.keys())
    assert len(stored) == len(frame) and set(stored["model_version"]) == {"7"}
    listed = {f.pupil_id for fl in lists for f in fl.section("early_warning")}
    with_reasons = set(stored.loc[stored["reasons"].map(len) > 0, "pupil_id"])
    assert with_reasons == listed
    np.testing.assert_allclose(stored.set_index("pupil_id")["risk"].reindex(frame.index),
                               frame["risk"], rtol=0, atol=1e-12)


def test_reason_texts_on_read_match_the_reasons_module(settings, sqlite_engine, champion, town):
    """Texts rendered from the stored structure, in both languages, are the sentences
    model.reasons gives for the same pupils (school means from every pupil on roll)."""
    from model.reasons import explain, reasons_for, school_means

    _build(settings, sqlite_engine, champion, town)
    frame = score_week(settings, town, champion.model, AS_OF)
    for language in ("da", "en"):
        listed = [r for s in ("S1", "S2") for r in
                  stored_flag_list(sqlite_engine, s, WEEK, language)["sections"]["early_warning"]]
        rows = frame.set_index("pupil_id").loc[_ids(listed)].reset_index()
        expected = reasons_for(rows, explain(champion.model, feature_matrix(rows)),
                               language=language, context=school_means(frame))
        for row, reasons in zip(listed, expected, strict=True):
            assert [x["text"] for x in row["reasons"]] == [r.text for r in reasons]
            assert [x["feature"] for x in row["reasons"]] == [r.feature for r in reasons]
    da = stored_flag_list(sqlite_engine, "S1", WEEK, "da")["sections"]["early_warning"]
    en = stored_flag_list(sqlite_engine, "S1", WEEK, "en")["sections"]["early_warning"]
    assert [x["text"] for x in da[0]["reasons"]] != [x["text"] for x in en[0]["reasons"]]


# -- capacity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("on_roll", "expected"), [(0, 3), (20, 3), (60, 3), (61, 4), (100, 5),
                                                   (101, 6), (400, 20)])
def test_capacity_is_five_percent_of_pupils_at_least_three(on_roll, expected):
    assert Capacity().for_school(on_roll) == expected
    assert Capacity().for_school(on_roll, "S9") == expected


def test_capacity_override_per_school(monkeypatch):
    capacity = Capacity(0.05, 3, {"S1": 8, "S2": 0})
    assert capacity.for_school(60, "S1") == 8
    assert capacity.for_school(60, "S2") == 0
    assert capacity.for_school(60, "S3") == 3
    monkeypatch.setenv("EWS_CAPACITY_OVERRIDES", '{"S1": 8}')
    assert Capacity.from_settings(Settings()).overrides == {"S1": 8}
    monkeypatch.setenv("EWS_CAPACITY_OVERRIDES", '{"S1": -1}')
    with pytest.raises(ValueError):
        Settings()


def test_override_and_share_cut_the_stored_lists(settings, sqlite_engine, champion, town):
    custom = settings.model_copy(update={"capacity_overrides": {"S1": 5},
                                         "capacity_share": 0.1})
    lists = {fl.school_id: fl for fl in _build(custom, sqlite_engine, champion, town)}
    assert lists["S1"].capacity == 5 and len(lists["S1"].section("early_warning")) == 5
    assert lists["S2"].capacity == 6 and len(lists["S2"].section("early_warning")) == 6


def test_list_cut_agrees_with_the_evaluation(champion, town):
    """model.capacity cuts lists exactly as training.evaluation does (no overrides)."""
    from training.evaluation import Capacity as EvalCapacity
    from training.evaluation import list_flags as eval_list_flags

    builder = town.feature_builder()
    frame = attach_labels(builder.build(TRAIN_DATES[-4:]), builder.day_major, builder.row_of,
                          LabelSpec())
    score = champion.model.predict_proba(feature_matrix(frame))[:, 1]
    ours = list_flags(frame, score, Capacity(0.05, 3))
    theirs = eval_list_flags(frame, score, EvalCapacity(0.05, 3))
    np.testing.assert_array_equal(ours, theirs)
    assert ours.sum() == 4 * 2 * 3


# -- storage: idempotent, new this week, reviews -----------------------------------------------


def test_same_week_twice_gives_the_same_lists_and_rows(settings, engine, champion, town):
    first = [as_dict(fl) for fl in _build(settings, engine, champion, town)]
    stored = stored_flag_list(engine, "S1", WEEK)
    counts = _counts(engine)
    second = [as_dict(fl) for fl in _build(settings, engine, champion, town)]
    assert second == first
    assert stored_flag_list(engine, "S1", WEEK) == stored
    assert _counts(engine) == counts
    assert counts["scores"] == 120 and counts["flag_lists"] == 2
    # one school on its own replaces only its own list
    _build(settings, engine, champion, town, school="S2")
    assert _counts(engine) == counts
    assert stored_flag_list(engine, "S1", WEEK) == stored


def test_new_this_week_and_reviews_across_two_weeks(settings, engine, champion, town):
    _build(settings, engine, champion, town, week=PREVIOUS)
    before = stored_flag_list(engine, "S1", PREVIOUS)
    assert all(r["new_this_week"] for rows in before["sections"].values() for r in rows)
    flag_known = next(r for r in before["sections"]["already_concerning"]
                      if r["pupil_id"] == KNOWN)
    review = record_review(engine, flag_known["id"], "investigate", "team:S1",
                           date(2024, 11, 6))
    assert review["week"] == PREVIOUS and review["pupil_id"] == KNOWN

    _build(settings, engine, champion, town, week=WEEK)
    after = stored_flag_list(engine, "S1", WEEK)
    for section, rows in after["sections"].items():
        earlier = set(_ids(before["sections"][section]))
        for r in rows:
            assert r["new_this_week"] == (r["pupil_id"] not in earlier), (section, r["pupil_id"])
    known = next(r for r in after["sections"]["already_concerning"] if r["pupil_id"] == KNOWN)
    assert known["new_this_week"] is False
    assert known["review"] == {"decision": "investigate", "decided_on": "2024-11-06",
                               "decided_by": "team:S1"}
    assert next(r for r in after["sections"]["statutory"]
                if r["pupil_id"] == NOTIFY)["new_this_week"] is False
    reviewed = [r["pupil_id"] for rows in after["sections"].values() for r in rows if r["review"]]
    assert reviewed == [KNOWN]

    # a later decision is the one shown, and only from its own week on
    record_review(engine, known["id"], "already_known", "team:S1", date(2024, 11, 12))
    assert stored_flag(engine, known["id"])["review"]["decision"] == "already_known"
    assert stored_flag(engine, flag_known["id"])["review"]["decision"] == "investigate"


def test_a_review_survives_a_rerun_of_the_week(settings, engine, champion, town):
    _build(settings, engine, champion, town)
    listed = stored_flag_list(engine, "S1", WEEK)["sections"]["early_warning"]
    first, last = listed[0], listed[-1]
    record_review(engine, first["id"], "no_action", "team:S1", date(2024, 11, 12))
    record_review(engine, last["id"], "other", "team:S1", date(2024, 11, 12))
    _build(settings, engine, champion, town)
    again = stored_flag(engine, first["id"])
    assert again["pupil_id"] == first["pupil_id"] and again["section"] == "early_warning"
    assert again["review"]["decision"] == "no_action"

    # the last flag drops off when the list is cut shorter, and comes back with its review
    short = settings.model_copy(update={"capacity_overrides": {"S1": 1}})
    _build(short, engine, champion, town, school="S1")
    assert stored_flag(engine, last["id"]) is None
    with engine.connect() as conn:
        orphan = conn.execute(select(reviews.c.flag_id).where(
            reviews.c.pupil_id == last["pupil_id"])).scalar_one()
    assert orphan is None
    _build(settings, engine, champion, town, school="S1")
    back = next(r for r in stored_flag_list(engine, "S1", WEEK)["sections"]["early_warning"]
                if r["pupil_id"] == last["pupil_id"])
    assert back["review"]["decision"] == "other"
    with engine.connect() as conn:
        linked = conn.execute(select(reviews.c.flag_id).where(
            reviews.c.pupil_id == last["pupil_id"])).scalar_one()
    assert linked == back["id"]
    assert _counts(engine)["reviews"] == 2


def test_record_review_validation(settings, engine, champion, town):
    _build(settings, engine, champion, town, school="S1")
    flag_id = stored_flag_list(engine, "S1", WEEK)["sections"]["early_warning"][0]["id"]
    with pytest.raises(UserError, match="decision must be one of"):
        record_review(engine, flag_id, "ignore", "team:S1")
    with pytest.raises(UserError, match="no flag with id"):
        record_review(engine, 999_999, "investigate", "team:S1")
    with pytest.raises(UserError, match="no flag with id"):
        record_review(engine, "abc", "investigate", "team:S1")
    with pytest.raises(UserError, match="decided_by"):
        record_review(engine, flag_id, "investigate", "  ")
    with pytest.raises(UserError, match="in the future"):
        record_review(engine, flag_id, "investigate", "team:S1", date.today() + timedelta(days=1))
    with pytest.raises(UserError, match="decided_on must be a date"):
        record_review(engine, flag_id, "investigate", "team:S1", "12/11/2024")
    assert _counts(engine)["reviews"] == 0
    made = record_review(engine, flag_id, "investigate", "team:S1")
    assert made["decided_on"] == date.today().isoformat() and made["flag_id"] == flag_id
    assert json.loads(json.dumps(made)) == made
    made = record_review(engine, str(flag_id), "already_known", "team:S1", "2024-11-13")
    assert made["decided_on"] == "2024-11-13"


def test_reading_lists_and_building_them_refuse_bad_requests(settings, sqlite_engine, champion,
                                                             town):
    assert stored_flag_list(sqlite_engine, "S1", WEEK) is None
    assert stored_flag(sqlite_engine, 1) is None
    with pytest.raises(UserError, match="week must look like"):
        stored_flag_list(sqlite_engine, "S1", "2024-46")
    with pytest.raises(UserError, match="language"):
        stored_flag_list(sqlite_engine, "S1", WEEK, "fr")
    with pytest.raises(UserError, match="week 2024-W99 does not exist: 2024 has ISO weeks 1-52"):
        _build(settings, sqlite_engine, champion, town, week="2024-W99")
    with pytest.raises(UserError, match="has not begun"):
        _build(settings, sqlite_engine, champion, town, week=f"{date.today().year + 1}-W10")
    with pytest.raises(UserError, match="unknown school"):
        _build(settings, sqlite_engine, champion, town, school="S9")
    with pytest.raises(UserError, match="no pupils on roll"):
        _build(settings, sqlite_engine, champion, town, week="2022-W40")
    assert _counts(sqlite_engine) == {"scores": 0, "flag_lists": 0, "flags": 0, "reviews": 0}
    _build(settings, sqlite_engine, champion, town, school="S1")
    one = stored_flag_list(sqlite_engine, "S1", WEEK)["sections"]["statutory"][0]
    flag = stored_flag(sqlite_engine, one["id"], "en")
    assert flag["school_id"] == "S1" and flag["week"] == WEEK and flag["section"] == "statutory"
    assert json.loads(json.dumps(flag)) == flag


# -- exports: golden files ---------------------------------------------------------------------


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE_GOLDEN or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        if not UPDATE_GOLDEN:
            pytest.fail(f"golden file {name} was missing and has been written: check it in")
    assert actual == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if the features, the model or the exports changed "
        "on purpose, rewrite it with EWS_UPDATE_GOLDEN=1 and read the diff")


def _workbook_as_text(data: bytes) -> str:
    """What the team sees in the workbook, one line per fact or row: sheet names, frozen panes,
    column widths, number formats of the first data row, cell values."""
    import io

    from openpyxl import load_workbook

    def line(values) -> str:
        return json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values],
                          ensure_ascii=False)

    book = load_workbook(io.BytesIO(data))
    out = [f"sheets: {line(book.sheetnames)}"]
    for sheet in book.worksheets:
        widths = {k: v.width for k, v in sorted(sheet.column_dimensions.items())}
        out += [f"== {sheet.title}", f"freeze_panes: {sheet.freeze_panes}",
                f"widths: {json.dumps(widths)}"]
        if sheet.max_row > 1:
            out.append(f"number_formats: {line(c.number_format for c in sheet[2])}")
        out += [line(row) for row in sheet.iter_rows(values_only=True)]
    return "\n".join(out) + "\n"


def test_golden_weekly_list_in_three_formats(settings, sqlite_engine, champion, town):
    _build(settings, sqlite_engine, champion, town, week=PREVIOUS, school="S1")
    _build(settings, sqlite_engine, champion, town, school="S1")
    known = next(r for r in stored_flag_list(sqlite_engine, "S1", WEEK)["sections"][
        "already_concerning"] if r["pupil_id"] == KNOWN)
    record_review(sqlite_engine, known["id"], "already_known", "team:S1", date(2024, 11, 12))
    flag_list = stored_flag_list(sqlite_engine, "S1", WEEK)

    csv_text = flag_list_csv(flag_list)
    _golden("S1-2024-W46.csv", csv_text)
    assert "T0030" in csv_text and "already_known,2024-11-12" in csv_text

    workbook = flag_list_xlsx(flag_list)
    assert flag_list_xlsx(flag_list) == workbook, "the workbook's bytes must not depend on when"
    _golden("S1-2024-W46.xlsx.txt", _workbook_as_text(workbook))

    html = flag_list_html(flag_list)
    _golden("S1-2024-W46.html", html)
    for must in ("Tidlig opsporing", "Lovkrav", "Allerede bekymrende", "@media print",
                 'class="band band-', "Allerede kendt, 12.11.2024"):
        assert must in html
    for external in ("http://", "https://", "<script", "<link", "src="):
        assert external not in html
    assert flag_list_html(stored_flag_list(sqlite_engine, "S1", WEEK, "en"), "en") != html


# -- the command line ----------------------------------------------------------------------------


@pytest.mark.slow
def test_ews_flags_writes_three_formats_per_school(settings, champion, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ews.cli import app
    from model.records import audit_log
    from serving.ingest import ingest_folder
    from tests.factories import write_small_municipality

    engine = open_store(settings.store_url)
    ingest_folder(settings, engine, write_small_municipality(tmp_path / "delivery", pupils=40,
                                                             weeks=4))
    runner = CliRunner()
    out = tmp_path / "lists"

    monkeypatch.setattr("serving.champion.load_champion", lambda s: (_ for _ in ()).throw(
        UserError("no champion model is registered yet: run `ews train` first")))
    result = runner.invoke(app, ["flags", "--week", "2024-W36", "--out", str(out)])
    # without a champion the rules' sections go out; one line says early warning waits
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines() == [
        "note: no champion model is promoted yet: the early-warning section waits for a "
        "promoted model (ews train, ews promote)"]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("S1 2024-W36: 0 early warnings")
    assert all("waits for a promoted model" in line for line in lines)
    s1 = (out / "2024-W36" / "S1.csv").read_text()
    assert ",statutory," in s1 and ",early_warning," not in s1

    monkeypatch.setattr("serving.champion.load_champion", lambda s: champion)
    result = runner.invoke(app, ["flags", "--week", "2024-W36", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("S1 2024-W36: 3 early warnings")
    for school in ("S1", "S2"):
        for suffix in ("csv", "xlsx", "html"):
            assert (out / "2024-W36" / f"{school}.{suffix}").stat().st_size > 0
    with engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action, audit_log.c.actor).distinct()).all()
    assert actions == [("export_flags", "cli:flags")]

    for args, message in ((["--week", "2024-42"], "week must look like"),
                          (["--week", "2024-W36", "--school", "S9"], "unknown school"),
                          (["--week", "2024-W36", "--language", "fr"], "language")):
        result = runner.invoke(app, ["flags", "--out", str(out), *args])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    engine.dispose()


# -- one row a pupil (issue 17) and lists without a champion (issue 12) -------------------------


def test_no_pupil_appears_twice_in_a_week_and_counts_are_of_distinct_pupils(
        settings, sqlite_engine, champion, town):
    import re

    lists = _build(settings, sqlite_engine, champion, town)
    assert any(len(fl.flags) > len(fl.pupils()) for fl in lists)  # S1 has pupils in two sections
    for fl in lists:
        data = stored_flag_list(sqlite_engine, fl.school_id, WEEK)
        ids = [r["pupil_id"] for rows in data["sections"].values() for r in rows]
        assert len(ids) == len(set(ids)) and set(ids) == {f.pupil_id for f in fl.flags}
        for rows in data["sections"].values():
            assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        # a pupil folded into an earlier section names the others as a badge
        for section, rows in data["sections"].items():
            for r in rows:
                sections = {f.section for f in fl.flags if f.pupil_id == r["pupil_id"]}
                assert sections == {section, *r["also"]}
        # the CSV export has one row per pupil, too
        import csv
        import io

        csv_ids = [r["pupil_id"] for r in csv.DictReader(io.StringIO(flag_list_csv(data)))]
        assert sorted(csv_ids) == sorted(ids)
        found = re.search(r": (\d+) early warnings .*, (\d+) statutory \(\d+ notification\), "
                          r"(\d+) already concerning; (\d+) pupils listed, (\d+) new this week",
                          fl.summary())
        early, statutory, known, listed, new = map(int, found.groups())
        assert listed == len(ids) == early + statutory + known
        assert (early, statutory, known) == tuple(len(data["sections"][k]) for k in SECTIONS)
        assert new == sum(r["new_this_week"] for rows in data["sections"].values() for r in rows)


def test_without_a_champion_the_rules_sections_are_listed_and_early_warning_waits(
        settings, sqlite_engine, champion, town):
    lists = build_weekly_lists(settings, sqlite_engine, None, WEEK, inputs=town)
    with_model = score_week(settings, town, champion.model, AS_OF).set_index("pupil_id")
    s1 = stored_flag_list(sqlite_engine, "S1", WEEK)
    assert s1["model_version"] is None and "waits for a promoted model" in s1["message"]
    assert s1["sections"]["early_warning"] == []
    statutory = {r["pupil_id"]: r["statutory_level"] for r in s1["sections"]["statutory"]}
    assert statutory[NOTIFY] == "notification" and statutory[WARN] == "warning"
    listed = set(statutory) | set(_ids(s1["sections"]["already_concerning"]))
    concerning = set(with_model.index[with_model["already_concerning"]
                                      & (with_model["school_id"] == "S1")])
    assert concerning <= listed and KNOWN in listed
    assert all(r["risk"] is None and r["band"] is None
               for rows in s1["sections"].values() for r in rows)
    assert "waits for a promoted model" in lists[0].summary()
    assert _counts(sqlite_engine)["scores"] == 0  # nothing is stored as a score without a model
