"""The OpenAPI document says what the API answers (defect 9): a 422 is a problem document in the
document too, a 405 names every method of the path, a body that is not JSON gets the documented
400, and the documented patterns refuse what the API would refuse by form."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def document(bare) -> dict:
    return bare.client.get("/openapi.json").json()


def test_every_422_is_documented_as_a_problem(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answer = operation["responses"].get("422")
            if answer is None:
                continue
            assert list(answer["content"]) == ["application/problem+json"], (method, path)
            assert answer["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"}, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_model_cards_422_is_what_the_document_says(bare, document):
    r = bare.client.get("/v1/model/card?format=null")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    documented = document["paths"]["/v1/model/card"]["get"]["responses"]["422"]
    assert "application/problem+json" in documented["content"]


def test_options_names_every_method_of_the_path(bare):
    r = bare.client.options("/v1/tokens", headers=bare.headers("admin"))
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "POST"}
    r = bare.client.delete("/v1/tokens", headers=bare.headers("admin"))
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "POST"}


@pytest.mark.parametrize("path", ["/v1/tokens", "/v1/register"])
def test_a_body_that_is_not_json_gets_the_documented_400(bare, document, path):
    r = bare.client.post(path, content=b"{not json", headers={
        **bare.headers("admin"), "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "400" in document["paths"][path]["post"]["responses"]


def _pattern(document, path: str, name: str) -> str:
    for parameter in document["paths"][path]["get"]["parameters"]:
        if parameter["name"] == name:
            return parameter["schema"].get("pattern") or next(
                s["pattern"] for s in parameter["schema"]["anyOf"] if "pattern" in s)
    raise KeyError(name)


def test_the_documented_patterns_refuse_what_the_api_refuses_by_form(document):
    year = _pattern(document, "/v1/pupils/{pupil_id}/history", "school_year")
    week = _pattern(document, "/v1/schools/{school_id}/flags", "week")
    for bad in ("0000/00", "9999/00"):
        assert not re.search(year, bad), bad
    assert re.search(year, "2024/25")
    for bad in ("0000-W00", "2024-W00", "2024-W54", "2024-W99"):
        assert not re.search(week, bad), bad
    assert re.search(week, "2024-W01") and re.search(week, "2026-W53")
