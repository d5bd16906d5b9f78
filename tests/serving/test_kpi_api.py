"""The municipality's view over HTTP: GET /v1/kpi and /pages/kpi for the municipality, analyst
and admin roles only, the same rows as `ews kpi`, every read audited, and the municipality role
refused (403) on every other route of the API and the pages."""

from __future__ import annotations

import csv
import re
from contextlib import contextmanager

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import func, select

from model.pseudonym import pseudonymise
from model.records import audit_log
from serving.auth import MUNICIPALITY_PATHS
from serving.pages.session import LANGUAGE_COOKIE, csrf_token
from tests.serving.conftest import KEY

# Routes anyone may call without a token (nothing about a pupil behind them).
OPEN = {"/health", "/metrics", "/v1/model/card", "/", "/pages/login", "/pages/logout",
        "/pages/language", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@pytest.fixture(scope="module")
def app(world):
    from serving.app import create_app

    return create_app(world.settings, poll_seconds=0, warm=False)


@pytest.fixture(scope="module")
def municipality(world) -> str:
    from serving.auth import create_token

    return create_token(world.engine, "municipality", name="kpi-municipality").token


@contextmanager
def browser(app, token: str | None = None, language: str | None = None):
    from fastapi.testclient import TestClient

    with TestClient(app, follow_redirects=False) as c:
        if language:
            c.cookies.set(LANGUAGE_COOKIE, language, path="/pages")
        if token is not None:
            assert c.post("/pages/login", data={"token": token}).status_code == 303
        yield c


def _audit(world, action: str, actor: str) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_log).where(
            audit_log.c.action == action, audit_log.c.actor == actor)).scalar()


def test_the_municipality_analysts_and_admins_read_the_kpis_as_json(app, world, municipality):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        answer = c.get("/v1/kpi", headers={"Authorization": f"Bearer {municipality}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        for who in ("analyst", "admin"):
            assert c.get("/v1/kpi", headers=world.headers(who)).json() == body
        for who in ("school-S1", "team-S1"):
            refused = c.get("/v1/kpi", headers=world.headers(who))
            assert refused.status_code == 403 and refused.json()["type"].endswith("role-forbidden")
        assert c.get("/v1/kpi").status_code == 401
        one = c.get("/v1/kpi?school_year=2024/25",
                    headers={"Authorization": f"Bearer {municipality}"})
        assert one.status_code == 200 and {r["school_year"] for r in one.json()["rows"]} == {
            "2024/25"}
        assert c.get("/v1/kpi?school_year=2019/20", headers=world.headers("admin")
                     ).status_code == 404
        assert c.get("/v1/kpi?school_year=2024/26", headers=world.headers("admin")
                     ).status_code == 422
    periods = {(r["school_id"], r["period"]) for r in body["rows"]}
    assert {("ALL", "2024/25"), ("ALL", "2024-Q3"), ("ALL", "2024-Q4"), ("S1", "2024/25")} <= periods
    assert body["baseline"] == "2024/25" and body["targets"] == {
        "share_over_15": -0.15, "unauthorised_15": -0.10}
    # what the stored lists of FLAG_WEEK led to: handed out in 2024-Q3
    lists = {(r["school_id"], r["period"]): r for r in body["lists"]}
    assert lists[("ALL", "2024-Q3")]["flags"] == sum(len(v) for v in world.flag_ids.values())
    assert "not an effect estimate" in body["follow_up"]["note"]["en"]
    # aggregates only: no pupil id or pseudonym anywhere in it
    text = answer.text
    for school in ("S1", "S2", "S3"):
        for raw in world.pupils_of(school):
            assert raw not in text and pseudonymise(raw, KEY.encode()) not in text
    assert _audit(world, "read_kpi", "kpi-municipality") >= 2


def test_the_json_rows_are_the_rows_of_ews_kpi(app, world, municipality, tmp_path):
    from fastapi.testclient import TestClient

    from model.kpi import KpiSpec, kpi_columns
    from model.kpi_report import compute_report
    from serving.kpi import write_kpi

    with TestClient(app) as c:
        rows = c.get("/v1/kpi", headers=world.headers("analyst")).json()["rows"]
    write_kpi(compute_report(world.engine, KpiSpec.from_settings(world.settings)), tmp_path)
    with open(tmp_path / "kpi.csv") as fh:
        written = list(csv.DictReader(fh))
    assert list(written[0]) == kpi_columns()
    assert len(written) == len(rows)
    for row, line in zip(rows, written, strict=True):
        for column, value in row.items():
            if value is None:
                assert line[column] == "", column
            elif isinstance(value, bool):
                assert line[column] == str(value).lower()
            elif isinstance(value, float):
                assert float(line[column]) == pytest.approx(value, abs=1e-6)
            else:
                assert line[column] == str(value)
    assert (tmp_path / "kpi.xlsx").stat().st_size > 3000


def _fill(path: str, world) -> str:
    """A route template with real values: a pupil, school, flag and token of the world."""
    values = {"pupil_id": pseudonymise(world.pupils_of("S1")[0], KEY.encode()),
              "school_id": "S1", "flag_id": str(world.flag_ids["S1"][0]), "token_id": "1",
              "version": "1", "name": "calibration.png"}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path)


def test_the_municipality_role_reaches_nothing_but_the_kpis(app, world, municipality):
    """Every route of the app (API and pages, enumerated, so a new one is covered), every
    method: 403 for a municipality token, except the KPI routes and the open ones."""
    from fastapi.testclient import TestClient

    routes = [(r.path, m) for r in iter_route_contexts(app.routes)
              if isinstance(r.original_route, APIRoute) for m in r.methods if m != "HEAD"]
    assert len(routes) > 20
    assert {"/v1/pupils/{pupil_id}/risk", "/pages/pupils/{pupil_id}",
            "/pages/schools/{school_id}/flags"} <= {p for p, _ in routes}
    checked = 0
    with TestClient(app, follow_redirects=False) as api, browser(app, municipality) as page:
        csrf = csrf_token(KEY.encode(), municipality)
        for path, method in routes:
            if path in OPEN or path in MUNICIPALITY_PATHS:
                continue
            url = _fill(path, world)
            if path.startswith("/pages"):
                answer = page.request(method, url, data={"csrf": csrf, "pupil_id": "x",
                                                         "decision": "investigate"}
                                      if method == "POST" else None)
            else:
                answer = api.request(method, url, headers={
                    "Authorization": f"Bearer {municipality}"}, json={} if method in (
                        "POST", "PUT") else None)
            assert answer.status_code == 403, (method, path, answer.status_code)
            assert world.pupils_of("S1")[0] not in answer.text
            checked += 1
        assert page.get("/pages/kpi").status_code == 200
        assert page.get("/pages/").headers["location"] == "/pages/kpi"
    assert checked >= 20


def test_the_kpi_page_in_danish_and_english(app, world, municipality):
    with browser(app, municipality) as c:
        answer = c.get("/pages/kpi")
        assert answer.status_code == 200
        html = answer.text
        assert '<html lang="da">' in html and "Nøgletal" in html and "Hele kommunen" in html
        assert html.count('class="kpiline"') == 5  # a chart per KPI
        assert "ikke et effektestimat" in html
        assert "Find elev" not in html  # no pupil look-up for the municipality
        assert world.pupils_of("S1")[0] not in html
        assert "script" not in html.lower().replace("description", "")
    with browser(app, municipality, language="en") as c:
        html = c.get("/pages/kpi?school_year=2024/25").text
        assert '<html lang="en">' in html and "Whole municipality" in html
        assert "not an effect estimate" in html
    with browser(app, world.tokens["analyst"]) as c:
        assert c.get("/pages/kpi").status_code == 200
    with browser(app, world.tokens["team-S1"]) as c:
        assert c.get("/pages/kpi").status_code == 403
    with world.engine.connect() as conn:
        details = [d for (d,) in conn.execute(select(audit_log.c.detail).where(
            audit_log.c.action == "read_kpi", audit_log.c.actor == "kpi-municipality"))]
    assert any(d.get("page") for d in details)
