"""Probabilities a team can read (issue 12): a displayed risk never reads 0 % or 100 %."""

from __future__ import annotations

import pytest

from serving.exports import COLUMNS, _html_cell, risk_percent


@pytest.mark.parametrize(("risk", "da", "en"), [
    (0.0, "< 1 %", "< 1%"), (0.004, "< 1 %", "< 1%"), (0.0099, "< 1 %", "< 1%"),
    (0.01, "1 %", "1%"), (0.126, "13 %", "13%"), (0.99, "99 %", "99%"),
    (0.995, "> 99 %", "> 99%"), (1.0, "> 99 %", "> 99%"), (None, "–", "–"),
    (float("nan"), "–", "–")])
def test_a_displayed_risk_is_never_0_or_100_percent(risk, da, en):
    assert risk_percent(risk, "da") == da and risk_percent(risk, "en") == en


def test_the_printed_list_and_the_pages_use_it():
    from serving.pages.views import list_sections

    row = {"id": 1, "pupil_id": "p1", "rank": 1, "grade": 3, "risk": 0.9991, "band": "high",
           "reasons": [], "absence_year": 0.2, "trend": 0.0, "statutory_level": None,
           "unauthorised_quarter": None, "new_this_week": True, "review": None, "also": []}
    assert _html_cell(row, COLUMNS["risk"], "da")["text"] == "> 99 %"
    data = {"sections": {"early_warning": [row], "statutory": [],
                         "already_concerning": [{**row, "risk": 0.0002}]}}
    facts = {"threshold": "15 %", "horizon": 60, "trailing": 60, "capacity": 3}
    sections = list_sections(data, "da", {}, facts)
    assert sections[0]["rows"][0]["risk_text"] == "> 99 %"
    assert sections[2]["rows"][0]["risk_text"] == "< 1 %"
