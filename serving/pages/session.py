"""Who is looking at a page: a server-side session opened with the API's bearer token, and CSRF
protection.

The login form takes a token (`ews token create`) and, if `serving.auth.authenticate` knows it,
opens a session in the store and sets its random id - never the token - in an HttpOnly,
SameSite=Strict cookie (Secure over https) scoped to /pages. Every page looks the session up
(`serving.auth.session_principal`): it ends when the token is revoked or expires, after
EWS_SESSION_IDLE_MINUTES without a request and EWS_SESSION_MAX_HOURS after login. Logout deletes
the session in the store, so a copied cookie stops working too; the cookie is no API token.

Every POST form carries a CSRF token derived from the session id with the service's key
(HMAC, no server state) and must come from this origin (the Origin header, when the browser sends
one, has to match the Host). SameSite=Strict already keeps the cookie off cross-site requests;
the two checks are the defence in depth the lead asked for.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Request

from serving.auth import Principal, close_session, session_principal, token_hash

SESSION_COOKIE = "ews_session"
LANGUAGE_COOKIE = "ews_language"
COOKIE_PATH = "/pages"


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""


class CsrfRefused(Exception):
    """A POST without this session's CSRF token or from another origin."""


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def current_session(request: Request) -> Principal | None:
    """The principal of the request's live session, or None."""
    settings = request.app.state.settings
    return session_principal(request.app.state.engine, session_token(request),
                             timedelta(minutes=settings.session_idle_minutes),
                             timedelta(hours=settings.session_max_hours))


def page_principal(request: Request) -> Principal:
    """The principal of the session cookie; LoginRequired if there is no live session."""
    principal = current_session(request)
    if principal is None:
        raise LoginRequired()
    request.state.principal = principal
    from serving.scope import refuse_beyond_aggregates

    refuse_beyond_aggregates(request, principal)
    return principal


def csrf_token(key: bytes, token: str) -> str:
    """The CSRF token of a session: HMAC of the session token's hash under the service's key."""
    return hmac.new(key, b"csrf:" + token_hash(token).encode(), hashlib.sha256).hexdigest()[:40]


def same_origin(request: Request) -> bool:
    """Whether the request's Origin (or, without one, Referer) names this host; a request with
    neither (not a browser's form post) is let through to the token check."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def check_form(request: Request, submitted: str | None) -> None:
    """CsrfRefused unless the form is from this origin and carries this session's CSRF token."""
    token = session_token(request)
    if not same_origin(request) or token is None or not submitted:
        raise CsrfRefused()
    expected = csrf_token(request.app.state.key, token)
    if not hmac.compare_digest(expected, submitted):
        raise CsrfRefused()


def set_session(response, request: Request, session_id: str) -> None:
    max_age = request.app.state.settings.session_max_hours * 3600
    response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age, path=COOKIE_PATH,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")


def clear_session(response, request: Request) -> None:
    close_session(request.app.state.engine, session_token(request))
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def local_path(target: str | None, default: str) -> str:
    """`target` if it is a path of the pages on this site (no scheme, host or '//'), else
    `default`: the redirect after login or a form never leads elsewhere."""
    if not target or not target.startswith(COOKIE_PATH + "/") or target.startswith("//") \
            or "\\" in target or any(c in target for c in "\r\n"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
