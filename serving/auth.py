"""Bearer tokens: created and revoked by an admin (`ews token ...`), stored only as SHA-256 hashes.

A token is shown once, when it is created; the store keeps its hash, role, school scope and a name
that appears in the audit log and in reviews (a token name, never a person's name). A request's
token is hashed and looked up by hash, and the hashes are compared in constant time.

Roles (interfaces.md, domain.md "need to know"):
- school: one school's staff; reads the risk and history of the school's own pupils and pushes
  the school's register.
- team: one school's detection team; like school, plus the school's weekly flag lists and the
  team's reviews of them.
- analyst: every school, pseudonymous data only (reads; no reviews).
- admin: manages tokens; may read like an analyst and push any school's register.
- municipality: the municipality's leaders; the aggregate KPIs only (GET /v1/kpi, /pages/kpi),
  never anything about one pupil, list or flag (MUNICIPALITY_PATHS: an allow-list, so a route
  added later is refused to it until it is named there).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from model.errors import UserError
from model.identifiers import id_problem
from model.records import ROLES, page_sessions, tokens
from model.store import schools

SCHOOL_ROLES = ("school", "team")  # roles scoped to one school
AGGREGATE_ROLES = ("municipality",)  # roles that see aggregates only, never a pupil
# The route templates an aggregate-only role may reach (the pages' login, logout, language and
# start page authenticate no principal, or only to redirect it here).
MUNICIPALITY_PATHS = frozenset({"/v1/kpi", "/pages/kpi", "/pages/"})
TOKEN_PREFIX = "ews_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's id, name, role and (for school and team) its one school."""

    token_id: int
    name: str
    role: str
    school_id: str | None

    @property
    def school_scoped(self) -> bool:
        return self.role in SCHOOL_ROLES

    @property
    def aggregates_only(self) -> bool:
        return self.role in AGGREGATE_ROLES

    def may_reach(self, route_path: str | None) -> bool:
        """Whether this token's role may use the route with this path template at all."""
        return not self.aggregates_only or route_path in MUNICIPALITY_PATHS

    def sees_school(self, school_id: str | None) -> bool:
        """Whether pupil-level data of `school_id` is within this token's scope."""
        if self.aggregates_only:
            return False
        if not self.school_scoped:
            return True
        return school_id is not None and school_id == self.school_id


def token_hash(token: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def authenticate(engine: Engine, token: str | None) -> Principal | None:
    """The principal of a bearer token, or None for a missing, unknown or revoked one."""
    if not token or len(token) > 256:
        return None
    digest = token_hash(token)
    with engine.connect() as conn:
        row = conn.execute(
            select(tokens.c.id, tokens.c.token_hash, tokens.c.name, tokens.c.role,
                   tokens.c.school_id, tokens.c.revoked_at, tokens.c.expires_at)
            .where(tokens.c.token_hash == digest)
        ).first()
    # The index finds the row; the comparison that decides runs in constant time.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    if _expired(row.expires_at):
        return None
    return Principal(int(row.id), row.name, row.role, row.school_id)


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _expired(expires_at: datetime | None, now: datetime | None = None) -> bool:
    return expires_at is not None and _utc(expires_at) <= (now or datetime.now(UTC))


DURATION = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$")
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(text: str) -> timedelta:
    """'90d', '12h' or '2w' as a timedelta; UserError for anything else (or zero)."""
    m = DURATION.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise UserError(f"--expires-in must look like 90d, 12h or 2w, not {text!r}")
    return int(m.group(1)) * UNITS[m.group(2)]


@dataclass(frozen=True)
class CreatedToken:
    """A new token: the secret (shown once) and its stored record."""

    token: str
    id: int
    name: str
    role: str
    school_id: str | None
    expires_at: datetime | None = None


def create_token(engine: Engine, role: str, school_id: str | None = None,
                 name: str | None = None, expires_in: timedelta | None = None) -> CreatedToken:
    """Create a token, valid until revoked or, with `expires_in`, until then; UserError for an
    unknown role, a missing or unknown school for school and team tokens, a school given for
    analyst and admin, or a name already in use."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role in SCHOOL_ROLES and not school_id:
        raise UserError(f"a {role} token needs --school ID")
    if role not in SCHOOL_ROLES and school_id:
        raise UserError(f"a {role} token sees every school: leave out --school")
    if school_id is not None and (rule := id_problem(school_id, unicode_letters=True)):
        raise UserError(f"--school {rule}")
    if name is not None and not NAME_PATTERN.match(name):
        raise UserError("--name must be 1-64 letters, digits or _ . : - (a token name, not a "
                        "person's name)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires_at = now + expires_in if expires_in is not None else None
    with engine.begin() as conn:
        known = conn.execute(select(schools.c.school_id).where(
            schools.c.school_id == school_id)).first() is not None
        if school_id is not None and not known:
            raise UserError(f"unknown school {school_id!r}: ingest it first")
        if name is None:
            name = f"{role}-{school_id}" if school_id else role
            name = f"{name}-{secrets.token_hex(3)}"
        taken = conn.execute(select(tokens.c.id).where(tokens.c.name == name,
                                                       tokens.c.revoked_at.is_(None))).first()
        if taken is not None:
            raise UserError(f"a token named {name!r} exists already: revoke it or pick another "
                            "name")
        token_id = conn.execute(insert(tokens).values(
            token_hash=token_hash(secret), role=role, school_id=school_id, name=name,
            created_at=now, expires_at=expires_at)).inserted_primary_key[0]
    return CreatedToken(secret, int(token_id), name, role, school_id, expires_at)


def revoke_token(engine: Engine, which: str) -> list[int]:
    """Revoke the active token with this id or name; UserError if there is none. Returns the ids
    revoked (revoking is recorded as a time, the row stays for the audit log's names)."""
    condition = tokens.c.name == which
    if which.isdigit():
        condition = condition | (tokens.c.id == int(which))
    with engine.begin() as conn:
        ids = [r.id for r in conn.execute(
            select(tokens.c.id).where(condition, tokens.c.revoked_at.is_(None))).all()]
        if not ids:
            raise UserError(f"no active token with id or name {which!r}")
        if len(ids) > 1:
            raise UserError(f"{which!r} names {len(ids)} tokens: revoke by id")
        conn.execute(update(tokens).where(tokens.c.id.in_(ids)).values(revoked_at=datetime.now(UTC)))
        conn.execute(delete(page_sessions).where(page_sessions.c.token_id.in_(ids)))
    return ids


def list_tokens(engine: Engine, include_revoked: bool = True) -> list[dict]:
    """Every token's id, name, role, school, created, revoked and expiry times; never a secret
    or hash."""
    query = select(tokens.c.id, tokens.c.name, tokens.c.role, tokens.c.school_id,
                   tokens.c.created_at, tokens.c.revoked_at,
                   tokens.c.expires_at).order_by(tokens.c.id)
    if not include_revoked:
        query = query.where(tokens.c.revoked_at.is_(None))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query).all()]
    for row in rows:  # SQLite gives naive datetimes back; they were stored in UTC
        for key in ("created_at", "revoked_at", "expires_at"):
            row[key] = _utc(row[key])
    return rows


# -- server-side sessions of the team pages (issue 13) -------------------------------------------


SESSION_LIMIT = timedelta(days=7)  # the largest EWS_SESSION_MAX_HOURS


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(b"session:" + session_id.encode("utf-8")).hexdigest()


def open_session(engine: Engine, principal: Principal) -> str:
    """A new page session for the token: a random id (for the cookie); the store keeps only its
    hash and the token it stands for, so the cookie is never a bearer token of the API."""
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        # sessions nobody came back to: past the longest absolute limit Settings allows
        conn.execute(delete(page_sessions).where(
            page_sessions.c.created_at < now - SESSION_LIMIT))
        conn.execute(insert(page_sessions).values(
            session_hash=_session_hash(session_id), token_id=principal.token_id, created_at=now,
            last_seen_at=now))
    return session_id


def session_principal(engine: Engine, session_id: str | None, idle: timedelta,
                      absolute: timedelta, now: datetime | None = None) -> Principal | None:
    """The principal of a live session (its token unrevoked and unexpired, seen within `idle`,
    opened within `absolute`), or None; a dead session is deleted, a live one marked seen."""
    if not session_id or len(session_id) > 256:
        return None
    now = now or datetime.now(UTC)
    digest = _session_hash(session_id)
    with engine.begin() as conn:
        row = conn.execute(
            select(page_sessions.c.session_hash, page_sessions.c.created_at,
                   page_sessions.c.last_seen_at, tokens.c.id, tokens.c.name, tokens.c.role,
                   tokens.c.school_id, tokens.c.revoked_at, tokens.c.expires_at)
            .join(tokens, tokens.c.id == page_sessions.c.token_id)
            .where(page_sessions.c.session_hash == digest)).first()
        if row is None or not hmac.compare_digest(row.session_hash, digest):
            return None
        dead = (row.revoked_at is not None or _expired(row.expires_at, now)
                or _utc(row.last_seen_at) + idle <= now or _utc(row.created_at) + absolute <= now)
        if dead:
            conn.execute(delete(page_sessions).where(page_sessions.c.session_hash == digest))
            return None
        if now - _utc(row.last_seen_at) > timedelta(seconds=30):  # not a write per page view
            conn.execute(update(page_sessions).where(page_sessions.c.session_hash == digest)
                         .values(last_seen_at=now))
    return Principal(int(row.id), row.name, row.role, row.school_id)


def close_session(engine: Engine, session_id: str | None) -> None:
    """Delete the session (logout): the cookie stops working at once, wherever it was copied."""
    if session_id and len(session_id) <= 256:
        with engine.begin() as conn:
            conn.execute(delete(page_sessions).where(
                page_sessions.c.session_hash == _session_hash(session_id)))
