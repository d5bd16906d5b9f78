"""Ids in paths, forms and bodies follow the data contract's identifier rule: a hostile id (a NUL
byte, a path separator, a formula, a non-letter) gets 422 on SQLite and PostgreSQL alike, never a
500 (the probe's defect 4: NUL bytes gave 500 on PostgreSQL), and nothing reaches the store."""

from __future__ import annotations

import pytest

HOSTILE = ["a\x00b", "S\x0001", "../../etc/x", "=HYPERLINK(1)", "S€2", "-1+1"]


@pytest.mark.parametrize("pupil", ["a\x00b", "240418\x009705", "..\\x", "=1+1", "a b"])
@pytest.mark.parametrize("what", ["risk", "history"])
def test_a_hostile_pupil_id_in_a_path_is_422(bare, pupil, what):
    from urllib.parse import quote

    r = bare.client.get(f"/v1/pupils/{quote(pupil, safe='')}/{what}",
                        headers=bare.headers("analyst"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "9705" not in r.text


@pytest.mark.parametrize("school", ["S\x0001", "S€2", "=1+1", "..\\x", "S 01"])
def test_a_hostile_school_id_in_a_path_is_422(bare, school):
    from urllib.parse import quote

    for who in ("analyst", "team"):
        r = bare.client.get(f"/v1/schools/{quote(school, safe='')}/flags",
                            headers=bare.headers(who))
        assert r.status_code == 422, (who, r.text)


def test_a_nul_in_a_pushed_register_is_422(bare):
    body = {"school_id": "S01", "date": "2024-09-02",
            "entries": [{"pupil_id": "a\x00b", "status": "present"}]}
    r = bare.client.post("/v1/register", json=body, headers=bare.headers("school"))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["column"] == "pupil_id"
    body = {"school_id": "S\x0001", "date": "2024-09-02",
            "entries": [{"pupil_id": "P1", "status": "present"}]}
    r = bare.client.post("/v1/register", json=body, headers=bare.headers("admin"))
    assert r.status_code == 422, r.text


def test_a_hostile_school_for_a_new_token_is_422(bare):
    r = bare.client.post("/v1/tokens", json={"role": "team", "school_id": "S\x0001"},
                         headers=bare.headers("admin"))
    assert r.status_code == 422, r.text


def test_a_nul_in_a_page_path_is_an_error_page_not_a_500(bare):
    bare.client.post("/pages/login", data={"token": bare.tokens["team"]})
    r = bare.client.get("/pages/pupils/a%00b")
    assert r.status_code == 422, r.text
    r = bare.client.get("/pages/schools/S%0001/flags")
    assert r.status_code == 422, r.text


def test_the_log_mask_sees_a_cpr_number_split_by_a_nul():
    from serving.problems import masked

    for text in ("'240418\\x009705'", "240418\x009705", "２４０４１８－９７０５",
                 "24.04.18 9705", "240418_9705"):
        assert "9705" not in masked(text), text
    assert masked("batch 12 of 2024-11-04") == "batch 12 of 2024-11-04"


def test_an_unexpected_error_is_logged_with_the_cpr_number_masked(caplog):
    from starlette.requests import Request

    from serving.problems import internal_error

    request = Request({"type": "http", "method": "GET", "path": "/v1/x", "headers": [],
                       "query_string": b""})
    with caplog.at_level("ERROR", logger="serving.api"):
        try:
            raise ValueError(repr("240418\x009705"))
        except ValueError as exc:
            internal_error(request, exc)
    assert caplog.records and "9705" not in caplog.text and "<CPR number>" in caplog.text


def test_the_mask_keeps_dates_and_times_readable():
    from serving.problems import masked

    for text in ("2024-11-04 12:30:01", "from 2024-11-04 to 2024-11-08", "week 2024-W46"):
        assert masked(text) == text
    assert "1235" not in masked("id 15.04.05 - 1235 and 0150405123599")
