"""The municipality's page /pages/kpi in a real browser (Playwright, Debian's Chromium, headless)
on a two-year demo store with stored lists and decisions: a chart per KPI with its target line,
a table per school, the English switch, a tablet's width, and axe-core with no serious or
critical WCAG 2.1 AA violation. Takes docs/img/kpi-page.png (written there with
EWS_UPDATE_SCREENSHOTS=1). Skips without /usr/bin/chromium, except under CI."""

from __future__ import annotations

import pytest

from tests.serving.conftest import served
from tests.serving.test_pages_browser import (
    DESKTOP,
    TABLET,
    chromium,  # noqa: F401 - the module's browser fixture
    log_in,
    screenshot,
    serious_violations,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def town_site(tmp_path_factory, chromium):  # noqa: F811
    from serving.app import create_app
    from serving.auth import create_token
    from tests.kpi_town import build_town

    _, settings, engine = build_town(tmp_path_factory.mktemp("kpi-browser"))
    token = create_token(engine, "municipality", name="municipality").token
    app = create_app(settings, poll_seconds=0, warm=False)
    with served(app) as base:
        yield base, token


@pytest.fixture
def open_kpi(chromium, town_site):  # noqa: F811
    base, token = town_site
    contexts = []

    def login(viewport: dict = DESKTOP):
        return log_in(chromium, contexts, base, token, viewport)

    yield login
    for context in contexts:
        context.close()


def test_the_municipality_logs_in_and_sees_its_kpis(open_kpi, town_site, tmp_path):
    base, _ = town_site
    page = open_kpi()
    assert page.url == f"{base}/pages/kpi"
    assert page.get_by_role("heading", level=1).inner_text() == \
        "Fravær i kommunen: nøgletal og mål"
    charts = page.locator("svg.kpiline")
    assert charts.count() == 5
    # quarters of both school years, with the target line on the targeted KPIs
    problematic = page.get_by_role("img", name="Andel ≥ 15 % fravær")
    assert problematic.locator("circle.point").count() >= 6
    assert problematic.locator("polyline.target").count() >= 1
    assert problematic.locator("text").last.text_content() == "mål"
    # a table per school (and the whole municipality) for the latest school year
    for name in ("Hele kommunen", "S01", "S02", "S03", "S04"):
        assert page.get_by_role("heading", name=name, exact=True).is_visible()
    assert page.get_by_role("heading", name="Hvad ugelisterne førte til").is_visible()
    assert "ikke et effektestimat" in page.locator("main").inner_text()
    # the running school year by default: its running quarter says how far it goes
    latest = page.locator("#school-ALL + .table-wrap").inner_text()
    assert "2025-Q4" in latest and "til og med 1.12.2025" in latest
    assert serious_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    screenshot(page, "kpi-page.png", tmp_path)
    # choose the baseline year: its quarters are there, complete
    page.get_by_label("Skoleår").select_option("2024/25")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Vis").click()
    baseline = page.locator("#school-ALL + .table-wrap").inner_text()
    assert "2025-Q2" in baseline and "til og med" not in baseline


def test_english_switch_and_a_tablet(open_kpi):
    page = open_kpi(TABLET)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", level=1).inner_text() == \
        "Absence in the municipality: KPIs and targets"
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Whole municipality", exact=True).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    assert serious_violations(page) == []
