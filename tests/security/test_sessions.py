"""Sessions and tokens (defect 7): the pages' cookie is a random session id kept in the store, not
the API token; logout deletes the session, so a cookie copied before stops working everywhere;
sessions end after the idle and absolute limits of Settings; API tokens may expire. On SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from model.records import page_sessions, tokens
from serving.pages.session import SESSION_COOKIE
from tests.cli import demo_env, run

PAGES = ["/pages/", "/pages/schools/S01/flags", "/pages/pupils", "/pages/pupils/P1"]


def login(bare, who: str = "team") -> str:
    bare.client.cookies.clear()
    r = bare.client.post("/pages/login", data={"token": bare.tokens[who]},
                         follow_redirects=False)
    assert r.status_code == 303, r.text
    return bare.client.cookies.get(SESSION_COOKIE)


def csrf_of(bare) -> str:
    import re

    page = bare.client.get("/pages/pupils").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_the_cookie_is_a_session_id_not_the_token(bare):
    cookie = login(bare)
    assert cookie and cookie != bare.tokens["team"] and bare.tokens["team"] not in cookie
    with bare.engine.connect() as conn:
        stored = [r.session_hash for r in conn.execute(select(page_sessions)).all()]
    assert len(stored) == 1 and cookie not in stored  # only its hash is kept
    bare.client.cookies.clear()
    r = bare.client.get("/v1/tokens", headers={"Authorization": f"Bearer {cookie}"})
    assert r.status_code == 401  # the cookie is no bearer token of the API


def test_a_cookie_copied_before_logout_opens_nothing_after(bare):
    cookie = login(bare)
    assert bare.client.get("/pages/pupils", follow_redirects=False).status_code == 200
    csrf = csrf_of(bare)
    r = bare.client.post("/pages/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with bare.engine.connect() as conn:
        assert conn.execute(select(page_sessions)).all() == []
    bare.client.cookies.clear()
    for path in PAGES:  # the copied cookie, replayed
        r = bare.client.get(path, cookies={SESSION_COOKIE: cookie}, follow_redirects=False)
        assert r.status_code == 303 and "/pages/login" in r.headers["location"], path


def _age_session(bare, **delta) -> None:
    with bare.engine.begin() as conn:
        row = conn.execute(select(page_sessions)).one()
        conn.execute(update(page_sessions).values(
            created_at=row.created_at - timedelta(**delta.get("created", {})),
            last_seen_at=row.last_seen_at - timedelta(**delta.get("seen", {}))))


def test_a_session_ends_after_the_idle_limit(bare):
    cookie = login(bare)
    idle = bare.settings.session_idle_minutes
    _age_session(bare, seen={"minutes": idle + 1})
    r = bare.client.get("/pages/pupils", cookies={SESSION_COOKIE: cookie},
                        follow_redirects=False)
    assert r.status_code == 303 and "/pages/login" in r.headers["location"]


def test_a_session_in_use_ends_after_the_absolute_limit(bare):
    cookie = login(bare)
    _age_session(bare, created={"hours": bare.settings.session_max_hours, "minutes": 1})
    r = bare.client.get("/pages/pupils", cookies={SESSION_COOKIE: cookie},
                        follow_redirects=False)
    assert r.status_code == 303


def test_a_session_within_its_limits_is_kept_alive(bare):
    cookie = login(bare)
    _age_session(bare, seen={"minutes": bare.settings.session_idle_minutes - 5},
                 created={"hours": 1})
    r = bare.client.get("/pages/pupils", cookies={SESSION_COOKIE: cookie},
                        follow_redirects=False)
    assert r.status_code == 200
    with bare.engine.connect() as conn:
        seen = conn.execute(select(page_sessions.c.last_seen_at)).scalar_one()
    seen = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
    assert datetime.now(UTC) - seen < timedelta(minutes=1)


def test_revoking_the_token_ends_its_sessions(bare):
    from serving.auth import revoke_token

    cookie = login(bare)
    revoke_token(bare.engine, "team")
    r = bare.client.get("/pages/pupils", cookies={SESSION_COOKIE: cookie},
                        follow_redirects=False)
    assert r.status_code == 303


def test_an_expired_token_opens_neither_the_api_nor_the_pages(bare):
    from serving.auth import create_token

    made = create_token(bare.engine, "analyst", name="short", expires_in=timedelta(days=90))
    headers = {"Authorization": f"Bearer {made.token}"}
    assert bare.client.get("/v1/model", headers=headers).status_code != 401
    listed = bare.client.get("/v1/tokens", headers=bare.headers("admin")).json()
    assert next(t for t in listed if t["name"] == "short")["expires_at"] is not None
    bare.client.cookies.clear()
    bare.client.post("/pages/login", data={"token": made.token}, follow_redirects=False)
    cookie = bare.client.cookies.get(SESSION_COOKIE)
    with bare.engine.begin() as conn:
        conn.execute(update(tokens).where(tokens.c.id == made.id).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert bare.client.get("/v1/model", headers=headers).status_code == 401
    r = bare.client.get("/pages/model", cookies={SESSION_COOKIE: cookie},
                        follow_redirects=False)
    assert r.status_code == 303
    bare.client.cookies.clear()
    r = bare.client.post("/pages/login", data={"token": made.token}, follow_redirects=False)
    assert r.status_code == 401


def test_token_create_expires_in_and_token_list(tmp_path):
    env = demo_env(tmp_path / "home")
    made = run(["token", "create", "--role", "analyst", "--name", "quarter",
                "--expires-in", "90d"], env)
    assert "expires" in made.stderr
    run(["token", "create", "--role", "admin", "--name", "forever"], env)
    listed = run(["token", "list"], env).stdout.splitlines()
    quarter = next(line for line in listed if "quarter" in line)
    expected = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%d")
    assert f"expires {expected}" in quarter
    assert "expires" not in next(line for line in listed if "forever" in line)
    bad = run(["token", "create", "--role", "admin", "--expires-in", "soon"], env, code=2)
    assert "--expires-in must look like 90d" in bad.stderr


def test_sessions_nobody_came_back_to_are_swept_at_the_next_login(bare):
    login(bare)
    _age_session(bare, created={"days": 8}, seen={"days": 8})
    login(bare)
    with bare.engine.connect() as conn:
        assert len(conn.execute(select(page_sessions)).all()) == 1


def test_an_api_token_may_be_created_with_an_expiry(bare):
    r = bare.client.post("/v1/tokens", json={"role": "analyst", "name": "month",
                                             "expires_in_days": 30},
                         headers=bare.headers("admin"))
    assert r.status_code == 201, r.text
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
