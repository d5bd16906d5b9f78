"""A bare served store on SQLite and PostgreSQL (one school, a token per role, no model) for the
hardening tests: what the service answers to hostile ids, sessions and dates on both stores."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
KEY = "test-key-" + "x" * 32


@dataclass
class Bare:
    settings: object
    engine: object
    client: object
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def bare(store_url, tmp_path):
    from fastapi.testclient import TestClient
    from sqlalchemy import insert

    from model.settings import Settings
    from model.store import open_store, schools
    from serving.app import create_app
    from serving.auth import create_token
    from serving.champion import ChampionHolder

    home = tmp_path / "home"
    settings = Settings(home=home, pseudonym_key=KEY, environment="test", database_url=store_url)
    settings.mlflow_tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    engine = open_store(store_url)
    with engine.begin() as conn:
        conn.execute(insert(schools), [{"school_id": "S01", "name": "Østskolen"}])

    class NoRegistry:  # no champion: the hostile requests must be refused before any model
        def champion_version(self):
            return None

    holder = ChampionHolder(settings, NoRegistry())
    # A stand-in champion, never used: every hostile request must be refused (422) before any
    # model or store lookup; without one, a 503 for the missing model would hide the answer.
    holder._served = SimpleNamespace(version="0", champion=None, details={})
    app = create_app(settings, holder=holder, poll_seconds=0, warm=False)
    b = Bare(settings, engine, None)
    for who, role, school in (("team", "team", "S01"), ("school", "school", "S01"),
                              ("analyst", "analyst", None), ("admin", "admin", None)):
        b.tokens[who] = create_token(engine, role, school, name=who).token
    with TestClient(app, raise_server_exceptions=False) as client:
        b.client = client
        yield b
    engine.dispose()
