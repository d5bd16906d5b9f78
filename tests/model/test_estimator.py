"""The estimator's contract and the behavioural guarantees of a trained model."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sklearn.base import clone

from model.estimator import RiskModel, risk_band
from model.features import FEATURE_NAMES, FeatureBuilder, feature_matrix
from model.labels import LabelSpec, attach_labels
from model.register import Register
from model.store import STATUS_CODES
from tests.municipality import small_municipality

MUNI = small_municipality(300, seed=4, years=("2022/23", "2023/24", "2024/25"))
AS_OF = date(2024, 11, 11)


@pytest.fixture(scope="module")
def trained() -> RiskModel:
    builder = MUNI.feature_builder()
    dates = [date(2023, m, d) for m, d in ((1, 9), (2, 6), (3, 6), (4, 17), (9, 4), (10, 2))]
    frame = attach_labels(builder.build(dates), builder.day_major, builder.row_of, LabelSpec())
    frame = frame[frame["label"].notna()]
    model = RiskModel(max_iter=60, min_samples_leaf=20).fit(feature_matrix(frame), frame["label"])
    return model.calibrate(feature_matrix(frame), frame["label"])


def test_follows_the_scikit_learn_contract(trained):
    fresh = clone(trained)
    assert not hasattr(fresh, "booster_")
    assert fresh.get_params() == trained.get_params()
    X = feature_matrix(MUNI.feature_builder().build([AS_OF]))
    proba = trained.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    # the probability is a monotone map of the margin, so the ranking is the booster's
    order_margin = np.argsort(trained.decision_function(X), kind="stable")
    assert np.all(np.diff(proba[order_margin, 1]) >= -1e-12)


def test_monotonic_constraints_follow_the_registry(trained):
    from model.features import FEATURES

    assert list(trained.booster_.monotonic_cst) == [f.direction for f in FEATURES]


def test_more_recent_absence_never_lowers_risk(trained):
    """Behaviour: turning a present day in the last 4 school weeks into an absence day never
    lowers any pupil's risk (checked for every pupil with such a day)."""
    reg = MUNI.register
    n = int(np.searchsorted(reg.days, np.datetime64(AS_OF)))
    before = MUNI.feature_builder().build([AS_OF]).set_index("pupil_id")
    risk_before = trained.predict_proba(feature_matrix(before))[:, 1]
    rng = np.random.default_rng(1)
    status, absent = reg.status.copy(), reg.absent.copy()
    changed = []
    for row in range(len(reg.pupil_ids)):
        days = [d for d in range(n - 20, n) if status[row, d] == 1]
        if days:
            d = int(rng.choice(days))
            status[row, d] = rng.choice([STATUS_CODES["illness"], STATUS_CODES["unauthorised"]])
            absent[row, d] = 1.0
            changed.append(reg.pupil_ids[row])
    # one extra day per pupil; the context features leave each pupil out, so pupils do not
    # move each other: compare each pupil against their own earlier risk
    after = FeatureBuilder(Register(reg.pupil_ids, reg.days, status, absent), MUNI.enrolments,
                           MUNI.concerns, MUNI.class_wellbeing, MUNI.pupils
                           ).build([AS_OF]).set_index("pupil_id")
    after = after.loc[before.index]
    for col in ("class_rate_12w", "school_rate_12w"):  # hold the classmates' absence fixed
        after[col] = before[col]
    risk_after = trained.predict_proba(feature_matrix(after))[:, 1]
    assert len(changed) > 250
    assert np.all(risk_after >= risk_before - 1e-12)
    assert (risk_after > risk_before).mean() > 0.3, "added absence should usually raise risk"


def test_risk_does_not_depend_on_other_pupils_ids_or_order(trained):
    reg = MUNI.register
    perm = np.random.default_rng(2).permutation(len(reg.pupil_ids))
    renamed = np.array([f"X{i}" for i in perm], dtype=object)
    mapping = dict(zip(reg.pupil_ids[perm], renamed, strict=True))
    shuffled = Register(renamed, reg.days, reg.status[perm], reg.absent[perm])
    enrol = MUNI.enrolments.assign(pupil_id=MUNI.enrolments["pupil_id"].map(mapping))
    enrol = enrol.sample(frac=1, random_state=0)
    concerns = MUNI.concerns.assign(pupil_id=MUNI.concerns["pupil_id"].map(mapping))
    pupils = MUNI.pupils.assign(pupil_id=MUNI.pupils["pupil_id"].map(mapping))
    a = MUNI.feature_builder().build([AS_OF])
    b = FeatureBuilder(shuffled, enrol, concerns, MUNI.class_wellbeing, pupils).build([AS_OF])
    risk_a = dict(zip(a["pupil_id"].map(mapping), trained.predict_proba(feature_matrix(a))[:, 1],
                      strict=True))
    risk_b = dict(zip(b["pupil_id"], trained.predict_proba(feature_matrix(b))[:, 1], strict=True))
    assert risk_a.keys() == risk_b.keys()
    assert all(risk_a[k] == pytest.approx(risk_b[k], abs=1e-12) for k in risk_a)


def test_an_unobserved_feature_is_held_at_zero():
    X = np.random.default_rng(0).random((200, len(FEATURE_NAMES))).astype(np.float32)
    X[:, 3] = np.nan
    y = (X[:, 0] > 0.5).astype(int)
    model = RiskModel(max_iter=10, min_samples_leaf=5).fit(X, y)
    assert list(model.unobserved_) == [3]
    X2 = X.copy()
    X2[:, 3] = 7.0
    np.testing.assert_allclose(model.decision_function(X), model.decision_function(X2))


def test_risk_bands():
    bands = risk_band(np.array([0.0, 0.09, 0.1, 0.3, 0.5, 0.99]))
    assert list(bands) == ["low", "low", "watch", "raised", "high", "high"]


def test_the_level_is_anchored_on_the_training_rows_and_the_slope_kept():
    rng = np.random.default_rng(3)
    margin = rng.normal(-2.0, 1.2, 4000)
    y = (rng.random(4000) < 0.5 * (1 / (1 + np.exp(-margin)))).astype(int)  # half the margin's risk
    as_of = np.array(["2024-10-07"] * 2000 + ["2025-03-03"] * 2000, dtype="datetime64[D]")
    model = RiskModel().fit_season(as_of, y)
    model.calibrate_margins(margin, 1 - (1 - y) * (rng.random(4000) < 0.8), as_of)  # a too-high level
    slope, before, weight = *model.calibration_, model.season_weight_
    assert model.probability(margin, as_of).mean() > y.mean() + 0.05
    december = np.array(["2025-12-01"], dtype="datetime64[D]")  # no training rows that month
    model.anchor_level(margin, y, as_of, december)
    assert model.calibration_ == (slope, before)  # the level stays where the season is unknown
    model.anchor_level(margin, y, as_of, as_of)
    assert model.calibration_[0] == slope and model.season_weight_ == weight
    assert model.calibration_[1] < before
    assert model.probability(margin, as_of).mean() == pytest.approx(y.mean(), abs=1e-6)
    # a rate higher than the map's moves the level up again
    model.anchor_level(margin, np.ones_like(y) * (rng.random(4000) < 0.6), as_of, as_of)
    assert model.probability(margin, as_of).mean() == pytest.approx(0.6, abs=0.02)


def test_the_season_is_known_only_for_months_with_training_rows():
    as_of = np.array(["2024-10-07"] * 60 + ["2024-11-04"] * 60 + ["2024-12-02"] * 10,
                     dtype="datetime64[D]")
    model = RiskModel().fit_season(as_of, np.arange(130) % 7 == 0)
    assert model.season_months_ == [10, 11]  # December has too few rows for a season of its own
    assert model.knows_season(np.array(["2025-10-13", "2025-11-17"], dtype="datetime64[D]"))
    assert not model.knows_season(np.array(["2025-11-17", "2025-12-08"], dtype="datetime64[D]"))
    assert not RiskModel().knows_season(as_of)  # no season table at all
