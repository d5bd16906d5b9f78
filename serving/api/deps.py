"""FastAPI dependencies: settings, store, champion, the caller, and the scoped objects.

Handlers declare what they need with the `Annotated` aliases below. Who may see what is
serving.scope's policy (the team pages use the same); here it becomes dependencies:
- roles: `Reader` (school, team, analyst, admin), `TeamReader` (team, analyst, admin),
  `Reviewer` (team), `RegisterWriter` (school, admin), `Admin`, `ModelManager` (analyst, admin),
  `KpiReader` (municipality, analyst, admin); the municipality role reaches nothing but its
  allow-listed aggregate routes (serving.scope.refuse_beyond_aggregates);
- school scope: a pupil, list or flag outside a school or team token's school gets the same 403
  as one that does not exist (serving.scope.refuse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from sqlalchemy import Engine

from model.calendar import iso_week, school_year_of
from model.settings import Settings
from serving import audit
from serving.api.schemas import RegisterPush
from serving.auth import Principal, authenticate
from serving.champion import ChampionHolder, ServedModel
from serving.problems import ApiProblem, forbidden, not_found, role_forbidden, unauthorized
from serving.risk import Enrolment, RiskService, StoreSnapshot
from serving.scope import (
    enrolled_in_scope,
    flag_in_scope,
    pupil_id_rule,
    refuse,
    refuse_beyond_aggregates,
    school_id_rule,
)
from serving.stored_lists import newest_week

bearer = HTTPBearer(auto_error=False, description="a token from `ews token create`")


# -- the application's parts ----------------------------------------------------------------
# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency on the
# thread pool, and each such hop costs about 0.4 ms on the 2-core machine.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_holder(request: Request) -> ChampionHolder:
    return request.app.state.holder


async def get_service(request: Request) -> RiskService:
    return request.app.state.risk


async def get_key(request: Request) -> bytes:
    """The pseudonym key, read once at start-up."""
    return request.app.state.key


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
HolderDep = Annotated[ChampionHolder, Depends(get_holder)]
ServiceDep = Annotated[RiskService, Depends(get_service)]
KeyDep = Annotated[bytes, Depends(get_key)]


async def served_model(holder: HolderDep) -> ServedModel:
    """The champion for this request, taken once: a swap during the request does not change it."""
    served = holder.served
    if served is None and holder.registry_reachable is not False:
        # The registry answered: none is promoted (or none usable). Not a server failure.
        raise ApiProblem(404, "no-model", "No champion model is promoted yet: "
                         f"{holder.problem or 'run `ews train` first'} (ews train, ews promote).")
    if served is None:
        raise ApiProblem(503, "no-model", "No champion model is loaded: "
                         f"{holder.problem or 'run `ews train` first'}.")
    return served


ServedModelDep = Annotated[ServedModel, Depends(served_model)]


async def served_model_or_none(holder: HolderDep) -> ServedModel | None:
    """The champion for this request, or None when none is loaded (issue 12: the rules still
    answer without a model)."""
    return holder.served


MaybeServedModelDep = Annotated[ServedModel | None, Depends(served_model_or_none)]


async def store_snapshot(service: ServiceDep) -> StoreSnapshot:
    """The store as the caches see it; the store version is re-read at most every
    `RiskService.recheck_seconds` (an ingest by another process shows within that)."""
    fresh = service.fresh_snapshot()
    return fresh if fresh is not None else await run_in_threadpool(service.snapshot)


SnapshotDep = Annotated[StoreSnapshot, Depends(store_snapshot)]


# -- who is calling ---------------------------------------------------------------------------


def current_principal(request: Request, engine: EngineDep,
                      credentials: Annotated[HTTPAuthorizationCredentials | None,
                                             Depends(bearer)]) -> Principal:
    """The caller of a valid, unrevoked bearer token; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    principal = authenticate(engine, credentials.credentials)
    if principal is None:
        raise unauthorized("The bearer token is unknown or revoked.", invalid=True)
    request.state.principal = principal
    refuse_beyond_aggregates(request, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


@dataclass(frozen=True)
class Auditor:
    """Appends the caller's reads and reviews to the audit log (serving.audit)."""

    engine: Engine
    key: bytes
    principal: Principal

    def record(self, action: str, *, school_id: str | None = None, pupils=(),
               detail: dict | None = None) -> int:
        return audit.record(self.engine, self.key, actor=self.principal.name,
                            role=self.principal.role, action=action, school_id=school_id,
                            pupils=pupils, detail=detail)


async def get_auditor(engine: EngineDep, key: KeyDep, principal: PrincipalDep) -> Auditor:
    return Auditor(engine, key, principal)


AuditorDep = Annotated[Auditor, Depends(get_auditor)]


def require_roles(*allowed: str):
    """A dependency that lets only these roles through (403 for the others)."""

    async def dependency(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise role_forbidden(principal.role, allowed)
        return principal

    return dependency


Reader = Annotated[Principal, Depends(require_roles("school", "team", "analyst", "admin"))]
TeamReader = Annotated[Principal, Depends(require_roles("team", "analyst", "admin"))]
Reviewer = Annotated[Principal, Depends(require_roles("team"))]
RegisterWriter = Annotated[Principal, Depends(require_roles("school", "admin"))]
ModelManager = Annotated[Principal, Depends(require_roles("analyst", "admin"))]
KpiReader = Annotated[Principal, Depends(require_roles("municipality", "analyst", "admin"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]


# -- scope: pupils, schools, flags ------------------------------------------------------------

# Ids in paths follow the data contract's identifier rule (422 otherwise, before any lookup: a
# NUL byte or a path separator never reaches the store).
PupilIdPath = Annotated[str, Path(min_length=1, max_length=64,
                                   description="the pupil's id: a pseudonym or a CPR number "
                                               "(pseudonymised before lookup); letters, digits "
                                               "and - _ . : only, else 422"),
                        AfterValidator(pupil_id_rule)]
SchoolIdPath = Annotated[str, Path(min_length=1, max_length=64,
                                   description="letters, digits and - _ . : only, else 422"),
                         AfterValidator(school_id_rule)]


@dataclass(frozen=True)
class PupilAt:
    """A pupil within the caller's scope, at an as-of date."""

    enrolment: Enrolment
    as_of: date


def pupil_at(pupil_id: PupilIdPath, principal: Reader, service: ServiceDep,
             key: KeyDep, snap: SnapshotDep,
             as_of: Annotated[date | None, Query(
                 description="default: the latest registered school day; a date in the future "
                             "gets 422")] = None) -> PupilAt:
    """The pupil at the as-of date (its school year decides the school), if in scope."""
    if as_of is None:
        if snap.latest_day is None:
            raise refuse(principal, "Nothing is registered yet.")
        as_of = snap.latest_day
    if as_of > date.today():
        raise ApiProblem(422, "invalid-request", f"as_of {as_of} is in the future.")
    return PupilAt(enrolled_in_scope(principal, service, key, pupil_id,
                                      school_year_of(as_of)), as_of)


def pupil_in_year(pupil_id: PupilIdPath, principal: Reader, service: ServiceDep,
                  key: KeyDep, snap: SnapshotDep,
                  school_year: Annotated[str | None, Query(
                      pattern=r"^(19|20)\d{2}/\d{2}$",
                      description="e.g. 2024/25 (the second year follows the first, else 422); "
                                  "default: that of the latest registered day")]
                  = None) -> Enrolment:
    """The pupil's enrolment in a school year, if in scope."""
    if school_year is None:
        if snap.latest_day is None:
            raise refuse(principal, "Nothing is registered yet.")
        school_year = school_year_of(snap.latest_day)
    start = int(school_year[:4])
    if (start + 1) % 100 != int(school_year[5:]):
        raise ApiProblem(422, "invalid-request", "school_year must look like 2024/25.")
    return enrolled_in_scope(principal, service, key, pupil_id, school_year)


ScopedPupilAt = Annotated[PupilAt, Depends(pupil_at)]
ScopedPupilYear = Annotated[Enrolment, Depends(pupil_in_year)]


@dataclass(frozen=True)
class SchoolWeek:
    school_id: str
    week: str


def school_week(school_id: SchoolIdPath, principal: TeamReader, engine: EngineDep,
                week: Annotated[str | None, Query(
                    pattern=r"^(19|20)\d{2}-W(0[1-9]|[1-4]\d|5[0-3])$",
                    description="ISO week, e.g. 2025-W10 (a week 53 the year lacks: 422); "
                                "default: the school's newest list")]
                = None) -> SchoolWeek:
    """A school's list week within the caller's scope; 403/404 as for pupils."""
    if not principal.sees_school(school_id):
        raise forbidden()
    if week is None:
        week = newest_week(engine, school_id)
        if week is None:
            raise not_found("No flag list is stored for this school.")
    else:
        try:
            week = iso_week(date.fromisocalendar(int(week[:4]), int(week[6:]), 1))
        except ValueError:
            raise ApiProblem(422, "invalid-request", "week must be a valid ISO week like "
                                                     "2025-W10.") from None
    return SchoolWeek(school_id, week)


ScopedSchoolWeek = Annotated[SchoolWeek, Depends(school_week)]

FlagIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
LanguageQuery = Annotated[str, Query(pattern="^(da|en)$", description="language of the reasons")]


def school_flag(school_id: SchoolIdPath, flag_id: FlagIdPath, principal: TeamReader,
                engine: EngineDep, lang: LanguageQuery = "da") -> dict:
    """A stored flag of this school, within the caller's scope."""
    if not principal.sees_school(school_id):
        raise forbidden()
    return flag_in_scope(principal, engine, flag_id, lang, school_id)


def reviewable_flag(flag_id: FlagIdPath, principal: Reviewer, engine: EngineDep) -> dict:
    """A stored flag of the team's own school."""
    return flag_in_scope(principal, engine, flag_id, "da")


ScopedFlag = Annotated[dict, Depends(school_flag)]
ReviewableFlag = Annotated[dict, Depends(reviewable_flag)]


def register_push(push: RegisterPush, principal: RegisterWriter,
                  service: ServiceDep) -> RegisterPush:
    """A pushed register day for a school within the caller's scope."""
    if not principal.sees_school(push.school_id):
        raise forbidden()
    if not principal.school_scoped and not service.school_exists(push.school_id):
        raise not_found("No such school.")
    return push


ScopedRegisterPush = Annotated[RegisterPush, Depends(register_push)]
