"""Errors as RFC 9457 problem details (application/problem+json).

`instance` is the route's path *template* (e.g. /v1/pupils/{pupil_id}/risk), never the request
path: a path may hold a CPR number, and a body that echoed it would differ between a pupil that
exists and one that does not. For the same reason every scope refusal uses the one `forbidden`
body, whatever the reason behind it.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model.errors import UserError
from model.identifiers import CPR_IN_TEXT, mask_cpr

log = logging.getLogger("serving.api")

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:fravaersradar:problem:"
CPR_ANYWHERE = CPR_IN_TEXT  # on normalised text: see model.identifiers
BEARER_CHALLENGE = 'Bearer realm="fravaersradar"'

TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Request too large",
    422: "Unprocessable content", 500: "Internal server error", 503: "Service unavailable",
}


class ApiProblem(Exception):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, slug: str, detail: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, errors: list[dict] | None = None):
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title or TITLES.get(status, "Error")
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


def unauthorized(detail: str = "A valid bearer token is required.", *,
                 invalid: bool = False) -> ApiProblem:
    challenge = BEARER_CHALLENGE + (', error="invalid_token"' if invalid else "")
    return ApiProblem(401, "unauthorized", detail, headers={"WWW-Authenticate": challenge})


def forbidden() -> ApiProblem:
    """The one refusal for anything outside a token's scope, identical whether or not the thing
    exists: nothing about another school's pupils or lists leaks."""
    return ApiProblem(403, "forbidden",
                      "This token may not see this resource, or the resource does not exist.")


def role_forbidden(role: str, allowed: tuple[str, ...]) -> ApiProblem:
    return ApiProblem(403, "role-forbidden",
                      f"The role {role!r} may not do this; allowed: {', '.join(allowed)}.")


def not_found(detail: str) -> ApiProblem:
    return ApiProblem(404, "not-found", detail)


def masked(text: Any) -> str:
    """A text fit for a response or a log line: a CPR number in any notation masked (on the
    decoded, normalised text: full-width digits, separators, NUL bytes or their escapes between
    the digits do not hide one)."""
    return mask_cpr(text)


def template_of(request: Request) -> str:
    """The matched route's path template, or 'unmatched'."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def problem_response(request: Request, status: int, slug: str, title: str, detail: str,
                     headers: dict[str, str] | None = None,
                     errors: list[dict] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status,
                            "detail": detail, "instance": template_of(request)}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict]:
    """Where and what, never the offending input (it may be a CPR number)."""
    out = []
    for err in exc.errors()[:20]:
        loc = [str(part) for part in err.get("loc", ())]
        entry: dict[str, Any] = {"location": ".".join(loc), "rule": masked(err.get("msg", ""))}
        # body.entries.<i>.<column>: the pushed register's row and column
        if len(loc) >= 3 and loc[:2] == ["body", "entries"] and loc[2].isdigit():
            entry["row"] = int(loc[2])
            if len(loc) > 3:
                entry["column"] = loc[3]
        elif loc and loc[0] in ("query", "path", "body") and len(loc) > 1:
            entry["column"] = loc[-1]
        out.append(entry)
    return out


def allowed_methods(request: Request) -> str:
    """The Allow header of a 405: the methods of every route on this path (Starlette names only
    those of the first route that matched the path)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return ", ".join(sorted(methods))


def internal_error(request: Request, exc: BaseException) -> JSONResponse:
    """The 500 answer; the error is logged with the path template and CPR-shaped text masked."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("unhandled %s on %s %s\n%s", type(exc).__name__, request.method,
              template_of(request), masked(trace))
    return problem_response(request, 500, "internal", TITLES[500],
                            "The server failed; the error is logged without request data.")


def install(app: FastAPI) -> None:
    """Answer every error as a problem document (unexpected errors: see `internal_error`, called
    by the app's outermost middleware so that no server log sees an unmasked traceback)."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem):
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail,
                                exc.headers, exc.errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) and status != 404 else (
            "No such path." if status == 404 else TITLES.get(status, "Error"))
        headers = dict(getattr(exc, "headers", None) or {})
        if status == 405:
            headers["Allow"] = allowed_methods(request)
        return problem_response(request, status, {404: "not-found"}.get(status, f"http-{status}"),
                                TITLES.get(status, "Error"), masked(detail), headers or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            # documented as 400: a body that is not JSON at all breaks no rule, it is unreadable
            return problem_response(request, 400, "bad-json", TITLES[400],
                                    "The body is not parseable JSON.")
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"location": "request", "rule": "invalid"}
        return problem_response(request, 422, "invalid-request", TITLES[422],
                                f"{first['location']}: {first['rule']}", errors=errors)

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError):
        errors = [{"file": p.file, "row": p.line, "column": p.column, "rule": masked(p.rule)}
                  for p in exc.problems]
        return problem_response(request, 422, "user-error", TITLES[422], masked(exc.one_line()),
                                errors=errors)
