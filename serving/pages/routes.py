"""The team pages' routes under /pages: login and logout, the week's list (with Excel and print),
one pupil, the team's decision, and the analysts' model page.

Every page is a second face of the API's services: scoping comes from serving.scope (another
school's pupil gets exactly the page an unknown pupil gets), lists from the same FlagListCache,
risk and history from the same RiskService, decisions from serving.stored_lists.record_review, and every
view, export and decision is written to the audit log with the API's actions.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator

from model.calendar import iso_week, monday_of_week, school_year_of
from model.errors import UserError
from model.pseudonym import pseudonymise
from model.records import DECISIONS
from serving import audit
from serving.auth import Principal, authenticate, open_session
from serving.monitoring import latest_monitoring
from serving.pages import charts, views
from serving.pages.registry import (
    ArtifactCache,
    fairness_by_group,
    registry_versions,
    version_table,
)
from serving.pages.render import render
from serving.pages.session import (
    LANGUAGE_COOKIE,
    CsrfRefused,
    LoginRequired,
    check_form,
    clear_session,
    csrf_token,
    current_session,
    local_path,
    page_principal,
    same_origin,
    session_token,
    set_session,
)
from serving.pages.texts import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    STATUS_WORDS,
    UI,
    day,
    number,
    percent,
    risk_percent,
)
from serving.problems import ApiProblem, forbidden, not_found
from serving.risk import school_names
from serving.scope import enrolled_in_scope, flag_in_scope, pupil_id_rule, refuse, school_id_rule
from serving.stored_lists import latest_flags, pupil_reviews, school_weeks

PREFIX = "/pages"
LIST_ROLES = ("team", "analyst", "admin")
MODEL_ROLES = ("analyst", "admin")
REVIEW_ROLES = ("team",)


class PageProblem(Exception):
    """An error page: the status and which of UI's messages to show."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def language_of(request: Request) -> str:
    found = request.cookies.get(LANGUAGE_COOKIE)
    return found if found in LANGUAGES else DEFAULT_LANGUAGE


class PageRoute(APIRoute):
    """Answers the pages' refusals as HTML: a missing session redirects to the login form, an
    API problem (403, 404, ...) and a refused form become an error page with the same status.
    The 403 page for another school's pupil is byte for byte the page for an unknown one."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", 303)
            except CsrfRefused:
                return error_page(request, 403, "csrf")
            except PageProblem as problem:
                return error_page(request, problem.status, problem.message)
            except RequestValidationError:
                return error_page(request, 422, "invalid")
            except ApiProblem as problem:
                message = {403: "role_forbidden" if problem.slug == "role-forbidden"
                           else "forbidden", 404: "not_found",
                           503: "no_model"}.get(problem.status, "invalid")
                return error_page(request, problem.status, message)

        return route


router = APIRouter(prefix=PREFIX, route_class=PageRoute, include_in_schema=False)
PagePrincipal = Annotated[Principal, Depends(page_principal)]


def artifacts_of(request: Request) -> ArtifactCache:
    """The app's cache of report artifacts (one per app: each app reads its own registry)."""
    return request.app.state.page_artifacts


def security_headers(response: Response, private: bool = True) -> Response:
    """No framing, no third-party anything, and pupil-level pages never cached."""
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


def page(request: Request, template: str, status: int = 200,
         principal: Principal | None = None, **context) -> HTMLResponse:
    language = language_of(request)
    token = session_token(request)
    context.setdefault("here", request.url.path + (f"?{request.url.query}" if request.url.query
                                                   else ""))
    html = render(template, language=language, ui=UI[language], principal=principal,
                  csrf=csrf_token(request.app.state.key, token) if principal and token else "",
                  prefix=PREFIX, **context)
    return security_headers(HTMLResponse(html, status_code=status))


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    # The header names who is logged in; the body depends on the status and message only,
    # never on what was asked for (another school's pupil looks like an unknown one).
    principal = current_session(request)
    return page(request, "page_error.html", status=status, principal=principal,
                message=message, here=f"{PREFIX}/")


def require(principal: Principal, roles: tuple[str, ...]) -> None:
    if principal.role not in roles:
        raise PageProblem(403, "role_forbidden")


def auditor_record(request: Request, principal: Principal, action: str, **kwargs) -> int:
    return audit.record(request.app.state.engine, request.app.state.key, actor=principal.name,
                        role=principal.role, action=action, **kwargs)


def home_of(principal: Principal) -> str:
    if principal.role == "team":
        return f"{PREFIX}/schools/{principal.school_id}/flags"
    if principal.role == "school":
        return f"{PREFIX}/pupils"
    if principal.role == "municipality":
        return f"{PREFIX}/kpi"
    return f"{PREFIX}/model"


# -- login, logout, language -----------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def start(principal: PagePrincipal) -> Response:
    return RedirectResponse(home_of(principal), 303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, bye: bool = False) -> Response:
    return page(request, "page_login.html", next=local_path(next, ""), failed=False, bye=bye)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: Annotated[str, Form(max_length=256)] = "",
          next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    if not same_origin(request):
        raise CsrfRefused()
    principal = authenticate(request.app.state.engine, token.strip())
    if principal is None:
        return page(request, "page_login.html", status=401, next=local_path(next, ""),
                    failed=True, bye=False)
    response = RedirectResponse(local_path(next, home_of(principal)), 303)
    set_session(response, request, open_session(request.app.state.engine, principal))
    return security_headers(response)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_form(request, csrf)
    response = RedirectResponse(f"{PREFIX}/login?bye=true", 303)
    clear_session(response, request)
    return security_headers(response)


@router.get("/language")
def switch_language(request: Request, to: Annotated[str, Query(pattern="^(da|en)$")],
                    next: str | None = None) -> Response:
    response = RedirectResponse(local_path(next, f"{PREFIX}/"), 303)
    response.set_cookie(LANGUAGE_COOKIE, to, max_age=365 * 86400, path=PREFIX, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return response


# -- the week's list ---------------------------------------------------------------------------

SchoolId = Annotated[str, Path(min_length=1, max_length=64), AfterValidator(school_id_rule)]
WeekQuery = Annotated[str | None, Query(pattern=r"^\d{4}-W\d{2}$")]


def _school_week(request: Request, principal: Principal, school_id: str,
                 week: str | None) -> tuple[str, list[str]]:
    """The list's week (default: the school's newest) and every stored week, if in scope."""
    require(principal, LIST_ROLES)
    if not principal.sees_school(school_id):
        raise forbidden()
    weeks = school_weeks(request.app.state.engine, school_id)
    if week is None:
        if not weeks:
            raise not_found("No flag list is stored for this school.")
        return weeks[0], weeks
    try:
        return iso_week(monday_of_week(week)), weeks
    except ValueError:
        raise ApiProblem(422, "invalid-request", "bad week") from None


def _read_list(request: Request, principal: Principal, school_id: str, week: str,
               language: str) -> dict[str, Any] | None:
    """The stored list through the API's cache, audited as the API audits a list read."""
    lists = request.app.state.lists
    found = lists.get(school_id, week, language)
    if found is None:
        return None
    first = lists.first_read(principal.token_id, school_id, found)
    auditor_record(request, principal, audit.READ_FLAG_LIST, school_id=school_id,
                   pupils=found.pupils if first else (),
                   detail={"week": found.week, "flags": len(found.pupils), "language": language,
                           "pupils_recorded": first, "page": True})
    return json.loads(found.body)


def _sparks(request: Request, data: dict[str, Any]) -> dict[str, list[float | None]]:
    service = request.app.state.risk
    as_of = date.fromisoformat(data["as_of"])
    snap = service.snapshot()
    builder = service.builder(snap, data["school_id"], school_year_of(as_of))
    pupils = [r["pupil_id"] for rows in data["sections"].values() for r in rows]
    return views.weekly_absence(builder.register, pupils, as_of)


def _school_names(request: Request, principal: Principal) -> list[tuple[str, str]]:
    return [(school_id, name) for school_id, name in school_names(request.app.state.engine)
            if principal.sees_school(school_id)]


@router.get("/schools")
def choose_school(principal: PagePrincipal,
                  school: Annotated[str, Query(min_length=1, max_length=64),
                                    AfterValidator(school_id_rule)]) -> Response:
    """The school picker of analysts and admins: go to that school's newest list."""
    return RedirectResponse(f"{PREFIX}/schools/{quote(school, safe='')}/flags", 303)


@router.get("/schools/{school_id}/flags", response_class=HTMLResponse)
async def flag_list_page(request: Request, principal: PagePrincipal, school_id: SchoolId,
                         week: WeekQuery = None, saved: int | None = None) -> Response:
    language = language_of(request)
    settings = request.app.state.settings

    def build():
        chosen, weeks = _school_week(request, principal, school_id, week)
        data = _read_list(request, principal, school_id, chosen, language)
        sections = sparks = None
        if data is not None:
            sparks = _sparks(request, data)
            facts = {"threshold": percent(settings.concern_threshold, language),
                     "horizon": settings.horizon_days, "trailing": settings.trailing_days,
                     "capacity": data["capacity"]}
            sections = views.list_sections(data, language, sparks, facts)
        return chosen, weeks, data, sections

    chosen, weeks, data, sections = await run_in_threadpool(build)
    monday = monday_of_week(chosen)
    previous, following = iso_week(monday - timedelta(weeks=1)), iso_week(monday + timedelta(weeks=1))
    year, number = chosen.split("-W")
    return page(request, "page_list.html", principal=principal, school_id=school_id,
                schools=_school_names(request, principal), week=chosen, weeks=weeks,
                week_number=int(number), year=year, data=data, sections=sections,
                as_of=day(data["as_of"], language) if data else None,
                previous=previous if previous in weeks else None,
                following=following if following in weeks else None,
                can_review=principal.role in REVIEW_ROLES,
                decisions=views.decision_choices(language), saved=saved)


def _export(request: Request, principal: Principal, school_id: str, week: str | None,
            fmt: str) -> tuple[dict[str, Any], str]:
    from serving.stored_lists import stored_flag_list

    language = language_of(request)
    chosen, _ = _school_week(request, principal, school_id, week)
    data = stored_flag_list(request.app.state.engine, school_id, chosen, language)
    if data is None:
        raise not_found("No flag list is stored for this school and week.")
    pupils = [r["pupil_id"] for rows in data["sections"].values() for r in rows]
    auditor_record(request, principal, audit.EXPORT_FLAGS, school_id=school_id, pupils=pupils,
                   detail={"week": chosen, "language": language, "rows": len(pupils),
                           "formats": [fmt], "page": True})
    return data, language


@router.get("/schools/{school_id}/flags.xlsx")
async def flag_list_excel(request: Request, principal: PagePrincipal, school_id: SchoolId,
                          week: WeekQuery = None) -> Response:
    from serving.exports import content_disposition, download_name, flag_list_xlsx

    def build():
        data, language = _export(request, principal, school_id, week, "xlsx")
        return data, flag_list_xlsx(data, language)

    data, body = await run_in_threadpool(build)
    name = download_name("ugeliste", data["school_id"], data["week"], "xlsx")
    return security_headers(Response(body, media_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        headers={"Content-Disposition": content_disposition(name)}))


@router.get("/schools/{school_id}/flags/print", response_class=HTMLResponse)
async def flag_list_print(request: Request, principal: PagePrincipal, school_id: SchoolId,
                          week: WeekQuery = None) -> Response:
    from serving.exports import flag_list_html

    settings = request.app.state.settings

    def build():
        data, language = _export(request, principal, school_id, week, "html")
        return flag_list_html(data, language, threshold=settings.concern_threshold,
                              horizon=settings.horizon_days, trailing=settings.trailing_days)

    response = HTMLResponse(await run_in_threadpool(build))
    security_headers(response)
    # The print view is the exports' self-contained page, whose styles are inline.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
    return response


# -- the team's decision -------------------------------------------------------------------------


@router.post("/flags/{flag_id}/review")
async def review_flag(request: Request, principal: PagePrincipal,
                      flag_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                      decision: Annotated[str, Form(max_length=32)] = "",
                      csrf: Annotated[str, Form(max_length=100)] = "",
                      next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Record the team's coded decision about a flag of its own school, as the API's POST
    /v1/flags/{id}/review does, and go back to where the form was (the list shows it at once)."""
    from serving.stored_lists import record_review

    check_form(request, csrf)
    require(principal, REVIEW_ROLES)
    engine = request.app.state.engine
    if decision not in DECISIONS:
        raise PageProblem(422, "invalid")

    def record_and_audit():
        flag = flag_in_scope(principal, engine, flag_id)
        try:
            recorded = record_review(engine, flag["id"], decision,
                                     f"{principal.role}:{principal.name}"[:64])
        except UserError:
            raise PageProblem(422, "invalid") from None
        auditor_record(request, principal, audit.REVIEW, school_id=recorded["school_id"],
                       pupils=[recorded["pupil_id"]],
                       detail={"week": recorded["week"], "decision": recorded["decision"],
                               "page": True})
        return recorded

    recorded = await run_in_threadpool(record_and_audit)
    request.app.state.lists.invalidate(recorded["school_id"])
    default = f"{PREFIX}/schools/{recorded['school_id']}/flags?week={recorded['week']}"
    target = local_path(next, default)
    sep = "&" if "?" in target else "?"
    # The fragment names the decision field: the browser scrolls to it and gives it the focus,
    # so a keyboard user goes on where they were.
    return RedirectResponse(
        f"{target}{sep}saved={recorded['flag_id']}#decision-{recorded['flag_id']}", 303)


# -- one pupil -----------------------------------------------------------------------------------


@router.get("/pupils", response_class=HTMLResponse)
def find_pupil_form(request: Request, principal: PagePrincipal) -> Response:
    return page(request, "page_find.html", principal=principal)


@router.post("/pupils")
def find_pupil(request: Request, principal: PagePrincipal,
               pupil_id: Annotated[str, Form(max_length=64)] = "",
               csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    """A lookup by pseudonym or CPR number: the CPR number is pseudonymised here, so it never
    appears in a URL, a browser history or a log."""
    check_form(request, csrf)
    raw = pupil_id.strip()
    try:
        pupil_id_rule(raw)
    except ValueError:
        raise PageProblem(422, "invalid") from None
    pseudonym = pseudonymise(raw, request.app.state.key)
    return RedirectResponse(f"{PREFIX}/pupils/{quote(pseudonym, safe='')}", 303)


@router.get("/pupils/{pupil_id}", response_class=HTMLResponse)
async def pupil_page(request: Request, principal: PagePrincipal,
                     pupil_id: Annotated[str, Path(min_length=1, max_length=64),
                                         AfterValidator(pupil_id_rule)],
                     as_of: Annotated[date | None, Query()] = None) -> Response:
    """One pupil of the caller's scope: register calendar, weekly risk with concerns, reasons,
    the team's decisions and the decision form. Audited as the API's risk and history reads."""
    language = language_of(request)
    service = request.app.state.risk
    engine = request.app.state.engine
    served = request.app.state.holder.served

    def build():
        snap = service.snapshot()
        when = as_of or snap.latest_day
        if when is None or when > date.today():
            raise refuse(principal, "Nothing is registered yet.")
        enrolment = enrolled_in_scope(principal, service, request.app.state.key, pupil_id,
                                      school_year_of(when))
        if served is None:  # no champion yet (issue 12): the register and the rules, no risk
            settings = request.app.state.settings
            found = service.pupil_rules(snap, enrolment, when, language,
                                        settings.statutory_warning,
                                        settings.statutory_notification, "")
            risk = SimpleNamespace(**found) if found is not None else None
        else:
            risk = service.pupil_risk(snap, served, enrolment, when, language)
        if risk is None:
            raise refuse(principal, "The pupil is not on roll at that date.")
        weeks = service.history(snap, served, enrolment)
        builder = service.builder(snap, enrolment.school_id, enrolment.school_year)
        days = views.register_days(builder.register, enrolment.pupil_id, enrolment.school_year,
                                   snap.latest_day)
        concerns = views.pupil_concerns(engine, enrolment.pupil_id, enrolment.school_year,
                                        snap.latest_day)
        # The lists and the team's decisions are for the roles that read lists (as in the API).
        decisions = flags = []
        if principal.role in LIST_ROLES:
            decisions = pupil_reviews(engine, enrolment.pupil_id, enrolment.school_id)
            flags = latest_flags(engine, enrolment.pupil_id, enrolment.school_id)
        version = served.version if served is not None else None
        for action, detail in ((audit.READ_RISK, {"as_of": when.isoformat(),
                                                  "language": language,
                                                  "model_version": version}),
                               (audit.READ_HISTORY, {"school_year": enrolment.school_year,
                                                     "weeks": len(weeks),
                                                     "model_version": version})):
            auditor_record(request, principal, action, school_id=enrolment.school_id,
                           pupils=[enrolment.pupil_id], detail={**detail, "page": True})
        return when, enrolment, risk, weeks, days, concerns, decisions, flags, snap.latest_day

    when, enrolment, risk, weeks, days, concerns, decisions, flags, snap_latest = \
        await run_in_threadpool(build)
    ui = UI[language]
    heatmap = charts.calendar_heatmap(
        days, language, ui["calendar"].format(year=enrolment.school_year), ui["calendar_desc"])
    riskline = charts.risk_line(
        weeks, [(c.day, c.text(language)) for c in concerns], language, ui["risk_over_time"],
        ui["risk_desc"], ui["bands"])
    return page(request, "page_pupil.html", principal=principal, enrolment=enrolment,
                as_of=day(when, language), registered_until=day(snap_latest, language),
                risk=risk, risk_text=risk_percent(risk.risk, language),
                band_word=ui["bands"].get(risk.band or "", ""),
                bars=views.reason_bars(risk.reasons, language),
                heatmap=heatmap, counts=views.status_counts(days, language), riskline=riskline,
                weeks=weeks, concerns=concerns, decisions=decisions, flags=flags,
                can_review=principal.role in REVIEW_ROLES,
                can_list=principal.role in LIST_ROLES,
                choices=views.decision_choices(language), day=day, percent=percent,
                risk_percent=risk_percent,
                status_words=STATUS_WORDS[language])


# -- the analysts' model page --------------------------------------------------------------------


@router.get("/model", response_class=HTMLResponse)
async def model_page(request: Request, principal: PagePrincipal) -> Response:
    """Champion and challengers with their evaluation on later as-of dates, the report's plots,
    and the model card. Aggregates only; blocks per section so that monitoring can be added."""
    require(principal, MODEL_ROLES)
    settings = request.app.state.settings
    versions = await run_in_threadpool(registry_versions, settings)
    table = await run_in_threadpool(version_table, settings)
    champion = next((v for v in versions if v.champion), None)
    groups = (await run_in_threadpool(fairness_by_group, artifacts_of(request), settings,
                                         champion.version)
              if champion else [])
    challengers = [v for v in versions if not v.champion]
    monitoring = await run_in_threadpool(latest_monitoring, request.app.state.engine)
    language = language_of(request)
    from serving.pages import model_texts

    return page(request, "page_model.html", principal=principal, champion=champion,
                challengers=challengers, groups=groups, percent=percent, monitoring=monitoring,
                fmt=lambda x, decimals=2: number(x, language, decimals), table=table,
                words=model_texts)


@router.get("/model/versions/{version}/plots/{name}")
async def model_plot(request: Request, principal: PagePrincipal,
                     version: Annotated[str, Path(pattern=r"^\d{1,9}$")],
                     name: Annotated[str, Path(max_length=90)]) -> Response:
    require(principal, MODEL_ROLES)
    if not name.endswith(".png"):
        raise not_found("No such plot.")
    data = await run_in_threadpool(artifacts_of(request).get, request.app.state.settings,
                                  version, name)
    if data is None:
        raise not_found("No such plot.")
    return security_headers(Response(data, media_type="image/png"), private=False)
