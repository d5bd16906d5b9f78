"""The team pages' parts (code tier): charts, weekly absence for the sparklines, the register days
of the calendar, reason bars, number formats, and the session's CSRF and redirect rules."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pytest

from model.register import Register
from model.store import STATUS_CODES
from serving.pages import charts, views
from serving.pages.session import csrf_token, local_path
from serving.pages.texts import percent, points


def school_days(start: date, n: int) -> np.ndarray:
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return np.array(days, dtype="datetime64[D]")


def register(statuses: list[list[str]], absent: list[list[float]], start=date(2024, 8, 12)):
    days = school_days(start, len(statuses[0]))
    status = np.array([[STATUS_CODES.get(s, 0) for s in row] for row in statuses], np.int8)
    return Register(np.array([f"p{i}" for i in range(len(statuses))], object), days, status,
                    np.array(absent, np.float32))


def test_weekly_absence_is_the_share_of_registered_days_per_week():
    # Two weeks of 5 days: week 1 has two whole days and one half day absent, week 2 none;
    # the second pupil is not registered in week 1.
    reg = register([["illness", "illness", "present", "unauthorised", "present"] + ["present"] * 5,
                    [""] * 5 + ["present"] * 5],
                   [[1, 1, 0, 0.5, 0] + [0] * 5, [0] * 10])
    got = views.weekly_absence(reg, ["p0", "p1", "nobody"], date(2024, 8, 26), weeks=2)
    assert got["p0"] == pytest.approx([2.5 / 5, 0.0])
    assert got["p1"] == [None, 0.0]
    assert got["nobody"] == [None, None]


def test_weekly_absence_uses_only_days_before_the_as_of_date():
    reg = register([["present"] * 5 + ["illness"] * 5], [[0] * 5 + [1] * 5])
    assert views.weekly_absence(reg, ["p0"], date(2024, 8, 19), weeks=1)["p0"] == [0.0]


def test_sparkline_is_an_accessible_svg_and_breaks_at_missing_weeks():
    svg = str(charts.sparkline([0.1, None, 0.2, 0.3], "Fravær pr. uge"))
    assert svg.startswith('<svg class="sparkline" role="img"')
    assert 'aria-label="Fravær pr. uge"' in svg and "<title>Fravær pr. uge</title>" in svg
    assert svg.count("<polyline") == 1 and svg.count('class="dot"') == 1  # 0.1 stands alone
    assert svg.count('class="end"') == 1


def test_sparkline_never_exceeds_its_box():
    svg = str(charts.sparkline([0.0, 1.0, 0.5], "x", width=84, height=22))
    ys = [float(y) for y in re.findall(r",(\d+\.\d)", svg)]
    assert ys and min(ys) >= 2 and max(ys) <= 20


def test_register_days_and_status_counts():
    reg = register([["present", "illness", "unauthorised", "", "authorised"]],
                   [[0, 1, 0.25, 0, 1]])
    days = views.register_days(reg, "p0", "2024/25", date(2024, 8, 15))
    assert [d.status for d in days] == ["present", "illness", "unauthorised", "none"]
    assert [d.partial for d in days] == [False, False, True, False]
    counts = {c["status"]: (c["days"], c["partial"]) for c in views.status_counts(days, "da")}
    assert counts == {"present": (1, 0), "illness": (1, 0), "authorised": (0, 0),
                      "unauthorised": (0, 1)}
    unknown = views.register_days(reg, "someone else", "2024/25", None)
    assert {d.status for d in unknown} == {"none"}


def test_calendar_heatmap_has_a_square_per_school_day_with_its_status_in_words():
    reg = register([["present", "illness", "unauthorised", "authorised", "present"]],
                   [[0, 1, 0.5, 1, 0]])
    days = views.register_days(reg, "p0", "2024/25", None)
    svg = str(charts.calendar_heatmap(days, "da", "Fravær", "Kalender"))
    assert svg.count('class="day ') == 5
    assert "12.8.2024: Til stede" in svg and "13.8.2024: Sygdom" in svg
    assert "14.8.2024: Delvist fravær (ulovligt fravær, 50 %)" in svg
    assert 'fill="url(#partial-unauthorised)"' in svg  # hatched, not only a colour
    assert ">man<" in svg and ">aug<" in svg


def test_risk_line_puts_concerns_on_the_timeline():
    weeks = [{"as_of": date(2024, 9, 2) + timedelta(weeks=i), "risk": r}
             for i, r in enumerate([0.05, 0.2, None, 0.7])]
    svg = str(charts.risk_line(weeks, [(date(2024, 9, 10), "mobning (lærer)")], "da", "Risiko",
                               "Risiko uge for uge", {"watch": "opmærksomhed", "raised": "forhøjet",
                                                      "high": "høj"}))
    assert svg.count('class="point"') == 3
    assert "10.9.2024: mobning (lærer)" in svg
    assert "høj 50 %" in svg and "opmærksomhed 10 %" in svg


def test_reason_bars_are_relative_to_the_largest_and_skip_lowering_reasons():
    bars = views.reason_bars([{"text": "a", "effect": 0.6}, {"text": "b", "effect": 0.2},
                              {"text": "c", "effect": -0.3}], "da")
    assert [(b["text"], b["width"]) for b in bars] == [("a", 100.0), ("b", 33.3)]
    assert bars[0]["share"] == "75 % af det, der trækker risikoen op"
    assert views.reason_bars([{"text": "c", "effect": -0.1}], "en") == []


def test_number_formats_per_language():
    assert percent(0.125, "da", 1) == "12,5 %" and percent(0.125, "en", 1) == "12.5%"
    assert percent(None, "da") == "–" and percent(float("nan"), "en") == "–"
    assert points(-0.038, "da") == "−3,8 pct.-point" and points(0.2, "en") == "+20.0 pp"


def test_csrf_token_depends_on_key_and_session():
    a = csrf_token(b"k1", "ews_token-a")
    assert a == csrf_token(b"k1", "ews_token-a")
    assert a != csrf_token(b"k2", "ews_token-a") and a != csrf_token(b"k1", "ews_token-b")
    assert "ews_token-a" not in a


@pytest.mark.parametrize("target", ["https://evil.example/pages/", "//evil.example/pages/x",
                                    "/v1/tokens", "/pages\\evil", "/pagesx", "/pages/x\r\nSet:",
                                    "", None])
def test_redirect_targets_outside_the_pages_fall_back(target):
    assert local_path(target, "/pages/") == "/pages/"


def test_redirect_targets_inside_the_pages_are_kept():
    assert local_path("/pages/schools/S1/flags?week=2024-W39", "/") == \
        "/pages/schools/S1/flags?week=2024-W39"


def test_version_view_reads_rankers_from_metric_names():
    from serving.pages.registry import VersionView

    view = VersionView("3", ["champion"], {}, {
        "model.precision_at_capacity": 0.25, "model.roc_auc": 0.76,
        "rule.days_4_last_month.precision_at_capacity": 0.10, "logistic_baseline.roc_auc": 0.8,
        "calibration.ece": 0.04, "fairness.gender.precision_ratio": 0.7,
        "lift_over_best_rule": 1.5})
    assert view.champion
    assert view.rankers() == [
        ("model", {"precision_at_capacity": 0.25, "roc_auc": 0.76}),
        ("logistic_baseline", {"roc_auc": 0.8}),
        ("rule.days_4_last_month", {"precision_at_capacity": 0.10})]
    assert view.with_prefix("calibration.") == [("ece", 0.04)]
    assert view.with_prefix("fairness.") == [("gender.precision_ratio", 0.7)]
