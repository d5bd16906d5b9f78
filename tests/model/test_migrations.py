"""The store is created by its Alembic migrations; the code queries it through the SQLAlchemy
metadata. The two must describe the same schema, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import model.oversight  # noqa: F401 - registers its tables on the metadata
import model.records  # noqa: F401
from model.store import metadata, open_store


def test_the_migrations_build_exactly_the_tables_the_code_declares(store_url):
    engine = open_store(store_url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert differences == []
