"""Reasons: exact SHAP additivity, one reason per group, only risk-raising reasons, sentences
for every feature in Danish and English, plots for analysts."""

from __future__ import annotations

import gc
import weakref
from datetime import date

import numpy as np
import pandas as pd
import pytest

from model import reasons as R
from model.estimator import RiskModel
from model.feature_registry import NOT_A_REASON
from model.features import FEATURE_BY_NAME, FEATURE_NAMES, FEATURES, feature_matrix
from model.labels import LabelSpec, attach_labels
from tests.municipality import small_municipality

TRAIN_DATES = [date(2023, 10, 2), date(2023, 11, 6), date(2024, 1, 8), date(2024, 2, 5),
               date(2024, 3, 4), date(2024, 4, 8), date(2024, 9, 2), date(2024, 10, 7),
               date(2025, 1, 13), date(2025, 2, 3)]
AS_OF = date(2024, 11, 11)
GROUP_COLUMNS = {g: [i for i, f in enumerate(FEATURES) if f.group == g] for g in R.GROUPS}


def _small_model(inputs) -> RiskModel:
    builder = inputs.feature_builder()
    frame = attach_labels(builder.build(TRAIN_DATES), builder.day_major, builder.row_of,
                          LabelSpec())
    known = frame.loc[frame["label"].notna()]
    assert known["label"].sum() >= 20, "the small municipality must give enough positives"
    return RiskModel(max_iter=60, min_samples_leaf=20, max_leaf_nodes=8).fit(
        feature_matrix(known), known["label"].to_numpy())


@pytest.fixture(scope="module")
def scored():
    """A small trained model, a feature frame of every pupil on one as-of date, its explanation."""
    inputs = small_municipality()
    model = _small_model(inputs)
    frame = inputs.feature_builder().build([AS_OF, date(2024, 3, 4)])
    return model, frame, R.explain(model, feature_matrix(frame))


# -- explanations ---------------------------------------------------------------------------


def test_contributions_add_up_to_the_margin(scored):
    model, frame, explanation = scored
    X = feature_matrix(frame)
    assert np.isnan(X).any(), "the check must cover unknown values too"
    margin = model.decision_function(X)
    assert explanation.values.shape == (len(frame), len(FEATURES))
    np.testing.assert_allclose(explanation.base_value + explanation.values.sum(axis=1), margin,
                               atol=1e-6, rtol=0)
    np.testing.assert_allclose(explanation.margin, margin, atol=1e-6, rtol=0)


def test_group_sums_equal_the_sum_of_their_features(scored):
    _, _, explanation = scored
    groups = explanation.by_group()
    assert list(groups.columns) == list(R.GROUPS)
    for group, cols in GROUP_COLUMNS.items():
        np.testing.assert_allclose(groups[group], explanation.values[:, cols].sum(axis=1),
                                   atol=1e-12)
    np.testing.assert_allclose(groups.sum(axis=1), explanation.values.sum(axis=1), atol=1e-12)


def test_explainer_is_cached_per_booster_and_released_with_it():
    inputs = small_municipality(n_pupils=60, seed=3)
    model = RiskModel(max_iter=10, min_samples_leaf=20, max_leaf_nodes=4)
    frame = inputs.feature_builder().build([AS_OF])
    X = feature_matrix(frame)
    model.fit(X, (frame["total_rate_12w"] > frame["total_rate_12w"].median()).to_numpy())
    R.explain(model, X)
    first = R._explainer(model.booster_)
    R.explain(model, X[:5])
    assert R._explainer(model.booster_) is first, "a second batch must reuse the explainer"
    booster = weakref.ref(model.booster_)
    model.fit(X, (frame["total_rate_4w"] > frame["total_rate_4w"].median()).to_numpy())
    assert R._explainer(model.booster_) is not first, "a refit model gets a new explainer"
    gc.collect()
    assert booster() is None, "the cache must not keep an old booster alive"


def test_empty_batch_gives_no_contributions_and_no_reasons(scored):
    model, frame, _ = scored
    explanation = R.explain(model, np.zeros((0, len(FEATURES)), np.float32))
    assert explanation.values.shape == (0, len(FEATURES))
    assert R.reasons_for(frame.iloc[:0], explanation) == []


def test_global_importance_per_feature_and_group(scored):
    _, _, explanation = scored
    imp = R.global_importance(explanation)
    features = imp.loc[imp["level"] == "feature"].set_index("name")
    groups = imp.loc[imp["level"] == "group"].set_index("name")
    assert set(features.index) == set(FEATURE_NAMES) and set(groups.index) == set(R.GROUPS)
    np.testing.assert_allclose(features.loc[FEATURE_NAMES, "mean_abs_shap"],
                               np.abs(explanation.values).mean(axis=0))
    np.testing.assert_allclose(groups.loc[list(R.GROUPS), "mean_abs_shap"],
                               np.abs(explanation.group_values()).mean(axis=0))
    assert features["mean_abs_shap"].is_monotonic_decreasing
    assert features["rank"].tolist() == list(range(1, len(FEATURES) + 1))


# -- choosing reasons -------------------------------------------------------------------------


def test_only_positive_group_effects_become_reasons_largest_first(scored):
    _, frame, explanation = scored
    groups = explanation.group_values()
    reasons = R.reasons_for(frame, explanation, top=3)
    protective = R.protective_for(frame, explanation, top=3)
    assert len(reasons) == len(frame)
    candidates = [g for g, name in enumerate(R.GROUPS) if name not in NOT_A_REASON]
    for i, (shown, lowering) in enumerate(zip(reasons, protective, strict=True)):
        assert len(shown) == min(3, int((groups[i, candidates] > 0).sum()))
        assert not {r.group for r in shown + lowering} & set(NOT_A_REASON)
        effects = [r.effect for r in shown]
        assert all(e > 0 for e in effects) and effects == sorted(effects, reverse=True)
        assert [r.effect for r in lowering] == sorted(r.effect for r in lowering)
        assert all(r.effect < 0 for r in lowering)
        assert not {r.group for r in shown} & {r.group for r in lowering}
        for r, sign in [(r, 1) for r in shown] + [(r, -1) for r in lowering]:
            cols = GROUP_COLUMNS[r.group]
            assert r.effect == pytest.approx(explanation.values[i, cols].sum(), abs=1e-12)
            assert FEATURE_BY_NAME[r.feature].group == r.group
            best = cols[int(np.argmax(sign * explanation.values[i, cols]))]
            assert r.feature == FEATURE_NAMES[best], "the group's most contributing feature"
            value = frame[r.feature].iloc[i]
            assert (r.value is None) if pd.isna(value) else r.value == pytest.approx(float(value))
            assert r.text


def test_the_season_is_never_a_reason_even_when_it_moves_the_risk_most():
    """The school week of the year is the same for every pupil in a week: an input, no reason."""
    frame = pd.DataFrame({name: [0.0] for name in FEATURE_NAMES})
    frame["school_id"] = ["S1"]
    frame.loc[0, ["week_of_school_year", "unauthorised_rate_4w"]] = [14, 0.1]
    values = np.zeros((1, len(FEATURES)))
    values[0, FEATURE_NAMES.index("week_of_school_year")] = 2.0
    values[0, FEATURE_NAMES.index("unauthorised_rate_4w")] = 0.5
    explanation = R.Explanation(0.0, values)
    shown = R.reasons_for(frame, explanation, top=3)[0]
    assert [r.feature for r in shown] == ["unauthorised_rate_4w"]
    values[0, FEATURE_NAMES.index("week_of_school_year")] = -2.0
    assert R.protective_for(frame, R.Explanation(0.0, values), top=3) == [[]]


def test_reasons_from_hand_made_contributions():
    """Five windows of unauthorised absence add up to one reason; a lowering group never shows."""
    frame = pd.DataFrame({name: [0.0, 0.0] for name in FEATURE_NAMES})
    frame["school_id"] = ["S1", "S1"]
    frame.loc[0, ["unauthorised_rate_4w", "unauthorised_rate_2w"]] = [0.12, 0.2]
    frame.loc[0, "concern_wellbeing_180d"] = 2
    values = np.zeros((2, len(FEATURES)))
    col = FEATURE_NAMES.index
    windows = [col(f"unauthorised_rate_{w}") for w in ("2w", "4w", "8w", "12w")]
    values[0, windows] = [0.1, 0.3, 0.2, 0.1]
    values[0, col("concern_wellbeing_180d")] = 0.5
    values[0, col("concerns_90d")] = 0.2
    values[0, col("total_rate_12w")] = -0.9
    values[0, col("grade")] = 1e-9
    values[1, col("total_rate_12w")] = -0.4
    explanation = R.Explanation(-3.0, values)

    first, second = R.reasons_for(frame, explanation, top=3)
    assert [(r.group, r.feature) for r in first] == [
        ("unauthorised_recent", "unauthorised_rate_4w"),
        ("concerns", "concern_wellbeing_180d"),
        ("grade", "grade"),
    ]
    assert first[0].effect == pytest.approx(0.7) and first[1].effect == pytest.approx(0.7)
    assert first[0].text == "Ulovligt fravær de sidste 4 skoleuger: 12 % (skolens gennemsnit 6 %)"
    assert first[1].text == "2 bekymringer om trivsel de sidste 180 dage"
    assert second == [], "nothing raises the second pupil's risk"
    assert [r.group for r in R.reasons_for(frame, explanation, min_effect=0.01)[0]] == [
        "unauthorised_recent", "concerns"]
    lowering = R.protective_for(frame, explanation, language="en")
    assert [r.feature for r in lowering[0]] == ["total_rate_12w"]
    assert lowering[1][0].text == ("Total absence over the last 12 school weeks: 0% "
                                   "(school average 0%)")
    assert R.reason_columns(R.reasons_for(frame, explanation), top=3).to_dict("list") == {
        "reason_1": [first[0].text, ""], "reason_2": [first[1].text, ""],
        "reason_3": [first[2].text, ""]}


def test_school_average_comes_from_the_frame_or_from_the_context(scored):
    _, frame, explanation = scored
    full = R.reasons_for(frame, explanation, top=5)
    as_of = frame["as_of"] == pd.Timestamp(AS_OF)
    share = next((i, r) for i, rs in enumerate(full) if as_of.iloc[i] for r in rs
                 if FEATURE_BY_NAME[r.feature].unit == "share" and r.value is not None
                 and R._template(r.feature).compare)
    i, reason = share
    same = (frame["school_id"] == frame["school_id"].iloc[i]) & as_of
    mean = frame.loc[same, reason.feature].mean()
    assert reason.text.endswith(f"(skolens gennemsnit {round(100 * mean)} %)")

    # A short list needs the school means of every pupil on roll, passed as context.
    rows = np.flatnonzero(as_of)[:7]
    context = R.school_means(frame.loc[as_of])
    subset = frame.iloc[rows].reset_index(drop=True)
    sub_explanation = R.Explanation(explanation.base_value, explanation.values[rows])
    listed = R.reasons_for(subset, sub_explanation, top=5, context=context)
    assert [[r.text for r in rs] for rs in listed] == [[r.text for r in full[k]] for k in rows]

    one_number = R.reasons_for(subset, sub_explanation, context={reason.feature: 0.5})
    texts = [r.text for rs in one_number for r in rs if r.feature == reason.feature]
    assert all(t.endswith("(skolens gennemsnit 50 %)") for t in texts)


def test_language_switch_keeps_the_reasons_and_changes_the_words(scored):
    _, frame, explanation = scored
    da = R.reasons_for(frame, explanation)
    en = R.reasons_for(frame, explanation, language="en")
    assert [[(r.feature, r.effect) for r in rs] for rs in da] == [
        [(r.feature, r.effect) for r in rs] for rs in en]
    pairs = [(a.text, b.text) for x, y in zip(da, en, strict=True)
             for a, b in zip(x, y, strict=True)]
    assert pairs and all(a != b for a, b in pairs)
    assert any("skole" in a for a, _ in pairs) and not any("skole" in b for _, b in pairs)
    with pytest.raises(ValueError, match="language"):
        R.reasons_for(frame, explanation, language="de")


# -- sentences ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["da", "en"])
@pytest.mark.parametrize("generic", [False, True], ids=["template", "registry"])
def test_every_feature_renders_a_sentence(language, generic):
    """Typical, zero, fractional, large and unknown values; with and without comparison; needed
    features known and unknown."""
    values = [0.12, 0.0, 2.5, 1.0, 37.0, -0.05, np.nan]
    unknown = R.UNKNOWN[language]
    for feature in FEATURES:
        needs_known = {n: np.full(len(values), 0.2) for n in R._template(feature.name).needs}
        for comparison in (None, np.full(len(values), 0.3)):
            for needs in (needs_known, None):
                texts = R.render(feature.name, values, language, comparison, needs, generic=generic)
                assert len(texts) == len(values)
                for text in texts:
                    assert isinstance(text, str) and len(text) > 3, (feature.name, text)
                    assert "nan" not in text.lower() and "{" not in text, (feature.name, text)
                template = R._template(feature.name, generic)
                own = template.unknown_da if language == "da" else template.unknown_en
                assert texts[-1] == own or texts[-1].endswith(f": {unknown}"), texts[-1]


@pytest.mark.parametrize("language", ["da", "en"])
def test_every_feature_renders_the_values_of_a_real_frame(scored, language):
    _, frame, _ = scored
    for name in FEATURE_NAMES:
        needs = {n: frame[n].to_numpy() for n in R._template(name).needs}
        texts = R.render(name, frame[name].to_numpy(), language, needs=needs)
        assert all(t and "nan" not in t.lower() for t in texts), name


def test_templates_name_only_registry_features():
    """A new feature needs no template (the registry's sentence serves); a stale one fails."""
    assert set(R.TEMPLATES) <= set(FEATURE_NAMES)


@pytest.mark.parametrize(("feature", "value", "language", "comparison", "needs", "text"), [
    ("unauthorised_rate_4w", 0.12, "da", 0.02, None,
     "Ulovligt fravær de sidste 4 skoleuger: 12 % (skolens gennemsnit 2 %)"),
    ("unauthorised_rate_4w", 0.12, "en", 0.02, None,
     "Unauthorised absence over the last 4 school weeks: 12% (school average 2%)"),
    ("illness_rate_12w", 0.003, "da", None, None, "Sygefravær de sidste 12 skoleuger: under 1 %"),
    ("authorised_rate_8w", 0.125, "da", None, None,
     "Ekstraordinær frihed de sidste 8 skoleuger: 13 %"),
    ("monday_friday_days_12w", 6.0, "da", None, {"total_rate_12w": 8 / 60},
     "Fravær især mandage og fredage: 6 dage de sidste 12 skoleuger"),
    ("monday_friday_days_12w", 6.0, "da", 1.5, {"total_rate_12w": 20 / 60},
     "Fravær på mandage og fredage: 6 dage de sidste 12 skoleuger (skolens gennemsnit 1,5 dage)"),
    ("concern_wellbeing_180d", 2.0, "da", None, None,
     "2 bekymringer om trivsel de sidste 180 dage"),
    ("concern_wellbeing_180d", 1.0, "da", None, None,
     "1 bekymring om trivsel de sidste 180 dage"),
    ("concerns_90d", 0.0, "en", None, None, "No concerns over the last 90 days"),
    ("trend_4w", 0.06, "da", None, {"total_rate_4w": 0.09},
     "Stigende fravær: 9 % de sidste 4 skoleuger mod 3 % i de 8 skoleuger før"),
    ("trend_4w", -0.06, "en", None, {"total_rate_4w": 0.03},
     "Falling absence: 3% over the last 4 school weeks against 9% in the 8 school weeks before"),
    ("trend_4w", 0.06, "da", None, None,
     "Fravær de sidste 4 skoleuger minus fraværet i de 8 uger før: +0,06"),
    ("total_rate_last_year", 0.14, "da", None, None, "Fravær sidste skoleår: 14 %"),
    ("weeks_with_absence_12w", 9.0, "da", 4.25, None,
     "Fravær i 9 af de sidste 12 skoleuger (skolens gennemsnit 4,3 uger)"),
    ("after_break_days_year", 1.0, "da", None, None,
     "Fravær på første skoledag efter ferier og fridage: 1 dag i skoleåret"),
    ("current_spell", 4.0, "da", None, None, "Fraværende de seneste 4 skoledage i træk"),
    ("days_since_concern", np.nan, "da", None, None, "Ingen registrerede bekymringer"),
    ("class_wellbeing_social", 3.24, "da", 3.9, None,
     "Klassens sociale trivsel: 3,2 af 5 (skolens gennemsnit 3,9)"),
    ("class_wellbeing_social", np.nan, "da", 3.9, None, "Klassens sociale trivsel: ukendt"),
    ("class_wellbeing_change", -0.3, "da", None, None,
     "Klassens trivsel er faldet 0,3 point siden forrige måling"),
    ("slope_8w", 0.02, "da", None, None,
     "Stigende fravær: ca. 2 procentpoint mere hver uge de sidste 8 skoleuger"),
    ("grade", 0.0, "da", None, None, "Går i børnehaveklasse"),
    ("grade", 7.0, "da", None, None, "Går i 7. klasse"),
    ("new_school", 1.0, "en", None, None, "New school this school year"),
])
def test_golden_sentences(feature, value, language, comparison, needs, text):
    needs = {k: [v] for k, v in (needs or {}).items()}
    comparison = None if comparison is None else [comparison]
    assert R.render(feature, [value], language, comparison, needs) == [text]


# -- plots ----------------------------------------------------------------------------------


def test_plots_are_written_as_png(scored, tmp_path):
    _, frame, explanation = scored
    X = feature_matrix(frame)
    written = [
        R.summary_plot(explanation, X, tmp_path / "summary.png", max_display=10),
        R.summary_plot(explanation, frame, tmp_path / "summary_frame.png"),
        R.importance_plot(explanation, tmp_path / "groups.png"),
        R.importance_plot(explanation, tmp_path / "features.png", level="feature"),
        R.dependence_plot(explanation, X, "days_since_concern", tmp_path / "dep.png"),
        R.dependence_plot(explanation, X, "total_rate_12w", tmp_path / "dep2.png",
                          color_by="grade"),
    ]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
