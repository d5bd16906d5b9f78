"""The champion in the service: a newly promoted version is swapped in while requests run (none
fails, later ones report it); an unreachable registry keeps the last good model and /health
says so; no model at all still answers the rules (risk null, a message), not a 5xx."""

from __future__ import annotations

import threading
import time

import httpx
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.champion import ChampionHolder, MlflowRegistry, RegistryUnavailable
from tests.serving.conftest import NoChampion, promote, served


class Unreachable:
    """A registry that cannot be asked."""

    def champion_version(self):
        raise RegistryUnavailable("model registry unreachable: ConnectionError")

    def load(self, version):
        raise RegistryUnavailable("model registry unreachable: ConnectionError")

    def details(self, version):
        return {}


def test_a_promoted_champion_is_swapped_in_while_requests_run(world):
    old, new = world.versions
    app = create_app(world.settings, poll_seconds=0.2)  # the background check, often
    pupils = world.pupils_of("S1") + world.pupils_of("S2")
    as_of = ["2024-09-16", "2024-09-23", "2024-09-30", "2024-10-07", "2024-10-14", None]
    results: list[tuple[float, float, int, str | None]] = []
    stop = threading.Event()

    def client_loop(k: int, base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            i = k
            while not stop.is_set():
                day = as_of[i % len(as_of)]
                query = f"?as_of={day}" if day else ""
                start = time.monotonic()
                r = http.get(f"/v1/pupils/{pupils[i % len(pupils)]}/risk{query}",
                             headers=world.headers("analyst"))
                version = r.json().get("model_version") if r.status_code == 200 else None
                results.append((start, time.monotonic(), r.status_code, version))
                i += 4

    try:
        with served(app) as base:
            warm = httpx.get(f"{base}/v1/pupils/{pupils[0]}/risk", headers=world.headers("analyst"))
            assert warm.status_code == 200  # shap imported before the clock starts
            threads = [threading.Thread(target=client_loop, args=(k, base)) for k in range(4)]
            for t in threads:
                t.start()
            time.sleep(1.0)
            promote(world.settings, new)
            deadline = time.monotonic() + 30
            while app.state.holder.served.version != new and time.monotonic() < deadline:
                time.sleep(0.02)
            swapped_at = time.monotonic()
            time.sleep(1.0)
            stop.set()
            for t in threads:
                t.join(timeout=30)
            health = httpx.get(f"{base}/health").json()
    finally:
        promote(world.settings, old)
    assert app.state.holder.served.version == new and health["model_version"] == new
    assert len(results) > 20
    assert all(status == 200 for _, _, status, _ in results), \
        {s for _, _, s, _ in results}
    assert {v for *_, v in results} == {old, new}
    assert all(v == new for start, _, _, v in results if start > swapped_at)
    assert any(v == old for start, _, _, v in results if start < swapped_at)
    assert app.state.holder.swaps == 2  # the start-up load and the promotion


def test_an_unreachable_registry_keeps_the_last_good_model(world):
    app = create_app(world.settings, poll_seconds=0)
    pupil = world.pupils_of("S1")[0]
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "ok"
        app.state.holder.registry = Unreachable()
        refreshed = client.post("/v1/model/refresh", headers=world.headers("admin")).json()
        assert refreshed["swapped"] is False and refreshed["registry_reachable"] is False
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["registry_reachable"] is False
        assert health["model_version"] == world.versions[0]
        assert "unreachable" in health["problem"] and "last good model" in health["problem"]
        r = client.get(f"/v1/pupils/{pupil}/risk", headers=world.headers("team-S1"))
        assert r.status_code == 200 and r.json()["model_version"] == world.versions[0]
        assert "ews_model_registry_reachable 0" in client.get("/metrics").text
        app.state.holder.registry = MlflowRegistry(world.settings)
        client.post("/v1/model/refresh", headers=world.headers("analyst"))
        assert client.get("/health").json()["status"] == "ok"


def test_a_registry_server_that_does_not_answer(world, monkeypatch):
    """A real MLflow client pointed at a port where nothing listens."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = world.settings.model_copy(update={"mlflow_tracking_uri": f"http://127.0.0.1:{port}"})
    holder = ChampionHolder(world.settings)
    assert holder.refresh() is True
    holder.registry = MlflowRegistry(down)
    started = time.monotonic()
    assert holder.refresh() is False
    assert time.monotonic() - started < 20
    status = holder.status()
    assert status["registry_reachable"] is False and status["model_version"] == world.versions[0]
    assert holder.served.version == world.versions[0]


def test_without_any_model_risk_is_null_with_the_rules_and_health_degraded(world):
    app = create_app(world.settings, registry=Unreachable(), poll_seconds=0)
    with TestClient(app) as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["model_version"] is None
        assert "no model loaded" in health["problem"]
        r = client.get(f"/v1/pupils/{world.pupils_of('S1')[0]}/risk",
                       headers=world.headers("team-S1"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["risk"] is None and body["band"] is None and body["model_version"] is None
        assert body["reasons"] == [] and isinstance(body["already_concerning"], bool)
        assert "no risk is given" in body["message"]
        assert body["statutory_level"] in (None, "warning", "notification")
        history = client.get(f"/v1/pupils/{world.pupils_of('S1')[0]}/history",
                             headers=world.headers("team-S1"))
        assert history.status_code == 200 and history.json()["model_version"] is None
        weeks = history.json()["weeks"]
        assert weeks and all(w["risk"] is None for w in weeks)
        assert any(w["absence"] is not None for w in weeks)
        assert client.get("/v1/model", headers=world.headers("analyst")).status_code == 503
        # reads that need no model still work
        flags = client.get("/v1/schools/S1/flags", headers=world.headers("team-S1"))
        assert flags.status_code == 200


def test_a_version_that_fails_to_load_is_not_swapped_in(world):
    class BrokenLoad(MlflowRegistry):
        def champion_version(self):
            return "99"

    holder = ChampionHolder(world.settings)
    holder.refresh()
    holder.registry = BrokenLoad(world.settings)
    assert holder.refresh() is False
    assert holder.served.version == world.versions[0]
    assert holder.status()["registry_reachable"] is False


def test_the_service_limits_openmp_threads(world, monkeypatch):
    """Where the model runs (a worker thread), OpenMP - what HistGradientBoosting uses - runs
    settings.threads threads, whatever the process had before (OpenMP keeps the count per
    thread; `ews serve` also sets OMP_NUM_THREADS and OPENBLAS_NUM_THREADS before loading)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from serving import risk

    threadpool_limits(2)
    seen = []
    real = risk.score_frame

    def spy(*args, **kwargs):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp")
        return real(*args, **kwargs)

    monkeypatch.setattr(risk, "score_frame", spy)
    app = create_app(world.settings, poll_seconds=0, warm=False)
    with TestClient(app) as client:
        r = client.get(f"/v1/pupils/{world.pupils_of('S1')[0]}/risk?as_of=2024-09-09",
                       headers=world.headers("analyst"))
        assert r.status_code == 200
    assert seen and set(seen) == {world.settings.threads}


def test_a_champion_trained_on_other_features_is_not_served(world):
    """A version from before a feature was added would fail every request: it is refused, the
    last good model stays, and /health says why."""
    import copy

    class OldFeatures(MlflowRegistry):
        def champion_version(self):
            return "7"

        def load(self, version):
            champion = copy.copy(super().load(world.versions[0]))
            champion.model = copy.deepcopy(champion.model)
            champion.model.feature_names_ = champion.model.feature_names_[:-3]
            champion.model.n_features_in_ -= 3
            champion.version = version
            return champion

    app = create_app(world.settings, poll_seconds=0)
    with TestClient(app) as client:
        app.state.holder.registry = OldFeatures(world.settings)
        client.post("/v1/model/refresh", headers=world.headers("admin"))
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["model_version"] == world.versions[0]
        assert "trained on" in health["problem"] and "ews train" in health["problem"]
    fresh = create_app(world.settings, registry=OldFeatures(world.settings), poll_seconds=0)
    with TestClient(fresh) as client:
        assert client.get("/health").json()["model_version"] is None
        r = client.get(f"/v1/pupils/{world.pupils_of('S1')[0]}/risk",
                       headers=world.headers("analyst"))
        assert r.status_code == 200 and r.json()["risk"] is None
        assert "ews train" in client.get("/health").json()["problem"]


def test_with_no_champion_promoted_nothing_answers_5xx(world):
    app = create_app(world.settings, registry=NoChampion(), poll_seconds=0)
    with TestClient(app) as client:
        pupil = world.pupils_of("S1")[0]
        for path, who in ((f"/v1/pupils/{pupil}/risk", "team-S1"),
                          (f"/v1/pupils/{pupil}/history", "team-S1"),
                          ("/v1/schools/S1/flags", "team-S1"), ("/v1/model", "analyst"),
                          ("/v1/model/card", "analyst"), ("/health", "analyst")):
            r = client.get(path, headers=world.headers(who))
            assert r.status_code < 500, (path, r.status_code, r.text)
        model = client.get("/v1/model", headers=world.headers("analyst"))
        assert model.status_code == 404 and model.headers["content-type"] == "application/problem+json"
        assert "No champion model is promoted yet" in model.json()["detail"]
        assert client.get(f"/v1/pupils/{pupil}/risk",
                          headers=world.headers("team-S1")).json()["risk"] is None
