"""Issue 17's small things on the pages (no browser; tests/serving/test_pages_browser.py measures
them in Chromium): holiday weeks marked in the sparklines, the calendar free to grow, the print
view's screen width apart from its print layout."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest

from serving.pages import charts, views
from serving.pages.texts import UI
from tests.serving.conftest import FLAG_WEEK

ROOT = Path(__file__).resolve().parents[2]


def test_a_week_without_school_days_is_a_titled_box_where_the_line_pauses():
    svg = str(charts.sparkline([0.1, None, None, 0.2, 0.3], "Fravær", gap_title="Ferieuge"))
    gaps = re.findall(r'<rect x="([\d.]+)" y="2" width="([\d.]+)" height="18" class="gap">'
                      r"<title>Ferieuge</title></rect>", svg)
    assert len(gaps) == 2
    for x, width in gaps:
        assert float(x) >= 0 and float(x) + float(width) <= 84
    assert svg.count("<polyline") == 1 and svg.count('class="dot"') == 1  # 0.1 stands alone
    assert 'class="gap"' not in str(charts.sparkline([0.1, 0.2, 0.3], "Fravær", gap_title="x"))


@pytest.mark.parametrize("language", ["da", "en"])
def test_the_sparklines_label_explains_gaps_only_when_there_are_some(language):
    note = UI[language]["sparkline_gaps"]
    assert note in views.spark_label([0.1, None, 0.2], language)
    assert note not in views.spark_label([0.1, 0.0, 0.2], language)


def test_the_calendar_is_drawn_from_the_left_and_may_grow_with_the_screen():
    day = charts.RegisterDay
    from datetime import date

    svg = str(charts.calendar_heatmap([day(date(2024, 9, 2), "present", 0.0),
                                       day(date(2024, 9, 3), "illness", 1.0)], "da", "t", "d"))
    assert 'preserveAspectRatio="xMinYMin meet"' in svg
    css = (ROOT / "serving" / "static" / "pages.css").read_text()
    rule = re.search(r"\.card\.wide svg\.heatmap \{([^}]*)\}", css)
    assert rule and "width: 100%" in rule.group(1) and "max-height" in rule.group(1)


def test_the_print_views_screen_width_leaves_its_print_layout_alone():
    html = (ROOT / "serving" / "templates" / "flag_list.html").read_text()
    screen = re.search(r"@media screen \{(.*?)\n  \}", html, re.S).group(1)
    assert "max-width" in screen and "td.reason { min-width: 0; }" in screen
    outside = html.replace(screen, "")
    assert "td.reason { min-width: 14rem; }" in outside  # what print (and the file) keep
    assert "@page { size: A4 landscape" in outside


@pytest.fixture(scope="module")
def app(world):
    from serving.app import create_app

    return create_app(world.settings, poll_seconds=0, warm=False)


@contextmanager
def logged_in(app, world, who: str):
    from fastapi.testclient import TestClient

    with TestClient(app, follow_redirects=False) as c:
        assert c.post("/pages/login", data={"token": world.tokens[who]}).status_code == 303
        yield c


@pytest.mark.parametrize("language", ["da", "en"])
def test_the_list_explains_the_gaps_and_marks_the_holiday_weeks(app, world, language):
    with logged_in(app, world, "team-S1") as c:
        if language == "en":
            c.get("/pages/language?to=en&next=/pages/schools/S1/flags")
        page = c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}").text
    ui = UI[language]
    assert ui["sparkline_legend"] in page
    # The ten weeks before the list's Monday (2024-W39) hold the summer holiday.
    assert page.count(f'class="gap"><title>{ui["sparkline_gap"]}</title>') >= 1
