"""GET /v1/monitoring: the latest stored monitoring run, for analysts and admins only."""

from __future__ import annotations

from datetime import date

from model.features import feature_matrix, weekly_as_of_dates
from model.inputs import load_inputs
from model.monitoring import reference_distributions


def test_monitoring_is_for_analysts_and_admins_and_shows_the_latest_run(world, client):
    from serving.champion import load_champion
    from serving.monitoring import latest_monitoring, monitor_week, store_monitoring

    assert client.get("/v1/monitoring").status_code == 401
    for who in ("school-S1", "team-S1"):
        answer = client.get("/v1/monitoring", headers=world.headers(who))
        assert answer.status_code == 403, who
    if latest_monitoring(world.engine) is None:
        answer = client.get("/v1/monitoring", headers=world.headers("analyst"))
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")

    champion = load_champion(world.settings)
    builder = load_inputs(world.engine).feature_builder()
    days = builder.day_major.days
    window = builder.build(weekly_as_of_dates(days, date(2024, 9, 2), date(2024, 10, 21)))
    reference = reference_distributions(
        window, champion.model.predict_proba(feature_matrix(window))[:, 1], min_rows=10)
    result = monitor_week(world.settings, world.engine, champion, reference, "2024-W44",
                          today=date(2024, 12, 1))
    run_id = store_monitoring(world.engine, result)

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
        assert conn.execute(select(func.count()).select_from(monitoring_psi)).scalar() == len(
            result.psi)
    assert latest_monitoring(world.engine)["id"] == again
