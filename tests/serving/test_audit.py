"""The audit log: reads and reviews are appended, with a one-way marker and never a pupil id;
the store refuses to change it; `ews audit` shows it; CLI exports are audited; and a CPR number
in a request never reaches a log line, the screen or the audit table."""

from __future__ import annotations

import logging
from datetime import date

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from model.pseudonym import pseudonymise
from model.records import audit_log, audit_marker
from serving.auth import create_token
from tests.serving.conftest import FLAG_WEEK, KEY, served
from tests.serving.test_auth import cli_env  # noqa: F401 - the fixture

K = KEY.encode()


def rows_after(world, last_id: int) -> list:
    with world.engine.connect() as conn:
        return conn.execute(select(audit_log).where(audit_log.c.id > last_id)
                            .order_by(audit_log.c.id)).all()


def last_id(world) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.max(audit_log.c.id), 0))).scalar()


def test_every_read_and_review_is_appended(world, client):
    raw = next(p for p in world.pupils_of("S1") if p in world.town.cpr)
    marker = audit_marker(pseudonymise(raw, K), K)
    h = world.headers("team-S1")
    start = last_id(world)
    r = client.get(f"/v1/pupils/{raw}/risk?as_of=2024-10-07&lang=en", headers=h)
    assert r.status_code == 200
    assert client.get(f"/v1/pupils/{raw}/history", headers=h).status_code == 200
    found = rows_after(world, start)
    assert [(r.action, r.actor, r.role, r.school_id, r.pupil_marker) for r in found] == [
        ("read_risk", "team-S1", "team", "S1", marker),
        ("read_history", "team-S1", "team", "S1", marker)]
    assert found[0].detail["as_of"] == "2024-10-07" and found[0].detail["language"] == "en"

    # a list: its first read by a token today names every pupil on it; a reload is one row
    fresh = {"Authorization": "Bearer " + create_token(world.engine, "team", "S1").token}
    start = last_id(world)
    listed = client.get(f"/v1/schools/S1/flags?week={FLAG_WEEK}", headers=fresh).json()
    pupils = {f["pupil_id"] for rows in listed["sections"].values() for f in rows}
    found = rows_after(world, start)
    assert {r.pupil_marker for r in found} == {audit_marker(p, K) for p in pupils}
    assert len(found) == len(pupils) and {r.action for r in found} == {"read_flag_list"}
    assert all(r.detail["week"] == FLAG_WEEK and r.detail["pupils_recorded"] for r in found)
    start = last_id(world)
    client.get(f"/v1/schools/S1/flags?week={FLAG_WEEK}", headers=fresh)
    again = rows_after(world, start)
    assert [(r.action, r.pupil_marker, r.detail["pupils_recorded"]) for r in again] == [
        ("read_flag_list", None, False)]
    start = last_id(world)
    client.get(f"/v1/schools/S1/flags?week={FLAG_WEEK}&lang=en", headers=fresh)
    assert len(rows_after(world, start)) == 1  # the same pupils, in English: named already
    # a review changes the list (it shows the review): its next read names the pupils again
    flag_id = listed["sections"]["early_warning"][0]["id"]
    client.post(f"/v1/flags/{flag_id}/review", json={"decision": "other"}, headers=h)
    start = last_id(world)
    client.get(f"/v1/schools/S1/flags?week={FLAG_WEEK}", headers=fresh)
    assert len(rows_after(world, start)) == len(pupils)

    flag = listed["sections"]["early_warning"][0]
    start = last_id(world)
    client.get(f"/v1/schools/S1/flags/{flag['id']}", headers=h)
    client.post(f"/v1/flags/{flag['id']}/review", json={"decision": "already_known"}, headers=h)
    found = rows_after(world, start)
    assert [(r.action, r.pupil_marker) for r in found] == [
        ("read_flag", audit_marker(flag["pupil_id"], K)),
        ("review", audit_marker(flag["pupil_id"], K))]
    assert found[1].detail == {"week": FLAG_WEEK, "decision": "already_known"}


def test_refused_and_failed_reads_append_nothing(world, client):
    start = last_id(world)
    client.get(f"/v1/pupils/{world.pupils_of('S1')[0]}/risk", headers=world.headers("team-S2"))
    client.get(f"/v1/pupils/{world.pupils_of('S1')[0]}/risk")
    client.get("/v1/schools/S1/flags", headers=world.headers("school-S1"))
    assert rows_after(world, start) == []


def test_the_audit_table_holds_no_pupil_id(world, client):
    for raw in world.pupils_of("S1")[:4]:
        client.get(f"/v1/pupils/{raw}/risk", headers=world.headers("analyst"))
    with world.engine.connect() as conn:
        dump = repr(conn.execute(select(audit_log)).all())
    ids = list(world.town["pupils"]["pupil_id"])
    for raw in ids:
        assert raw not in dump and raw.replace("-", "") not in dump
        assert pseudonymise(raw, K) not in dump
    assert "a-" in dump


def test_the_store_refuses_to_change_the_audit_log(world):
    for statement in (update(audit_log).values(action="changed"), delete(audit_log),
                      delete(audit_log).where(audit_log.c.id == 1)):
        with pytest.raises(DBAPIError, match="append-only"), world.engine.begin() as conn:
            conn.execute(statement)
    assert last_id(world) > 0


def test_ews_audit_shows_a_pupils_entries_by_cpr_or_pseudonym(world, client, cli_env):  # noqa: F811
    from ews.cli import app

    raw = next(p for p in world.pupils_of("S2") if p in world.town.cpr)
    client.get(f"/v1/pupils/{raw}/risk", headers=world.headers("team-S2"))
    client.get(f"/v1/pupils/{raw}/history", headers=world.headers("analyst"))
    by_cpr = cli_env.invoke(app, ["audit", "--pupil", raw])
    by_pseudonym = cli_env.invoke(app, ["audit", "--pupil", pseudonymise(raw, K)])
    assert by_cpr.exit_code == 0, by_cpr.output
    assert by_cpr.stdout == by_pseudonym.stdout
    lines = by_cpr.stdout.strip().splitlines()
    assert len(lines) >= 2 and all(audit_marker(pseudonymise(raw, K), K) in line for line in lines)
    assert any("read_risk" in line and "team-S2" in line for line in lines)
    assert any("read_history" in line and "analyst" in line for line in lines)
    assert raw not in by_cpr.stdout
    everything = cli_env.invoke(app, ["audit", "--since", date.today().isoformat()])
    assert len(everything.stdout.splitlines()) > len(lines)
    assert cli_env.invoke(app, ["audit", "--since", "2999-01-01"]).stdout == ""
    assert cli_env.invoke(app, ["audit", "--since", "soon"]).exit_code == 2


def test_cli_score_export_is_audited(world, cli_env, tmp_path):  # noqa: F811
    from ews.cli import app

    start = last_id(world)
    out = tmp_path / "scores.csv"
    result = cli_env.invoke(app, ["score", "--as-of", "2024-10-07", "--out", str(out),
                                  "--school", "S2"])
    assert result.exit_code == 0, result.output
    found = rows_after(world, start)
    assert {r.action for r in found} == {"export_scores"}
    assert {r.actor for r in found} == {"cli:score"}
    assert len(found) == len(out.read_text().splitlines()) - 1
    assert found[0].school_id == "S2" and found[0].detail["as_of"] == "2024-10-07"


# -- CPR numbers never logged -------------------------------------------------------------------


def test_a_cpr_number_in_a_request_is_never_logged(world, caplog, capfd):
    """Through a real uvicorn with its access log switched on (the redaction must hold even
    then), every log record, standard output and error are searched for the CPR numbers."""
    from serving.app import create_app
    from tests.factories import cpr_number

    caplog.set_level(logging.DEBUG)
    own = next(p for p in world.pupils_of("S1") if p in world.town.cpr)
    other = next(p for p in world.pupils_of("S2") if p in world.town.cpr)
    unknown = cpr_number(date(2014, 5, 6), 42, False)
    numbers = [own, other, unknown]

    app = create_app(world.settings, poll_seconds=0)
    h = world.headers("team-S1")
    with served(app, access_log=True, log_level="debug") as base, \
            httpx.Client(base_url=base) as http:
        for cpr in numbers:
            for variant in (cpr, cpr.replace("-", "")):
                http.get(f"/v1/pupils/{variant}/risk", headers=h)
                http.get(f"/v1/pupils/{variant}/history?school_year=2024/25", headers=h)
                http.get(f"/v1/pupils/{variant}/risk")  # no token
                http.get(f"/v1/pupils/{variant}/risk?as_of={variant}", headers=h)  # 422
                http.get(f"/v1/pupil/{variant}", headers=h)  # no such path
        r = http.post("/v1/register", headers=world.headers("school-S1"), json={
            "school_id": "S1", "date": "2024-10-07",
            "entries": [{"pupil_id": own, "status": "nonsense"},
                        {"pupil_id": unknown, "status": "present"}, {"pupil_id": own}]})
        assert r.status_code == 422
        assert http.get(f"/v1/pupils/{own}/risk", headers=h).status_code == 200
    out, err = capfd.readouterr()
    # the test's own HTTP client (httpx, httpcore) logs the URLs it sends; that is the caller's
    # side: every record of the server's side is searched
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in server_side)
    assert "GET /v1/pupils/{pupil_id}/risk 200" in logged  # the lines are there, by template
    assert any(r.name == "uvicorn.access" for r in server_side)
    with world.engine.connect() as conn:
        audit_dump = repr(conn.execute(select(audit_log)).all())
    for cpr in numbers:
        for variant in (cpr, cpr.replace("-", "")):
            for where, text in (("log", logged), ("stdout", out), ("stderr", err),
                                ("audit", audit_dump), ("response", r.text)):
                assert variant not in text, f"CPR number found in {where}"


def test_group_commit_appends_on_both_stores(store_url):
    """Many threads audit at once; every row lands once, with its marker and detail, on SQLite
    and PostgreSQL alike; and a failing transaction reaches every caller in it."""
    from concurrent.futures import ThreadPoolExecutor

    from model.store import open_store
    from serving import audit

    engine = open_store(store_url)

    def read(i: int) -> int:
        return audit.record(engine, K, actor=f"t{i % 3}", role="team", action="read_flag_list",
                            school_id="S1", pupils=[f"P{i}-{j}" for j in range(i % 5)],
                            detail={"week": "2024-W39", "n": i})

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(read, range(60)))
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log)).all()
    assert len(rows) == sum(counts) == sum(max(i % 5, 1) for i in range(60))
    markers = {r.pupil_marker for r in rows if r.pupil_marker}
    assert markers == {audit_marker(f"P{i}-{j}", K) for i in range(60) for j in range(i % 5)}
    assert {r.detail["n"] for r in rows} == set(range(60))
    assert all(r.at is not None and r.school_id == "S1" for r in rows)
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for NOT NULL
        audit.record(engine, K, actor="x", role="team", action=None)  # type: ignore[arg-type]
    assert audit.record(engine, K, actor="x", role="team", action="read_risk") == 1
    engine.dispose()
