"""Shared fixtures: settings pointed at a temporary EWS_HOME, and stores on SQLite and PostgreSQL.

PostgreSQL tests use the server at EWS_TEST_POSTGRES_URL (default: 127.0.0.1:5432, database
`test`), each test in a schema of its own. Where no server answers they skip with the reason —
except under CI (CI=true), where a missing server is a failure, not a skip.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from model.settings import Settings

POSTGRES_URL = os.environ.get(
    "EWS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: no server here
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}"


_PG_PROBLEM = _postgres_problem()


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Settings with EWS_HOME in a temporary folder and a fixed pseudonym key."""
    home = tmp_path / "ews-home"
    monkeypatch.setenv("EWS_HOME", str(home))
    monkeypatch.setenv("EWS_PSEUDONYM_KEY", "test-key-" + "x" * 32)
    monkeypatch.delenv("EWS_DATABASE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from model import settings as settings_module

    settings_module.get_settings.cache_clear()
    yield Settings()
    settings_module.get_settings.cache_clear()


@contextlib.contextmanager
def postgres_schema():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped on leaving; skips (fails
    under CI) where no server answers. For fixtures of any scope."""
    if _PG_PROBLEM:
        if IN_CI:
            pytest.fail(_PG_PROBLEM + " (CI must run the PostgreSQL tests)")
        pytest.skip(_PG_PROBLEM)
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    """The same test on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")
