"""Who may see what: the scoping policy of the API and the team pages alike, decided here and
only here (serving.api.deps wraps it as FastAPI dependencies; serving.pages calls it directly).

- School scope: a school or team principal sees only its own school. Anything outside it -
  another school's pupil, list or flag, and equally one that does not exist - gets the one
  `forbidden` answer, byte for byte the same, so nothing about existence leaks. Analysts and
  admins see every school and get 404 for what does not exist (`refuse`).
- The municipality role reaches nothing but its allow-listed aggregate routes
  (serving.auth.MUNICIPALITY_PATHS; `refuse_beyond_aggregates`).
- Ids in requests follow the data contract's identifier rule (`school_id_rule`, `pupil_id_rule`:
  422 before any lookup, so a NUL byte or a path separator never reaches the store). A CPR number
  given as pupil id is pseudonymised here, before any lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine

from model.identifiers import cpr_digits, id_problem
from model.pseudonym import pseudonymise
from serving.auth import Principal
from serving.problems import ApiProblem, forbidden, not_found, role_forbidden

if TYPE_CHECKING:
    from starlette.requests import Request

    from serving.risk import Enrolment, RiskService


def school_id_rule(value: str) -> str:
    """The data contract's identifier rule for a school id in a request (422 otherwise)."""
    rule = id_problem(value, unicode_letters=True)
    if rule is not None:
        raise ValueError(f"school_id {rule} (letters, digits and - _ . : only)")
    return value


def pupil_id_rule(value: str) -> str:
    """A pupil id in a request: a CPR number in any notation, or an id by the contract's rule."""
    if cpr_digits(value) is None:
        rule = id_problem(value)
        if rule is not None:
            raise ValueError(f"pupil_id {rule} (letters, digits and - _ . : only, or a CPR "
                             "number)")
    return value


def refuse_beyond_aggregates(request: Request, principal: Principal) -> None:
    """403 for an aggregate-only role (municipality) anywhere but its allow-listed routes."""
    route = request.scope.get("route")
    if not principal.may_reach(getattr(route, "path", None)):
        raise role_forbidden(principal.role, ("school", "team", "analyst", "admin"))


def refuse(principal: Principal, detail: str) -> ApiProblem:
    """The refusal for something outside the caller's scope or absent: one 403 for
    school-scoped principals, 404 (with `detail`) for the rest."""
    return forbidden() if principal.school_scoped else not_found(detail)


def enrolled_in_scope(principal: Principal, service: RiskService, key: bytes, pupil_id: str,
                      school_year: str) -> Enrolment:
    """The pupil (a pseudonym or CPR number) enrolled in `school_year`, if within the caller's
    scope; raises `refuse`'s problem otherwise."""
    pupil = pseudonymise(pupil_id, key)
    enrolment = service.enrolment(pupil, school_year)
    if enrolment is None or not principal.sees_school(enrolment.school_id):
        raise refuse(principal, f"No such pupil enrolled in {school_year}.")
    return enrolment


def flag_in_scope(principal: Principal, engine: Engine, flag_id: int, language: str = "da",
                  school_id: str | None = None) -> dict:
    """A stored flag within the caller's scope (and of `school_id`, if given); raises
    `refuse`'s problem otherwise."""
    from serving.stored_lists import stored_flag

    flag = stored_flag(engine, flag_id, language)
    if flag is None or not principal.sees_school(flag["school_id"]) or (
            school_id is not None and flag["school_id"] != school_id):
        raise refuse(principal, "No such flag.")
    return flag
