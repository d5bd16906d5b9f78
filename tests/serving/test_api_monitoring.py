"""GET /v1/monitoring: the latest stored monitoring run, for analysts and admins only."""

from __future__ import annotations

from tests.serving.conftest import store_a_monitoring_run


def test_monitoring_is_for_analysts_and_admins_and_shows_the_latest_run(world, client):
    from serving.champion import load_champion
    from serving.monitoring import latest_monitoring, store_monitoring

    assert client.get("/v1/monitoring").status_code == 401
    for who in ("school-S1", "team-S1"):
        answer = client.get("/v1/monitoring", headers=world.headers(who))
        assert answer.status_code == 403, who
    if latest_monitoring(world.engine) is None:
        answer = client.get("/v1/monitoring", headers=world.headers("analyst"))
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")

    run_id, result = store_a_monitoring_run(world)
    champion = load_champion(world.settings)

    for who in ("analyst", "admin"):
        answer = client.get("/v1/monitoring", headers=world.headers(who))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["id"] == run_id and body["week"] == "2024-W44"
        assert body["as_of"] == "2024-10-28" and body["model_version"] == champion.version
        assert body["status"] == result.status
        assert {r["school_id"] for r in body["schools"]} == {"S1", "S2", "S3"}
        assert sum(r["pupils_on_roll"] for r in body["schools"]) == len(
            set(world.town["enrolments"]["pupil_id"]))
        names = {(r["scope"], r["name"]) for r in body["psi"]}
        assert ("all", "score") in names and ("all", "illness_rate_4w") in names
        assert body["reference_window"]["first"] == "2024-09-02"
    # aggregates only: no pupil id anywhere in the answer
    text = client.get("/v1/monitoring", headers=world.headers("analyst")).text
    assert not any(str(p) in text for p in world.town["pupils"]["pupil_id"])
    # re-running the week replaces its run (and its rows) rather than adding one
    from sqlalchemy import func, select

    from model.oversight import monitoring_psi, monitoring_runs

    again = store_monitoring(world.engine, result)
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(monitoring_runs).where(
            monitoring_runs.c.week == "2024-W44")).scalar() == 1
        runs_of_week = select(monitoring_runs.c.id).where(monitoring_runs.c.week == "2024-W44")
        assert conn.execute(select(func.count()).select_from(monitoring_psi).where(
            monitoring_psi.c.run_id.in_(runs_of_week))).scalar() == len(result.psi)
        # the replaced run's rows are gone too, not left behind without their run
        assert conn.execute(select(func.count()).select_from(monitoring_psi).where(
            monitoring_psi.c.run_id.not_in(select(monitoring_runs.c.id)))).scalar() == 0
    assert latest_monitoring(world.engine)["id"] == again
