"""The records tables: the audit log is append-only in the store itself, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from model.records import audit_log, audit_marker
from model.store import open_store


def test_audit_log_refuses_update_and_delete(store_url):
    engine = open_store(store_url)
    with engine.begin() as conn:
        conn.execute(insert(audit_log).values(at=datetime.now(UTC), actor="t", role="admin",
                                              action="read_risk", pupil_marker="a-1"))
    for statement in (update(audit_log).values(action="changed"), delete(audit_log)):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.action)).all()
    assert rows == [("read_risk",)]
    engine.dispose()


def test_migrations_are_idempotent(store_url):
    open_store(store_url).dispose()
    open_store(store_url).dispose()


def test_audit_marker_is_one_way_and_keyed():
    a = audit_marker("p-123", b"k1")
    assert a != audit_marker("p-123", b"k2")
    assert "p-123" not in a and a.startswith("a-")
