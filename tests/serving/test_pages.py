"""The team pages over HTTP (system tier, no browser): login and the session cookie, CSRF, the
same scoping as the API, the list, one pupil, the decision, exports, the model page, audit."""

from __future__ import annotations

import io
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from model.pseudonym import pseudonymise
from model.records import audit_log, reviews
from serving.pages.session import SESSION_COOKIE, csrf_token
from tests.serving.conftest import FLAG_WEEK, KEY, store_a_monitoring_run


@pytest.fixture(scope="module")
def app(world):
    from serving.app import create_app

    return create_app(world.settings, poll_seconds=0, warm=False)


@contextmanager
def browser(app, world, who: str | None = None):
    """A client with its own cookie jar, logged in as `who` through the form."""
    from fastapi.testclient import TestClient

    with TestClient(app, follow_redirects=False) as c:
        if who is not None:
            answer = c.post("/pages/login", data={"token": world.tokens[who]})
            assert answer.status_code == 303, answer.text
        yield c


def csrf_of(c) -> str:
    """The CSRF token of the client's session (derived from its session id, not the token)."""
    return csrf_token(KEY.encode(), c.cookies.get(SESSION_COOKIE))


def audit_count(world, action: str) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_log)
                            .where(audit_log.c.action == action)).scalar()


def pseudonym(world, school: str, i: int = 0) -> str:
    return pseudonymise(world.pupils_of(school)[i], KEY.encode())


# -- login and the session --------------------------------------------------------------------


def test_pages_need_a_login(app, world):
    with browser(app, world) as c:
        answer = c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/pages/login?next=%2Fpages%2Fschools")
        assert c.get("/pages/login").status_code == 200


def test_login_sets_an_httponly_strict_cookie_and_goes_to_the_teams_list(app, world):
    with browser(app, world) as c:
        answer = c.post("/pages/login", data={"token": world.tokens["team-S1"]})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/pages/schools/S1/flags"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        for attribute in ("HttpOnly", "Path=/pages", "SameSite=strict"):
            assert attribute.lower() in cookie.lower()
        assert "secure" not in cookie.lower()  # plain http here; Secure over https
        assert c.get("/pages/schools/S1/flags").status_code == 200


def test_a_wrong_or_revoked_token_is_refused_with_one_line(app, world):
    with browser(app, world) as c:
        for token in ("ews_not-a-token", world.tokens["revoked"]):
            answer = c.post("/pages/login", data={"token": token})
            assert answer.status_code == 401
            assert "Adgangsnøglen er ukendt eller spærret." in answer.text
            assert "set-cookie" not in answer.headers


def test_login_redirects_only_to_the_pages(app, world):
    with browser(app, world) as c:
        for evil in ("https://evil.example/", "//evil.example/x", "/v1/tokens", "/pages\\x"):
            answer = c.post("/pages/login", data={"token": world.tokens["team-S1"],
                                                  "next": evil})
            assert answer.headers["location"] == "/pages/schools/S1/flags"
        answer = c.post("/pages/login", data={"token": world.tokens["team-S1"],
                                              "next": f"/pages/schools/S1/flags?week={FLAG_WEEK}"})
        assert answer.headers["location"] == f"/pages/schools/S1/flags?week={FLAG_WEEK}"


def test_logout_needs_the_csrf_token_and_clears_the_cookie(app, world):
    with browser(app, world, "team-S1") as c:
        assert c.post("/pages/logout", data={"csrf": "wrong"}).status_code == 403
        assert c.get("/pages/schools/S1/flags").status_code == 200
        csrf = csrf_of(c)
        answer = c.post("/pages/logout", data={"csrf": csrf})
        assert answer.status_code == 303 and answer.headers["location"] == "/pages/login?bye=true"
        assert f'{SESSION_COOKIE}=""' in answer.headers["set-cookie"]
        assert c.get("/pages/schools/S1/flags").status_code == 303


def test_a_form_from_another_origin_is_refused(app, world):
    flag_id = world.flag_ids["S1"][0]
    with browser(app, world, "team-S1") as c:
        answer = c.post(f"/pages/flags/{flag_id}/review",
                        data={"decision": "investigate", "csrf": csrf_of(c)},
                        headers={"Origin": "https://evil.example"})
        assert answer.status_code == 403
        assert "Formularen er udløbet" in answer.text
        answer = c.post("/pages/login", data={"token": world.tokens["team-S1"]},
                        headers={"Origin": "https://evil.example"})
        assert answer.status_code == 403


def test_pages_send_a_strict_content_security_policy(app, world):
    with browser(app, world, "team-S1") as c:
        answer = c.get("/pages/schools/S1/flags")
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["cache-control"] == "no-store"
        assert 'src="http' not in answer.text and "href=\"http" not in answer.text


# -- the list ---------------------------------------------------------------------------------


def test_the_list_shows_three_sections_with_words_for_the_bands(app, world):
    from serving.stored_lists import stored_flag_list

    stored = stored_flag_list(world.engine, "S1", FLAG_WEEK)
    with browser(app, world, "team-S1") as c:
        html = c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}").text
    assert '<html lang="da">' in html
    for title in ("1. Tidlig opsporing", "2. Lovkrav", "3. Allerede bekymrende"):
        assert title in html
    early = stored["sections"]["early_warning"]
    assert early, "the tiny world lists pupils early"
    for row in early:
        assert f'id="flag-{row["id"]}"' in html
        assert f">{row['pupil_id']}</a>" in html
        for reason in row["reasons"]:
            assert reason["text"].replace("'", "&#39;") in html
    words = {"high": "høj", "raised": "forhøjet", "watch": "opmærksomhed", "low": "lav"}
    for row in early:
        assert f'<span class="band band-{row["band"]}">{words[row["band"]]}</span>' in html
    assert html.count('class="sparkline"') == sum(len(v) for v in stored["sections"].values())
    assert "Hent som Excel" in html and "Udskriftsvenlig" in html


def test_the_list_is_audited_as_the_api_audits_it(app, world):
    before = audit_count(world, "read_flag_list")
    with browser(app, world, "team-S1") as c:
        c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}")
    assert audit_count(world, "read_flag_list") > before


def test_a_team_sees_only_its_own_schools_list(app, world):
    with browser(app, world, "team-S2") as c:
        other = c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}")
        missing = c.get(f"/pages/schools/S9/flags?week={FLAG_WEEK}")
        assert other.status_code == missing.status_code == 403
        assert other.text == missing.text
        assert c.get(f"/pages/schools/S1/flags.xlsx?week={FLAG_WEEK}").status_code == 403
    with browser(app, world, "school-S1") as c:  # school staff read pupils, not the list
        assert c.get("/pages/schools/S1/flags").status_code == 403


def test_a_malformed_week_is_an_error_page_not_json(app, world):
    with browser(app, world, "team-S1") as c:
        answer = c.get("/pages/schools/S1/flags?week=last-week")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "Ugyldig forespørgsel." in answer.text


def test_english_switch(app, world):
    with browser(app, world, "team-S1") as c:
        answer = c.get("/pages/language?to=en&next=/pages/schools/S1/flags")
        assert answer.status_code == 303 and answer.headers["location"] == "/pages/schools/S1/flags"
        html = c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}").text
    assert '<html lang="en">' in html and "1. Early warning" in html and "Download as Excel" in html


def test_excel_download_is_the_stored_list_and_audited(app, world):
    from openpyxl import load_workbook

    from serving.exports import flag_list_xlsx
    from serving.stored_lists import stored_flag_list

    before = audit_count(world, "export_flags")
    with browser(app, world, "team-S1") as c:
        answer = c.get(f"/pages/schools/S1/flags.xlsx?week={FLAG_WEEK}")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == \
        (f'attachment; filename="ugeliste-S1-{FLAG_WEEK}.xlsx"; '
         f"filename*=UTF-8''ugeliste-S1-{FLAG_WEEK}.xlsx")
    assert answer.content == flag_list_xlsx(stored_flag_list(world.engine, "S1", FLAG_WEEK))
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["Tidlig opsporing", "Lovkrav", "Allerede bekymrende"]
    assert audit_count(world, "export_flags") > before


def test_print_view_is_the_printable_export(app, world):
    with browser(app, world, "team-S1") as c:
        html = c.get(f"/pages/schools/S1/flags/print?week={FLAG_WEEK}").text
    assert "@media print" in html and "Ugeliste S1, uge 39 2024" in html


# -- the decision -----------------------------------------------------------------------------


def test_a_decision_is_recorded_audited_and_shown_in_the_list_at_once(app, world):
    from serving.stored_lists import stored_flag_list

    flag = stored_flag_list(world.engine, "S1", FLAG_WEEK)["sections"]["early_warning"][-1]
    before = audit_count(world, "review")
    with browser(app, world, "team-S1") as c:
        c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}")  # cached before the decision
        answer = c.post(f"/pages/flags/{flag['id']}/review",
                        data={"decision": "already_known", "csrf": csrf_of(c),
                              "next": f"/pages/schools/S1/flags?week={FLAG_WEEK}"})
        assert answer.status_code == 303
        assert answer.headers["location"] == (f"/pages/schools/S1/flags?week={FLAG_WEEK}"
                                               f"&saved={flag['id']}#decision-{flag['id']}")
        html = c.get(answer.headers["location"].split("#")[0]).text
    row = html[html.index(f'id="flag-{flag["id"]}"'):]
    row = row[: row.index("</tr>")]
    assert "Allerede kendt, " in row and "Beslutningen er gemt." in row
    with world.engine.connect() as conn:
        decided = conn.execute(select(reviews.c.decision, reviews.c.decided_by).where(
            reviews.c.flag_id == flag["id"]).order_by(reviews.c.id.desc())).first()
    assert decided == ("already_known", "team:team-S1")
    assert audit_count(world, "review") == before + 1


def test_a_decision_needs_a_coded_value_the_team_role_and_its_own_school(app, world):
    s1_flag = world.flag_ids["S1"][0]
    with browser(app, world, "team-S1") as c:
        answer = c.post(f"/pages/flags/{s1_flag}/review",
                        data={"decision": "call the parents", "csrf": csrf_of(c)})
        assert answer.status_code == 422
        assert c.post(f"/pages/flags/{s1_flag}/review",
                      data={"decision": "investigate"}).status_code == 403  # no CSRF token
    with browser(app, world, "team-S2") as c:
        other = c.post(f"/pages/flags/{s1_flag}/review",
                       data={"decision": "investigate", "csrf": csrf_of(c)})
        missing = c.post("/pages/flags/999999/review",
                         data={"decision": "investigate", "csrf": csrf_of(c)})
        assert other.status_code == missing.status_code == 403
        assert other.text == missing.text
    with browser(app, world, "analyst") as c:
        answer = c.post(f"/pages/flags/{s1_flag}/review",
                        data={"decision": "investigate", "csrf": csrf_of(c)})
        assert answer.status_code == 403


# -- one pupil --------------------------------------------------------------------------------


def test_the_pupil_page_shows_register_risk_reasons_and_is_audited(app, world):
    pupil = pseudonym(world, "S1", 1)
    with browser(app, world, "team-S1") as c:
        api = c.get(f"/v1/pupils/{pupil}/risk", headers=world.headers("team-S1")).json()
        risk_before, history_before = (audit_count(world, "read_risk"),
                                       audit_count(world, "read_history"))
        answer = c.get(f"/pages/pupils/{pupil}")
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert f"Elev {pupil}" in html
    assert 'class="heatmap"' in html and 'class="riskline"' in html
    assert html.count('data-date="') > 40  # one square per school day so far
    words = {"high": "høj", "raised": "forhøjet", "watch": "opmærksomhed", "low": "lav"}
    assert f"Risikoniveau: {words[api['band']]}" in html
    for reason in api["reasons"]:
        if reason["effect"] > 0:
            assert reason["text"].replace("'", "&#39;") in html
    assert audit_count(world, "read_risk") == risk_before + 1
    assert audit_count(world, "read_history") == history_before + 1


def test_another_schools_pupil_looks_exactly_like_an_unknown_one(app, world):
    with browser(app, world, "team-S2") as c:
        other = c.get(f"/pages/pupils/{pseudonym(world, 'S1')}")
        unknown = c.get("/pages/pupils/E-no-such-pupil")
        cpr = c.get(f"/pages/pupils/{world.pupils_of('S1')[0]}")
    assert other.status_code == unknown.status_code == cpr.status_code == 403
    assert other.text == unknown.text == cpr.text
    assert "Siden findes ikke, eller dit login må ikke se den." in other.text


def test_a_cpr_lookup_redirects_to_the_pseudonym(app, world):
    cpr = next(p for p in world.pupils_of("S1") if re.fullmatch(r"\d{6}-?\d{4}", p))
    with browser(app, world, "school-S1") as c:
        answer = c.post("/pages/pupils", data={"pupil_id": cpr, "csrf": csrf_of(c)})
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location == f"/pages/pupils/{pseudonymise(cpr, KEY.encode())}"
        assert cpr not in location and cpr.replace("-", "") not in location
        page = c.get(location)
        assert page.status_code == 200 and cpr not in page.text
        # School staff read risk and reasons; lists and the team's decisions are the team's.
        assert "Registrér teamets beslutning" not in page.text
        assert "Teamets beslutninger" not in page.text


# -- the model page ---------------------------------------------------------------------------


def test_model_page_is_for_analysts_and_shows_champion_and_challengers(app, world):
    with browser(app, world, "analyst") as c:
        html = c.get("/pages/model").text
        assert "Champion (i brug)" in html and "Udfordrere" in html
        assert f"{world.versions[0]} (champion)" in html
        assert f"Version {world.versions[1]}" in html
        assert 'href="/v1/model/card"' in html
    with browser(app, world, "team-S1") as c:
        assert c.get("/pages/model").status_code == 403


def test_model_page_shows_the_latest_monitoring_run(app, world):
    run_id, result = store_a_monitoring_run(world, "2024-W45")
    with browser(app, world, "analyst") as c:
        html = c.get("/pages/model").text
    section = html[html.index('id="monitoring"'):html.index('id="card"')]
    assert "Overvågning" in section and "Uge 2024-W45" in section
    words = {"ok": "i orden", "warning": "advarsel", "alarm": "alarm"}
    assert words[result.status] in section
    assert all(school in section for school in ("S1", "S2", "S3"))
    judged = result.psi[(result.psi["scope"] == "all") & result.psi["judged"].isna()
                        & result.psi["psi"].notna()]
    from markupsafe import escape

    from serving.pages.model_texts import feature_label

    top = judged.sort_values("psi").iloc[-1]["name"]  # by the feature's Danish description
    assert f'<th scope="row">{escape(feature_label(top, "da"))}</th>' in section
    assert not any(str(p) in section for p in world.town["pupils"]["pupil_id"])


def test_model_plot_names_are_checked(app, world):
    with browser(app, world, "analyst") as c:
        base = f"/pages/model/versions/{world.versions[0]}/plots"
        assert c.get(f"{base}/..%2F..%2Fmodel.pkl").status_code == 404
        assert c.get(f"{base}/missing.png").status_code == 404
        assert c.get(f"{base}/fairness.csv").status_code == 404  # plots only
        assert c.get(f"{base}/model.pkl").status_code == 404


def test_analysts_see_every_school_and_get_404_for_an_unknown_pupil(app, world):
    with browser(app, world, "analyst") as c:
        assert c.get(f"/pages/pupils/{pseudonym(world, 'S2')}").status_code == 200
        assert c.get("/pages/pupils/E-no-such-pupil").status_code == 404
        answer = c.get("/pages/schools?school=S2")
        assert answer.headers["location"] == "/pages/schools/S2/flags"
        assert c.get(f"/pages/schools/S2/flags?week={FLAG_WEEK}").status_code == 200


def test_a_revoked_token_stops_working_on_the_next_page(app, world):
    from serving.auth import create_token, revoke_token

    token = create_token(world.engine, "team", "S1", name="pages-revoked-later").token
    with browser(app, world) as c:
        assert c.post("/pages/login", data={"token": token}).status_code == 303
        assert c.get("/pages/schools/S1/flags").status_code == 200
        revoke_token(world.engine, "pages-revoked-later")
        assert c.get("/pages/schools/S1/flags").status_code == 303


def test_no_cpr_number_reaches_a_page_or_the_excel_file(app, world):
    cprs = [p for p in world.pupils_of("S1") if re.fullmatch(r"\d{6}-?\d{4}", p)]
    assert cprs, "the tiny world delivers half its pupils with a CPR number"
    with browser(app, world, "team-S1") as c:
        html = c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}").text
        sheet = c.get(f"/pages/schools/S1/flags.xlsx?week={FLAG_WEEK}").content
        answer = c.get(f"/pages/pupils/{pseudonymise(cprs[0], KEY.encode())}")
        assert answer.status_code == 200
        pupil = answer.text
    from openpyxl import load_workbook

    cells = " ".join(str(cell.value) for ws in load_workbook(io.BytesIO(sheet)).worksheets
                     for row in ws.iter_rows() for cell in row)
    for cpr in cprs:
        for text in (html, cells, pupil):
            assert cpr not in text and cpr.replace("-", "") not in text
