"""Feedback in evaluation: the teams' uptake of the lists, and pupils under an active intervention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from model.calendar import danish_school_days
from model.settings import Settings
from tests.municipality import small_municipality
from training.feedback import Feedback, apply_interventions, load_feedback, review_uptake, under_intervention
from training.pipeline import train_and_evaluate

DAYS = np.array(danish_school_days("2024/25"), "datetime64[D]")
T0 = datetime(2024, 10, 1, tzinfo=UTC)


def _flags(rows):
    return pd.DataFrame(rows, columns=["flag_id", "week", "school_id", "as_of", "section", "pupil_id"])


def _reviews(rows):
    frame = pd.DataFrame(rows, columns=["flag_id", "pupil_id", "school_id", "week", "decision", "decided_on"])
    frame["created_at"] = [T0 + timedelta(minutes=i) for i in range(len(frame))]
    return frame


def _feedback() -> Feedback:
    monday = date(2024, 9, 23)
    flags = _flags([
        (1, "2024-W39", "S1", monday, "early_warning", "P1"),
        (2, "2024-W39", "S1", monday, "early_warning", "P2"),
        (3, "2024-W39", "S1", monday, "early_warning", "P3"),
        (4, "2024-W39", "S1", monday, "statutory", "P4"),
        (5, "2024-W39", "S2", monday, "early_warning", "Q1"),
        (6, "2024-W39", "S2", monday, "early_warning", "Q2"),
    ])
    reviews = _reviews([
        (1, "P1", "S1", "2024-W39", "investigate", date(2024, 9, 24)),
        (2, "P2", "S1", "2024-W39", "no_action", date(2024, 9, 24)),
        (2, "P2", "S1", "2024-W39", "investigate", date(2024, 9, 30)),  # the latest decision counts
        (4, "P4", "S1", "2024-W39", "investigate", date(2024, 9, 24)),  # statutory: not a warning
        (None, "Q1", "S2", "2024-W39", "already_known", date(2024, 9, 25)),  # its flag row is gone
    ])
    return Feedback(flags, reviews)


def test_uptake_counts_reviewed_early_warning_flags_per_school_and_overall():
    uptake = review_uptake(_feedback())
    s1, s2, overall = uptake.loc["S1"], uptake.loc["S2"], uptake.loc["all"]
    assert (s1["flags"], s1["reviewed"], s1["investigate"], s1["no_action"]) == (3, 2, 2, 0)
    assert s1["share_reviewed"] == pytest.approx(2 / 3)
    assert (s1["pupils_listed"], s1["pupils_acted_on"]) == (3, 2)
    assert (s2["flags"], s2["reviewed"], s2["already_known"], s2["pupils_acted_on"]) == (2, 1, 1, 0)
    assert (overall["flags"], overall["reviewed"], overall["investigate"]) == (5, 3, 2)
    assert overall["share_acted_on"] == pytest.approx(2 / 5)


def test_uptake_known_before_a_date_drops_later_lists_and_decisions():
    later = _feedback().known_before(date(2024, 9, 30))
    assert review_uptake(later).loc["S1", "investigate"] == 1  # P2's decision of 30 Sept is not known yet
    assert review_uptake(later).loc["S1", "no_action"] == 1


def test_an_investigate_decision_marks_the_pupils_rows_within_the_horizon_after_it():
    decided = DAYS[20].astype(object)
    reviews = _reviews([(1, "P1", "S1", "2024-W39", "investigate", decided),
                        (2, "P2", "S1", "2024-W39", "no_action", decided)])
    fb = Feedback(_flags([]), reviews)
    as_of = [DAYS[20], DAYS[21], DAYS[20 + 60], DAYS[20 + 61], DAYS[19]]
    frame = pd.DataFrame({"pupil_id": ["P1"] * 5 + ["P2", "P3"],
                          "as_of": pd.to_datetime([*as_of, DAYS[25], DAYS[25]])})
    mask = under_intervention(frame, fb, DAYS, horizon=60)
    # same day (not yet before t), 1 and 60 school days after: marked; 61 after or before: not;
    # "no_action" and other pupils: never
    assert mask.tolist() == [False, True, True, False, False, False, False]


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mark, exclude, ignore"):
        apply_interventions(pd.DataFrame({"pupil_id": [], "as_of": []}), _feedback(), DAYS, 60, "drop")


@pytest.fixture(scope="module")
def municipality():
    return small_municipality(300, seed=1)


def _settings(mode: str) -> Settings:
    return Settings(home="/tmp/unused-ews-home", intervention_labels=mode)


@pytest.fixture(scope="module")
def intervention(municipality):
    """One pupil who is not yet concerning at the first test date, and a team's "investigate"
    decision for them three days before it."""
    plain = train_and_evaluate(municipality, _settings("ignore"))
    test = plain.test_frame
    first = test["as_of"].min()
    candidates = test[(test["as_of"] == first) & ~test["already_concerning"] & test["label"].notna()]
    pupil = str(candidates["pupil_id"].iloc[0])
    decided = (first - pd.Timedelta(days=3)).date()
    reviews = _reviews([(None, pupil, str(candidates["school_id"].iloc[0]), "2024-W47", "investigate",
                         decided)])
    return plain, pupil, decided, Feedback(_flags([]), reviews)


@pytest.mark.slow
def test_an_excluded_pupil_drops_out_of_the_evaluation_set(municipality, intervention):
    plain, pupil, decided, fb = intervention
    excluded = train_and_evaluate(municipality, _settings("exclude"), feedback=fb)
    days = municipality.register.days
    before = plain.test_frame[plain.test_frame["pupil_id"] == pupil]
    within = (np.searchsorted(days, before["as_of"].to_numpy("datetime64[D]"))
              - np.searchsorted(days, np.datetime64(decided))) <= 60
    assert within.any() and not within.all()  # the test slice reaches past the window
    after = excluded.test_frame[excluded.test_frame["pupil_id"] == pupil]
    assert sorted(after["as_of"]) == sorted(before.loc[~within, "as_of"])
    assert len(excluded.test_frame) == len(plain.test_frame) - int(within.sum())
    assert excluded.interventions["rows_excluded"] == within.sum()
    assert excluded.metrics()["intervention.rows_excluded"] == within.sum()


@pytest.mark.slow
def test_a_marked_pupil_stays_in_the_evaluation_and_is_reported(municipality, intervention):
    plain, pupil, decided, fb = intervention
    marked = train_and_evaluate(municipality, _settings("mark"), feedback=fb)
    test = marked.test_frame
    assert len(test) == len(plain.test_frame)
    flagged = test.loc[test["under_intervention"], "pupil_id"].unique().tolist()
    assert flagged == [pupil]
    eligible_marked = test["under_intervention"] & ~test["already_concerning"] & test["label"].notna()
    assert marked.interventions["rows_marked"] == eligible_marked.sum() > 0
    assert marked.interventions["pupils_marked"] == 1
    metrics = marked.metrics()
    assert metrics["intervention.rows_marked"] == eligible_marked.sum()
    assert 0 <= metrics["intervention.precision_at_capacity_without_marked"] <= 1
    # marking changes nothing in the evaluation itself
    pd.testing.assert_frame_equal(marked.comparison, plain.comparison)


@pytest.mark.slow
def test_ignore_leaves_the_evaluation_unchanged(municipality, intervention):
    plain, _, _, fb = intervention
    ignored = train_and_evaluate(municipality, _settings("ignore"), feedback=fb)
    assert "under_intervention" not in ignored.test_frame
    assert not any(k.startswith("intervention.") for k in ignored.metrics())


def test_feedback_is_read_from_the_store(store_url):
    from model.records import flag_lists, flags, reviews
    from model.store import open_store

    engine = open_store(store_url)
    with engine.begin() as conn:
        list_id = conn.execute(insert(flag_lists).values(
            week="2024-W39", school_id="S1", as_of=date(2024, 9, 23), model_version="1", capacity=3,
            pupils_on_roll=60, created_at=T0)).inserted_primary_key[0]
        ids = [conn.execute(insert(flags).values(
            list_id=list_id, pupil_id=p, section="early_warning", rank=i + 1, grade=5, reasons=[],
            new_this_week=True)).inserted_primary_key[0] for i, p in enumerate(["P1", "P2"])]
        conn.execute(insert(reviews).values(
            flag_id=ids[0], pupil_id="P1", school_id="S1", week="2024-W39", decision="investigate",
            decided_on=date(2024, 9, 24), decided_by="team-S1 (team)", created_at=T0))
    fb = load_feedback(engine)
    engine.dispose()
    assert sorted(fb.flags["pupil_id"]) == ["P1", "P2"]
    assert fb.reviews["decision"].tolist() == ["investigate"]
    uptake = review_uptake(fb)
    assert (uptake.loc["all", "flags"], uptake.loc["all", "reviewed"]) == (2, 1)
    assert uptake.loc["S1", "share_reviewed"] == pytest.approx(0.5)
