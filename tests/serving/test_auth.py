"""Tokens and scope: 401 for no, bad or revoked tokens; 403 outside the scope with exactly the
same bytes whether or not the pupil, list or flag exists; tokens stored only as hashes; the
`ews token` commands."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from model.records import tokens
from serving import auth
from tests.serving.conftest import FLAG_WEEK, KEY


@pytest.fixture
def cli_env(world, monkeypatch):
    """The `ews` command line pointed at the session's store and registry."""
    from model import settings as settings_module

    s = world.settings
    monkeypatch.setenv("EWS_HOME", str(s.home))
    monkeypatch.setenv("EWS_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("EWS_DATABASE_URL", s.store_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", s.tracking_uri)
    settings_module.get_settings.cache_clear()
    yield CliRunner()
    settings_module.get_settings.cache_clear()


# -- 401 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz",
                                    "Bearer not-a-token", "Bearer ews_" + "A" * 43, "revoked"])
@pytest.mark.parametrize("path", ["/v1/pupils/P001/risk", "/v1/schools/S1/flags", "/v1/model",
                                  "/v1/tokens"])
def test_no_bad_or_revoked_token_is_401_with_a_challenge(world, client, header, path):
    if header == "revoked":
        header = f"Bearer {world.tokens['revoked']}"
    r = client.get(path, headers={"Authorization": header} if header is not None else {})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 401 and set(body) >= {"type", "title", "status", "detail", "instance"}


def test_post_paths_need_a_token_too(world, client):
    assert client.post("/v1/flags/1/review", json={"decision": "investigate"}).status_code == 401
    assert client.post("/v1/register", json={}).status_code == 401
    assert client.post("/v1/model/refresh").status_code == 401


# -- 403 without leaks --------------------------------------------------------------------------


def _same(responses) -> None:
    first = responses[0]
    for r in responses:
        assert r.status_code == 403
        assert r.content == first.content  # byte for byte
        assert r.headers["content-type"] == first.headers["content-type"]
        assert r.headers["content-length"] == first.headers["content-length"]


@pytest.mark.parametrize("who", ["school-S2", "team-S2"])
def test_another_schools_pupil_looks_exactly_like_no_pupil(world, client, who):
    from tests.factories import cpr_number

    h = world.headers(who)
    s1 = world.pupils_of("S1")
    cpr_s1 = next(p for p in s1 if p in world.town.cpr)
    unknown_cpr = cpr_number(__import__("datetime").date(2015, 3, 4), 77, True)
    for kind in ("risk", "history"):
        _same([client.get(f"/v1/pupils/{p}/{kind}", headers=h) for p in
               (s1[1], cpr_s1, cpr_s1.replace("-", ""), "P999", unknown_cpr, "x" * 64)])
    # at a date in another school year the own pupil is unknown too
    own = world.pupils_of("S2")[0]
    _same([client.get(f"/v1/pupils/{p}/risk?as_of=2023-10-02", headers=h)
           for p in (own, s1[1], "P999")] + [client.get(f"/v1/pupils/{s1[1]}/risk", headers=h)])


def test_another_schools_list_and_flags_look_exactly_like_none(world, client):
    h = world.headers("team-S2")
    s1_flag, s2_flag = world.flag_ids["S1"][0], world.flag_ids["S2"][0]
    _same([client.get(f"/v1/schools/{school}/flags{query}", headers=h)
           for school in ("S1", "S9") for query in ("", f"?week={FLAG_WEEK}", "?week=2024-W10")])
    _same([client.get(f"/v1/schools/{school}/flags/{flag}", headers=h)
           for school, flag in (("S1", s1_flag), ("S9", s1_flag), ("S1", s2_flag),
                                ("S2", s1_flag), ("S2", 999999))])
    _same([client.post(f"/v1/flags/{flag}/review", json={"decision": "investigate"}, headers=h)
           for flag in (s1_flag, 999999)])
    # its own flag, under its own school, is there
    assert client.get(f"/v1/schools/S2/flags/{s2_flag}", headers=h).status_code == 200


def test_another_schools_register_looks_exactly_like_no_school(world, client):
    body = {"date": "2024-10-07", "entries": [{"pupil_id": "P001", "status": "present"}]}
    h = world.headers("school-S2")
    _same([client.post("/v1/register", json={**body, "school_id": s}, headers=h)
           for s in ("S1", "S9")])


def test_a_role_outside_its_rights_is_refused_without_data(world, client):
    r = client.get("/v1/schools/S1/flags", headers=world.headers("school-S1"))
    assert r.status_code == 403 and "role" in r.json()["detail"]
    assert "pupil" not in r.text


# -- tokens ---------------------------------------------------------------------------------


def test_tokens_are_stored_as_hashes_only(world):
    with world.engine.connect() as conn:
        rows = conn.execute(select(tokens)).all()
    secrets_ = set(world.tokens.values())
    for row in rows:
        assert len(row.token_hash) == 64 and row.token_hash not in secrets_
        assert not any(s in str(tuple(row)) for s in secrets_)
    hashes = {r.token_hash for r in rows}
    assert hashlib.sha256(world.tokens["admin"].encode()).hexdigest() in hashes


def test_lookup_compares_in_constant_time(world, monkeypatch):
    calls = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    principal = auth.authenticate(world.engine, world.tokens["team-S1"])
    assert principal.role == "team" and principal.school_id == "S1" and principal.name == "team-S1"
    assert calls and calls[0][0] == calls[0][1]
    assert auth.authenticate(world.engine, world.tokens["revoked"]) is None
    assert auth.authenticate(world.engine, "") is None


@pytest.mark.parametrize("args, message", [
    (["--role", "boss"], "role must be one of"),
    (["--role", "team"], "needs --school"),
    (["--role", "analyst", "--school", "S1"], "leave out --school"),
    (["--role", "school", "--school", "S9"], "unknown school"),
    (["--role", "admin", "--name", "Jens Hansen"], "--name must be"),
])
def test_token_create_refuses_bad_requests(cli_env, args, message):
    from ews.cli import app

    result = cli_env.invoke(app, ["token", "create", *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_token_create_list_revoke(world, client, cli_env):
    from ews.cli import app

    made = cli_env.invoke(app, ["token", "create", "--role", "team", "--school", "S1",
                                "--name", "cli-team"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("ews_") and len(secret) > 40
    h = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/v1/schools/S1/flags?week={FLAG_WEEK}", headers=h).status_code == 200
    listed = cli_env.invoke(app, ["token", "list"])
    assert listed.exit_code == 0 and "cli-team" in listed.stdout and secret not in listed.stdout
    assert cli_env.invoke(app, ["token", "create", "--role", "team", "--school", "S1", "--name",
                                "cli-team"]).exit_code == 2  # the name is taken
    revoked = cli_env.invoke(app, ["token", "revoke", "cli-team"])
    assert revoked.exit_code == 0, revoked.output
    assert client.get(f"/v1/schools/S1/flags?week={FLAG_WEEK}", headers=h).status_code == 401
    assert cli_env.invoke(app, ["token", "revoke", "cli-team"]).exit_code == 2
    default = cli_env.invoke(app, ["token", "create", "--role", "analyst"])
    assert default.exit_code == 0 and "analyst-" in default.output
