"""The model card renderer: what a parent reads first, the figures after, both formats alike."""

from __future__ import annotations

import re

from model.card import card_blocks, model_card, render_html, render_markdown
from model.features import FEATURES
from model.rules import ALARM_RULES

EVALUATION = {
    "schema": 1, "trained_at": "2026-11-23T10:00:00+00:00",
    "label": {"threshold": 0.15, "horizon": 60, "trailing": 60},
    "capacity": {"share": 0.05, "minimum": 3},
    "split": {"train": "2024-09-09..2025-05-19 (33 as-of dates)",
              "calibration": "2025-09-29..2025-12-08 (10 as-of dates)",
              "test": "2026-03-23..2026-08-24 (16 as-of dates)"},
    "comparison": [
        {"ranker": "model", "roc_auc": 0.804, "pr_auc": 0.308, "precision_at_capacity": 0.327,
         "recall_at_capacity": 0.318, "lead_time_median_weeks": 2.0, "detected_before_onset": 0.53},
        {"ranker": "rule:days_11_last_year", "roc_auc": 0.772, "pr_auc": 0.163,
         "precision_at_capacity": 0.224, "recall_at_capacity": 0.22, "lead_time_median_weeks": 0.0,
         "detected_before_onset": 0.24},
    ],
    "best_rule": "rule:days_11_last_year", "lift": 1.46,
    "calibration": {"brier": 0.064, "ece": 0.022, "ece_not_yet_concerning": 0.024, "mean_risk": 0.13,
                    "observed_rate": 0.107},
    "fairness_ratios": {"gender.selection_rate_ratio": 0.92, "gender.precision_ratio": 0.96,
                        "gender.recall_ratio": 0.97, "grade_band.selection_rate_ratio": 0.28,
                        "grade_band.precision_ratio": 0.72, "grade_band.recall_ratio": 0.45},
    "fairness": [{"grouping": "gender", "group": "F", "selection_rate": 0.05, "precision": 0.33,
                  "recall": 0.31, "pupils": 9678}],
    "gates": {"passed": True, "reasons": ["beats the best rule (rule:days_11_last_year) 1.46x (gate 1.10x)"]},
    "uptake": [{"school_id": "S01", "flags": 12, "reviewed": 9, "share_reviewed": 0.75, "investigate": 4,
                "already_known": 3, "no_action": 2, "other": 0, "pupils_listed": 10, "pupils_acted_on": 4,
                "share_acted_on": 0.4}],
    "intervention_labels": "mark",
    "interventions": {"rows_marked": 37.0, "pupils_marked": 4.0, "marked_listed": 11.0,
                      "precision_at_capacity_without_marked": 0.318},
}
CONTACT = "Databeskyttelsesrådgiveren, Eksempel Kommune, dpo@example.dk"


def _text(blocks) -> str:
    return render_markdown(blocks)


def test_the_card_speaks_to_parents_in_danish_first_then_english_then_the_figures():
    md = _text(card_blocks("fravaersradar", "3", EVALUATION, {"aliases": ["champion"]}, CONTACT))
    dansk, english, technical = (md.index(h) for h in ("## Dansk", "## English", "## Technical details"))
    assert dansk < english < technical
    plain_da, plain_en = md[dansk:english], md[english:technical]
    assert "artikel 22" in plain_da and "GDPR article 22" in plain_en
    assert "sanktioner" in plain_da and "sanctions" in plain_en
    assert "beslutter" in plain_da and "A person decides" in plain_en
    # the plain parts carry the figures in words, and whom to contact
    assert "33 %" in plain_da and "22 %" in plain_da and "13,0 %" in plain_da
    assert "33 %" in plain_en and "2 weeks before" in plain_en
    assert CONTACT in plain_da and CONTACT in plain_en and CONTACT in md[technical:]
    # the technical half is not in the plain part: no feature names or metric tables there
    assert "total_rate_4w" not in md[:technical] and "ROC AUC" not in md[:technical]


def test_the_card_lists_every_feature_with_both_descriptions_and_what_is_excluded():
    md = _text(card_blocks("fravaersradar", "3", EVALUATION, {}, CONTACT))
    for f in FEATURES:
        assert f"| {f.name} | {f.da} | {f.en} |" in md
    for excluded in ("etnicitet", "indkomst", "fritekstnotater", "ethnicity", "parental education",
                     "social-services data", "individual wellbeing answers"):
        assert excluded in md.lower()


def test_the_card_reports_the_evaluation_against_the_rules_calibration_fairness_and_feedback():
    md = _text(card_blocks("fravaersradar", "3", EVALUATION, {}, CONTACT))
    assert "Training window (as-of dates): 2024-09-09..2025-05-19" in md
    assert "| the model | 0.804 | 0.308 | 0.327 | 0.318 | 2.0 | 53 % |" in md
    rule = next(r for r in ALARM_RULES if r.name == "days_11_last_year")
    assert f"| {rule.en} | 0.772 |" in md and "1.46x" in md
    assert "| 0.064 | 0.022 | 0.024 | 13.0 % | 10.7 % |" in md
    assert "| gender | 0.92 | 0.96 | 0.97 | yes |" in md
    assert "| grade band (0-3, 4-6, 7-10) | 0.28 | 0.72 | 0.45 | no |" in md
    assert "| S01 | 12 | 9 | 75 % | 4 | 3 | 2 | 0 | 4 of 10 |" in md
    assert "37 rows of 4 pupils, 11 of them listed by the model" in md and "0.318" in md
    # a grouping outside the band is named in the plain part and in the known limits
    assert "Uden for det bånd for denne version: klassetrin" in md
    assert "Disparities outside the 0.8-1.25 band for: grade band" in md


def test_markdown_and_html_say_the_same_and_the_html_escapes_text():
    evaluation = {**EVALUATION, "best_rule": "rule:x", "rules": {"rule:x": {"da": "<b>regel</b>",
                                                                            "en": "a <rule> & more"}},
                  "comparison": [*EVALUATION["comparison"],
                                 {"ranker": "rule:x", "precision_at_capacity": 0.2}]}
    md, html = model_card("fravaersradar", "3", evaluation, {}, CONTACT)
    assert "<rule>" not in html and "a &lt;rule&gt; &amp; more" in html
    assert html.startswith("<!doctype html>") and 'id="dansk"' in html and 'href="#english"' in html
    headings_md = re.findall(r"^#{1,3} (.+)$", md, flags=re.M)
    headings_html = re.findall(r"<h[1-3][^>]*>(.+?)</h[1-3]>", html)
    assert [h.replace("&amp;", "&") for h in headings_html] == headings_md
    assert md.count("\n| ") == html.count("<tr>")  # every table row, header rows included


def test_a_version_without_a_logged_evaluation_gets_the_registrys_metrics():
    registry = {"tags": {"train_window": "2024-08-26..2024-10-28", "gates": "a | b"},
                "metrics": {"model.roc_auc": 0.81, "calibration.ece": 0.02, "rows.train": 10.0}}
    md = render_markdown(card_blocks("fravaersradar", "1", None, registry, CONTACT))
    assert "| model.roc_auc | 0.810 |" in md and "rows.train" not in md
    assert "Training window (as-of dates): 2024-08-26..2024-10-28" in md
    assert "registered without a full evaluation" in md and "- a\n- b" in md
    assert "never reads" in md and "total_rate_4w" in md


def test_the_html_page_is_self_contained():
    html = render_html(card_blocks("fravaersradar", "3", EVALUATION, {}, CONTACT), "Model card")
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert '<html lang="da">' in html
