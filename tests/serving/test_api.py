"""The HTTP API end to end (system tier): every path and role, the risk identical to batch
scoring, history, flag lists, reviews, the register push, the model, health and metrics."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import func, select

from model.calendar import danish_school_days, school_year_of
from model.pseudonym import pseudonymise
from model.records import reviews
from model.store import school_days
from tests.serving.conftest import FLAG_WEEK, KEY

ROLES = ("school-S1", "team-S1", "school-S2", "team-S2", "analyst", "admin")


def latest_day(world) -> date:
    with world.engine.connect() as conn:
        return conn.execute(select(func.max(school_days.c.date))).scalar()


def first_flag(world, school: str) -> int:
    return world.flag_ids[school][0]


# -- the role matrix --------------------------------------------------------------------------

# path -> expected status per token (school/team tokens are of S1 or S2; the data is S1's)
READS = {
    "risk": {"school-S1": 200, "team-S1": 200, "school-S2": 403, "team-S2": 403,
             "analyst": 200, "admin": 200},
    "history": {"school-S1": 200, "team-S1": 200, "school-S2": 403, "team-S2": 403,
                "analyst": 200, "admin": 200},
    "flags": {"school-S1": 403, "team-S1": 200, "school-S2": 403, "team-S2": 403,
              "analyst": 200, "admin": 200},
    "flag": {"school-S1": 403, "team-S1": 200, "school-S2": 403, "team-S2": 403,
             "analyst": 200, "admin": 200},
    "model": dict.fromkeys(ROLES, 200),
    "tokens": {**dict.fromkeys(ROLES, 403), "admin": 200},
}


def read_path(world, what: str) -> str:
    pupil = world.pupils_of("S1")[1]
    return {"risk": f"/v1/pupils/{pupil}/risk", "history": f"/v1/pupils/{pupil}/history",
            "flags": f"/v1/schools/S1/flags?week={FLAG_WEEK}",
            "flag": f"/v1/schools/S1/flags/{first_flag(world, 'S1')}",
            "model": "/v1/model", "tokens": "/v1/tokens"}[what]


@pytest.mark.parametrize("what", list(READS))
def test_every_read_path_for_every_role(world, client, what):
    path = read_path(world, what)
    got = {who: client.get(path, headers=world.headers(who)).status_code for who in ROLES}
    assert got == READS[what]
    assert client.get(path).status_code == 401


@pytest.mark.parametrize("path", ["/health", "/metrics", "/v1/model/card", "/openapi.json"])
def test_open_paths_need_no_token(client, path):
    assert client.get(path).status_code == 200


def test_refresh_is_for_analysts_and_admins(world, client):
    got = {who: client.post("/v1/model/refresh", headers=world.headers(who)).status_code
           for who in ROLES}
    assert got == {**dict.fromkeys(ROLES, 403), "analyst": 200, "admin": 200}
    body = client.post("/v1/model/refresh", headers=world.headers("admin")).json()
    assert body["model_version"] == world.versions[0] and body["registry_reachable"] is True


# -- risk ---------------------------------------------------------------------------------------


def batch_scores(world, as_of: date, language: str = "da"):
    """What `ews score` computes: every pupil of the municipality, with reasons."""
    from model.inputs import load_inputs
    from model.labels import LabelSpec
    from serving.champion import load_champion
    from serving.scoring import score_frame, with_reasons

    champion = load_champion(world.settings, world.versions[0])
    inputs = load_inputs(world.engine)
    frame = score_frame(inputs.feature_builder(), champion.model, as_of,
                        LabelSpec.from_settings(world.settings))
    return with_reasons(frame, champion.model, language=language).set_index("pupil_id")


@pytest.mark.parametrize("language", ["da", "en"])
def test_risk_is_identical_to_scoring_the_whole_municipality(world, client, language):
    as_of = date(2024, 10, 7)
    batch = batch_scores(world, as_of, language)
    for raw in world.pupils_of("S1")[:6] + world.pupils_of("S2")[:6]:
        body = client.get(f"/v1/pupils/{raw}/risk?as_of={as_of}&lang={language}",
                          headers=world.headers("analyst")).json()
        pupil = pseudonymise(raw, KEY.encode())
        assert body["pupil_id"] == pupil and body["as_of"] == as_of.isoformat()
        row = batch.loc[pupil]
        assert body["risk"] == pytest.approx(float(row["risk"]), abs=1e-12)
        assert body["band"] == row["band"]
        assert body["already_concerning"] == bool(row["already_concerning"])
        assert [r["text"] for r in body["reasons"]] == [r.text for r in row["reasons"]]
        assert [r["feature"] for r in body["reasons"]] == [r.feature for r in row["reasons"]]
        assert body["model_version"] == world.versions[0] and body["language"] == language


def test_risk_defaults_to_the_latest_registered_school_day(world, client):
    pupil = world.pupils_of("S2")[0]
    body = client.get(f"/v1/pupils/{pupil}/risk", headers=world.headers("team-S2")).json()
    assert body["as_of"] == latest_day(world).isoformat()
    assert set(body) >= {"pupil_id", "school_id", "as_of", "risk", "band", "already_concerning",
                         "reasons", "model_version"}
    assert 0 <= body["risk"] <= 1 and body["school_id"] == "S2"
    for reason in body["reasons"]:
        assert set(reason) >= {"feature", "value", "effect", "text"} and reason["effect"] > 0


def test_a_cpr_number_and_its_pseudonym_give_the_same_answer(world, client):
    cpr = next(iter(world.town.cpr))
    pseudonym = pseudonymise(cpr, KEY.encode())
    a = client.get(f"/v1/pupils/{cpr}/risk", headers=world.headers("analyst")).json()
    b = client.get(f"/v1/pupils/{pseudonym}/risk", headers=world.headers("analyst")).json()
    no_hyphen = client.get(f"/v1/pupils/{cpr.replace('-', '')}/risk",
                           headers=world.headers("analyst")).json()
    assert a == b == no_hyphen and a["pupil_id"] == pseudonym
    assert cpr not in str(a) and cpr.replace("-", "") not in str(a)


def test_risk_rejects_a_future_or_malformed_date(world, client):
    pupil = world.pupils_of("S1")[0]
    for bad in ("2999-01-01", "yesterday", "2024-13-01"):
        r = client.get(f"/v1/pupils/{pupil}/risk?as_of={bad}", headers=world.headers("analyst"))
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = client.get(f"/v1/pupils/{pupil}/risk?lang=fr", headers=world.headers("analyst"))
    assert r.status_code == 422


def test_an_analyst_gets_404_for_a_pupil_that_does_not_exist(world, client):
    r = client.get("/v1/pupils/P999/risk", headers=world.headers("analyst"))
    assert r.status_code == 404 and r.json()["status"] == 404
    r = client.get("/v1/pupils/P001/risk?as_of=2023-10-02", headers=world.headers("analyst"))
    assert r.status_code == 404  # not enrolled in that school year


# -- history ------------------------------------------------------------------------------------


def test_history_weeks_match_the_register_and_the_weekly_risk(world, client):
    raw = world.pupils_of("S1")[2]
    body = client.get(f"/v1/pupils/{raw}/history?school_year=2024/25",
                      headers=world.headers("team-S1")).json()
    assert body["school_year"] == "2024/25" and body["school_id"] == "S1"
    weeks = body["weeks"]
    assert len(weeks) >= 12
    # the absence of each week is the pupil's own register of that week
    att = world.town["attendance"]
    mine = att[att["pupil_id"] == raw].copy()
    mine["week"] = [date.fromisoformat(d).isocalendar() for d in mine["date"]]
    for week in weeks[:12]:
        y, w = int(week["week"][:4]), int(week["week"][6:])
        rows = mine[[(k[0], k[1]) == (y, w) for k in mine["week"]]]
        given = rows["absent_fraction"].replace("", "0").astype(float)
        frac = np.where(rows["status"] == "present", 0.0,
                        np.where(rows["absent_fraction"] == "", 1.0, given))
        assert week["school_days_registered"] == len(rows)
        assert week["days_absent"] == pytest.approx(frac.sum(), abs=1e-3)
    # the risk of a week is the pupil's risk as of the Monday after it
    third = weeks[3]
    risk = client.get(f"/v1/pupils/{raw}/risk?as_of={third['as_of']}",
                      headers=world.headers("team-S1")).json()
    assert third["risk"] == pytest.approx(risk["risk"], abs=1e-12)
    assert third["band"] == risk["band"]


def test_history_rejects_a_malformed_school_year(world, client):
    pupil = world.pupils_of("S1")[0]
    for bad in ("2024/26", "2024-25", "24/25"):
        r = client.get(f"/v1/pupils/{pupil}/history?school_year={bad}",
                       headers=world.headers("analyst"))
        assert r.status_code == 422


# -- flag lists and reviews ---------------------------------------------------------------------


def test_the_flag_list_has_three_sections_with_reasons(world, client):
    team = world.headers("team-S1")
    body = client.get(f"/v1/schools/S1/flags?week={FLAG_WEEK}", headers=team).json()
    assert body["week"] == FLAG_WEEK and body["school_id"] == "S1"
    assert set(body["sections"]) == {"early_warning", "statutory", "already_concerning"}
    early = body["sections"]["early_warning"]
    assert 0 < len(early) <= body["capacity"]
    assert all(f["reasons"] and f["reasons"][0]["text"] for f in early)
    english = client.get(f"/v1/schools/S1/flags?week={FLAG_WEEK}&lang=en",
                         headers=world.headers("team-S1")).json()
    assert english["sections"]["early_warning"][0]["reasons"][0]["text"] != \
        early[0]["reasons"][0]["text"]
    default = client.get("/v1/schools/S1/flags", headers=world.headers("team-S1")).json()
    assert default["week"] == FLAG_WEEK  # the newest stored list


def test_flag_list_errors(world, client):
    team = world.headers("team-S1")
    assert client.get("/v1/schools/S1/flags?week=2024-W10", headers=team).status_code == 404
    assert client.get("/v1/schools/S1/flags?week=2024-10", headers=team).status_code == 422
    assert client.get("/v1/schools/S1/flags?week=2024-W60", headers=team).status_code == 422
    assert client.get("/v1/schools/S9/flags", headers=world.headers("analyst")).status_code == 404


def test_one_flag(world, client):
    flag_id = first_flag(world, "S1")
    body = client.get(f"/v1/schools/S1/flags/{flag_id}", headers=world.headers("team-S1")).json()
    assert body["id"] == flag_id and body["school_id"] == "S1" and body["week"] == FLAG_WEEK
    # the flag exists, but under another school's path it is not found
    r = client.get(f"/v1/schools/S2/flags/{flag_id}", headers=world.headers("analyst"))
    assert r.status_code == 404


def test_a_team_records_its_decision(world, client):
    flag_id = world.flag_ids["S1"][1]
    r = client.post(f"/v1/flags/{flag_id}/review", json={"decision": "investigate"},
                    headers=world.headers("team-S1"))
    assert r.status_code == 201, r.text
    review = r.json()
    assert review["decision"] == "investigate" and review["flag_id"] == flag_id
    assert review["decided_by"] == "team:team-S1"
    assert review["decided_on"] == date.today().isoformat()
    with world.engine.connect() as conn:
        stored = conn.execute(select(reviews).where(reviews.c.id == review["id"])).one()
    assert stored.decision == "investigate" and stored.school_id == "S1"
    shown = client.get(f"/v1/schools/S1/flags/{flag_id}", headers=world.headers("team-S1")).json()
    assert shown["review"]["decision"] == "investigate"


@pytest.mark.parametrize("body", [{"decision": "call the police"}, {"decision": "investigate",
                                  "decided_on": "2999-01-01"}, {"decision": "investigate",
                                  "note": "free text is not taken"}, {}])
def test_a_bad_review_is_refused(world, client, body):
    r = client.post(f"/v1/flags/{first_flag(world, 'S1')}/review", json=body,
                    headers=world.headers("team-S1"))
    assert r.status_code == 422 and r.json()["status"] == 422


def test_reviews_by_role(world, client):
    flag_id = world.flag_ids["S1"][-1]
    got = {who: client.post(f"/v1/flags/{flag_id}/review", json={"decision": "no_action"},
                            headers=world.headers(who)).status_code for who in ROLES}
    assert got == {**dict.fromkeys(ROLES, 403), "team-S1": 201}


# -- the register push --------------------------------------------------------------------------


def next_school_day(world) -> date:
    last = latest_day(world)
    return next(d for d in danish_school_days(school_year_of(last)) if d > last)


def test_pushing_a_day_of_register_is_all_or_nothing(world, client):
    day = next_school_day(world)
    pupils = world.pupils_of("S1")
    entries = [{"pupil_id": p, "status": "present"} for p in pupils]
    entries[3] = {"pupil_id": pupils[3], "status": "sygdom"}
    entries[5] = {"pupil_id": pupils[5], "status": "unauthorised", "absent_fraction": 0.5}
    bad = [dict(e) for e in entries]
    bad[7] = {"pupil_id": pupils[7], "status": "absent-ish"}
    bad[9] = {"pupil_id": pupils[9], "status": "illness", "absent_fraction": 1.5}
    r = client.post("/v1/register", json={"school_id": "S1", "date": day.isoformat(),
                                          "entries": bad}, headers=world.headers("school-S1"))
    assert r.status_code == 422
    problem = r.json()
    assert problem["type"].endswith("user-error")
    assert {(e["row"], e["column"]) for e in problem["errors"]} == {(7, "status"),
                                                                    (9, "absent_fraction")}
    assert latest_day(world) < day  # nothing was written

    r = client.post("/v1/register", json={"school_id": "S1", "date": day.isoformat(),
                                          "entries": entries}, headers=world.headers("school-S1"))
    assert r.status_code == 200, r.text
    assert r.json() == {"school_id": "S1", "date": day.isoformat(), "entries": len(entries),
                        "changed": True, "batch_id": r.json()["batch_id"]}
    assert latest_day(world) == day
    # the next request sees the new day (the caches follow the store)
    body = client.get(f"/v1/pupils/{pupils[3]}/risk", headers=world.headers("school-S1")).json()
    assert body["as_of"] == day.isoformat()
    again = client.post("/v1/register", json={"school_id": "S1", "date": day.isoformat(),
                                              "entries": entries}, headers=world.headers("admin"))
    assert again.status_code == 200 and again.json()["changed"] is False


def test_a_push_names_row_and_column(world, client):
    day = latest_day(world)
    pupils = world.pupils_of("S1")
    other = world.pupils_of("S2")[0]
    cases = [
        ({"pupil_id": other, "status": "present"}, "pupil_id"),  # another school's pupil
        ({"pupil_id": "P999", "status": "present"}, "pupil_id"),  # nobody
        ({"pupil_id": "010100-0000x", "status": "present"}, "pupil_id"),
        ({"pupil_id": pupils[0], "status": "present", "absent_fraction": 0.5}, "absent_fraction"),
        ({"pupil_id": pupils[0], "status": 3}, "status"),  # not text
        ({"pupil_id": pupils[0]}, "status"),
    ]
    for entry, column in cases:
        entries = [{"pupil_id": pupils[1], "status": "present"}, entry]
        r = client.post("/v1/register", json={"school_id": "S1", "date": day.isoformat(),
                                              "entries": entries},
                        headers=world.headers("school-S1"))
        assert r.status_code == 422, (entry, r.text)
        errors = r.json()["errors"]
        assert errors[0]["row"] == 1 and errors[0]["column"] == column, (entry, errors)
    # another school's pupil and a pupil that does not exist are refused alike
    texts = []
    for pupil in (other, "P999"):
        entries = [{"pupil_id": pupil, "status": "present"}]
        r = client.post("/v1/register", json={"school_id": "S1", "date": day.isoformat(),
                                              "entries": entries},
                        headers=world.headers("school-S1"))
        texts.append(r.content)
    assert texts[0] == texts[1]
    weekend = date(2024, 10, 5)
    entries = [{"pupil_id": pupils[0], "status": "present"}]
    r = client.post("/v1/register", json={"school_id": "S1", "date": weekend.isoformat(),
                                          "entries": entries}, headers=world.headers("school-S1"))
    assert r.status_code == 422 and r.json()["errors"][0]["column"] == "date"


def test_register_push_by_role(world, client):
    body = {"school_id": "S1", "date": latest_day(world).isoformat(),
            "entries": [{"pupil_id": world.pupils_of("S1")[0], "status": "present"}]}
    got = {who: client.post("/v1/register", json=body, headers=world.headers(who)).status_code
           for who in ROLES}
    # a school pushes its own register (here: a day already stored, so nothing changes)
    assert got == {"school-S1": 200, "team-S1": 403, "school-S2": 403, "team-S2": 403,
                   "analyst": 403, "admin": 200}
    r = client.post("/v1/register", json={**body, "school_id": "S9"},
                    headers=world.headers("admin"))
    assert r.status_code == 404


# -- model, health, metrics, tokens -----------------------------------------------------------


def test_model_info_and_card(world, client):
    body = client.get("/v1/model", headers=world.headers("school-S1")).json()
    assert body["version"] == world.versions[0] and body["name"] == "fravaersradar"
    assert body["metrics"]["model.roc_auc"] == pytest.approx(0.81)
    assert body["train_window"] == "2024-08-26..2024-10-28" and body["trained_at"]
    assert body["card"] == "/v1/model/card"
    card = client.get(body["card"])
    assert card.headers["content-type"].startswith("text/html")
    assert "total_rate_4w" in card.text and "never reads" in card.text and "0.810" in card.text


def test_model_card_as_markdown_and_its_links(world, client):
    body = client.get("/v1/model", headers=world.headers("team-S1")).json()
    # the session's tiny versions are registered without the card's logged evaluation
    assert body["card_complete"] is False and body["contact"] == world.settings.contact
    md = client.get(body["card_markdown"])
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Modelkort · Model card: fravaersradar version " + world.versions[0])
    assert "| model.roc_auc | 0.810 |" in md.text and world.settings.contact in md.text
    assert client.get("/v1/model/card?format=pdf").status_code == 422


def test_health(client, world):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["model_version"] == world.versions[0]
    assert body["registry_reachable"] is True and body["store_reachable"] is True


def test_metrics_count_by_template(world, client):
    pupil = world.pupils_of("S1")[0]
    client.get(f"/v1/pupils/{pupil}/risk", headers=world.headers("team-S1"))
    client.get("/no/such/path")
    text = client.get("/metrics").text
    risk = "/v1/pupils/{pupil_id}/risk"
    # Read as Prometheus reads it (prometheus_client writes labels sorted and values as floats).
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("ews_http_requests_total",
                    (("method", "GET"), ("path", risk), ("status", "200")))] >= 1
    assert samples[("ews_http_requests_total",
                    (("method", "GET"), ("path", "unmatched"), ("status", "404")))] >= 1
    assert samples[("ews_http_request_duration_seconds_bucket", (("le", "+Inf"), ("path", risk)))] >= 1
    assert samples[("ews_model_info", (("version", world.versions[0]),))] == 1
    assert samples[("ews_scores_served_total", (("kind", "risk"),))] >= 1
    assert pupil not in text and pseudonymise(pupil, KEY.encode()) not in text


def test_tokens_by_api(world, client):
    admin = world.headers("admin")
    listed = client.get("/v1/tokens", headers=admin).json()
    assert {t["name"] for t in listed} >= {"team-S1", "admin", "revoked"}
    assert not any("token" in t or "hash" in str(t) for t in listed)
    made = client.post("/v1/tokens", json={"role": "team", "school_id": "S2", "name": "api-team"},
                       headers=admin)
    assert made.status_code == 201
    secret = made.json()["token"]
    flags = f"/v1/schools/S2/flags?week={FLAG_WEEK}"
    assert client.get(flags, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    gone = client.delete(f"/v1/tokens/{made.json()['id']}", headers=admin)
    assert gone.status_code == 200 and gone.json()["revoked_at"]
    assert client.get(flags, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    bad = client.post("/v1/tokens", json={"role": "team"}, headers=admin)
    assert bad.status_code == 422  # a team token needs a school


def test_every_path_is_documented_with_models_and_examples(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    expected = {"/health", "/metrics", "/v1/pupils/{pupil_id}/risk",
                "/v1/pupils/{pupil_id}/history",
                "/v1/schools/{school_id}/flags", "/v1/schools/{school_id}/flags/{flag_id}",
                "/v1/flags/{flag_id}/review", "/v1/register", "/v1/model", "/v1/model/card",
                "/v1/model/refresh", "/v1/tokens", "/v1/tokens/{token_id}"}
    assert expected <= set(paths)
    components = schema["components"]["schemas"]
    for path, operations in paths.items():
        for method, op in operations.items():
            ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
            assert ok.get("content"), (path, method)
            for code, response in op["responses"].items():
                if code[0] in "45":
                    assert list(response["content"]) == ["application/problem+json"], (path, code)
            for media in ok["content"].values():
                ref = media.get("schema", {}).get("$ref", "")
                name = ref.rsplit("/", 1)[-1]
                if name:
                    assert components[name].get("examples"), (path, name)
                else:
                    assert media.get("example") or media.get("schema"), (path, method)


def test_a_list_rebuilt_elsewhere_is_served_fresh(world, client):
    """Lists are served from rendered bytes; a change in the store (e.g. `ews flags` run again
    in another process) is picked up at the next check."""
    from sqlalchemy import update

    from model.records import flags

    team = world.headers("team-S1")
    path = f"/v1/schools/S1/flags?week={FLAG_WEEK}"
    before = client.get(path, headers=team).json()
    flag_id = before["sections"]["early_warning"][0]["id"]
    client.app.state.lists.recheck_seconds = 0.0
    try:
        with world.engine.begin() as conn:
            conn.execute(update(flags).where(flags.c.id == flag_id).values(trend=0.4242))
        after = client.get(path, headers=team).json()
        assert after["sections"]["early_warning"][0]["trend"] == pytest.approx(0.4242)
    finally:
        client.app.state.lists.recheck_seconds = 1.0
