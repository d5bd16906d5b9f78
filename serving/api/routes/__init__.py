"""The API's routes, one module per area."""

from __future__ import annotations

from serving.api.schemas import Problem

DESCRIPTIONS = {
    401: "No token, or an unknown or revoked one",
    403: "Outside the token's role or school scope (the same answer whether or not the resource "
         "exists)",
    404: "Not found",
    422: "The request breaks a rule (problem details name the row and column)",
    503: "No champion model is loaded",
}


def errors(*codes: int) -> dict:
    """OpenAPI documentation of error answers (problem details)."""
    return {code: {"model": Problem, "description": DESCRIPTIONS[code]} for code in codes}
