"""Monitoring's pure part: PSI, bins fixed at training time, the reference (aggregates only),
drift per school, realised precision of stored lists against the rules."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from model import monitoring as mon
from model.features import FEATURE_NAMES
from model.labels import LabelSpec, attach_labels
from model.rules import ALARM_RULES
from tests.municipality import small_municipality


def test_psi_is_zero_for_equal_distributions_and_matches_the_formula():
    assert mon.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0)
    expected = 0.4 * np.log(0.9 / 0.5) + (-0.4) * np.log(0.1 / 0.5)
    assert mon.psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(expected)
    # an empty bin is floored, not infinite
    assert np.isfinite(mon.psi([0.5, 0.5], [1.0, 0.0]))
    with pytest.raises(ValueError, match="bins differ"):
        mon.psi([0.5, 0.5], [1.0])


def test_bins_are_fixed_inner_edges_with_missing_apart():
    values = np.array([0, 0, 0, 0, 1, 2, 3, 4, 5, 100, np.nan, np.nan], float)
    edges = mon.bin_edges(values, bins=4)
    assert min(edges) > 0 or edges[0] == 0  # inner quantiles only
    assert 100 not in edges and max(edges) < 100  # never the maximum (one pupil's value)
    props, missing = mon.proportions(values, edges)
    assert missing == pytest.approx(2 / 12, abs=1e-6)
    assert sum(props) + missing == pytest.approx(1.0, abs=1e-5)
    # a value equal to an edge falls in the bin below it
    props, _ = mon.proportions(np.array([edges[0]]), edges)
    assert props[0] == 1.0
    assert mon.level(0.05, 0.1, 0.25) == mon.OK
    assert mon.level(0.1, 0.1, 0.25) == mon.WARNING
    assert mon.level(0.3, 0.1, 0.25) == mon.ALARM


@pytest.fixture(scope="module")
def window():
    """Feature rows of the small municipality over ten weekly as-of dates, with a score."""
    town = small_municipality(n_pupils=240, seed=3)
    builder = town.feature_builder()
    dates = [date(2024, 1, 8) + pd.Timedelta(weeks=k).to_pytimedelta() for k in range(10)]
    frame = builder.build(dates)
    score = np.nan_to_num(frame["total_rate_4w"].to_numpy()) * 2 + 0.05
    return town, builder, frame, score


def test_the_reference_holds_aggregates_only(window):
    town, _, frame, score = window
    reference = mon.reference_distributions(frame, score)
    text = json.dumps(reference)
    assert not any(pid in text for pid in town.register.pupil_ids)
    assert set(reference["edges"]) == set(FEATURE_NAMES) | {mon.SCORE}
    assert set(reference["schools"]) == {"S1", "S2"}
    assert set(reference["months"]) == {"01", "02", "03"}
    for name, column in reference["columns"].items():
        assert sum(column["proportions"]) + column["missing"] == pytest.approx(1.0, abs=1e-4), name
        values = frame[name].to_numpy(float) if name != mon.SCORE else score
        finite = values[~np.isnan(values)]
        # every edge is a decile: at least a tenth of the rows lie at or beyond it on each
        # side, so no edge is one pupil's extreme value
        for edge in reference["edges"][name]:
            assert (finite <= edge).mean() >= 0.1 - 1e-3 and (finite >= edge).mean() >= 0.1 - 1e-3
    assert reference["as_of_dates"] == {"first": "2024-01-08", "last": "2024-03-11", "count": 10}
    mon.check_reference(reference)
    with pytest.raises(ValueError):
        mon.check_reference({"format": 99})


def test_a_week_like_the_window_is_stable_and_a_school_without_illness_drifts(window):
    _, _, frame, score = window
    reference = mon.reference_distributions(frame, score)
    # a week drawn from the window: every pupil's row at one random as-of date of the window
    rng = np.random.default_rng(0)
    picked = frame.groupby("pupil_id").sample(n=1, random_state=rng).index.to_numpy()
    week = frame.loc[picked].reset_index(drop=True)
    week_score = score[picked]
    stable = mon.population_stability(reference, week, week_score)
    assert set(stable["scope"]) == {mon.ALL, "S1", "S2"}
    assert set(stable["basis"]) == {"window"}
    judged = stable.loc[stable["judged"].isna()]
    assert (judged["level"] != mon.ALARM).all(), judged.head()
    # cohort features are shown, never judged
    cohort = stable.loc[stable["name"].isin(mon.COHORT_FEATURES)]
    assert len(cohort) and cohort["judged"].notna().all() and (cohort["level"] == mon.OK).all()

    shifted = week.copy()
    s2 = (shifted["school_id"] == "S2").to_numpy()
    for name in [c for c in FEATURE_NAMES if c.startswith("illness_")]:
        shifted.loc[s2, name] = 0.0  # S2 stopped registering illness
    drift = mon.population_stability(reference, shifted, week_score)
    alarms = drift.loc[drift["level"] == mon.ALARM]
    assert "S2" in set(alarms["scope"]) and "S1" not in set(alarms["scope"])
    assert set(alarms.loc[alarms["scope"] == "S2", "name"]) <= {
        c for c in FEATURE_NAMES if c.startswith("illness_")}
    assert mon.worst(drift["level"]) == mon.ALARM
    # with a month the window has, that month is the basis; without one, the whole window
    assert set(mon.population_stability(reference, week, week_score, month=2)["basis"]) == {"month"}
    assert set(mon.population_stability(reference, week, week_score, month=8)["basis"]) == {"window"}


def test_realised_precision_counts_the_list_and_the_rules_at_its_length(window):
    town, builder, _, _ = window
    as_of = date(2024, 1, 8)
    labelled = attach_labels(builder.build([as_of], with_rules=True), builder.day_major,
                             builder.row_of, LabelSpec(horizon=20))
    s1 = labelled.loc[(labelled["school_id"] == "S1") & ~labelled["already_concerning"]]
    s1 = s1.loc[s1["label"].notna()]
    positives = s1.loc[s1["label"] == 1, "pupil_id"].head(2).tolist()
    negatives = s1.loc[s1["label"] == 0, "pupil_id"].head(2).tolist()
    assert len(positives) == 2 and len(negatives) == 2
    lists = pd.DataFrame({"list_id": [1], "week": ["2024-W02"], "school_id": ["S1"],
                          "as_of": [as_of], "capacity": [4]})
    listed = pd.DataFrame({"list_id": [1] * 4, "pupil_id": positives + negatives})
    per_list = mon.realised_precision(labelled, lists, listed)
    model = per_list.loc[per_list["ranker"] == mon.MODEL_RANKER].iloc[0]
    assert (model["listed"], model["known"], model["positives"]) == (4, 4, 2)
    rules = per_list.loc[per_list["ranker"] != mon.MODEL_RANKER]
    assert len(rules) == len(ALARM_RULES) and (rules["listed"] == 4).all()
    # a rule's list is its own top 4 among the school's not-yet-concerning pupils
    for rule in ALARM_RULES:
        scores = s1[f"rule_{rule.name}"].to_numpy()
        order = np.argsort(-scores, kind="stable")
        if scores[order[3]] == scores[order[4]]:
            continue  # a tie at the cut: the capacity module's tie-break decides
        row = rules.loc[rules["ranker"] == f"rule:{rule.name}"].iloc[0]
        assert row["known"] == 4
        assert row["positives"] == int(s1["label"].to_numpy()[order[:4]].sum()), rule.name
    pooled = mon.pooled_precision(per_list)
    assert pooled.iloc[0]["ranker"] == mon.MODEL_RANKER
    assert pooled.iloc[0]["precision"] == pytest.approx(0.5)


def test_the_precision_verdict_needs_enough_outcomes_and_compares_with_the_best_rule():
    def pooled(model_p, rule_p, known):
        return pd.DataFrame({"ranker": ["model", "rule:a", "rule:b"], "lists": [5, 5, 5],
                             "listed": [known] * 3, "known": [known] * 3,
                             "positives": [0, 0, 0],
                             "precision": [model_p, rule_p, rule_p / 2]})

    assert mon.precision_verdict(pooled(0.1, 0.3, 10), min_known=30)[0] == mon.OK
    level, sentence = mon.precision_verdict(pooled(0.1, 0.3, 100), min_known=30)
    assert level == mon.ALARM and "rule:a" in sentence
    assert mon.precision_verdict(pooled(0.28, 0.3, 100), margin=0.05)[0] == mon.OK
    assert mon.precision_verdict(pooled(0.4, 0.3, 100))[0] == mon.OK
    assert mon.precision_verdict(mon.pooled_precision(pd.DataFrame()))[0] == mon.OK
