"""Deliveries (defect 10): an older delivery imported again after a newer one changed its rows is
refused with one line naming both imports and the rows it would revert; --force re-applies it;
importing the same delivery twice still changes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from model.errors import UserError
from model.register import register_rows
from model.settings import Settings
from model.store import open_store
from tests.cli import demo_env, run
from tests.factories import small_municipality

KEY = "test-key-" + "x" * 32


def deliveries(root):
    town = small_municipality(pupils=10, schools=2, weeks=1, seed=4)
    a = town.write(root / "a")
    newer = town.copy()
    att = newer["attendance"]
    rows = att.index[att.status == "present"][:3]
    att.loc[rows, "status"] = "illness"
    att.loc[rows, "absent_fraction"] = ""
    return a, newer.write(root / "b"), len(rows)


def test_an_older_delivery_after_a_newer_one_is_refused(tmp_path, store_url):
    from serving.ingest import ingest_folder

    settings = Settings(home=tmp_path / "home", pseudonym_key=KEY, environment="test",
                        database_url=store_url)
    engine = open_store(store_url)
    a, b, corrected = deliveries(tmp_path)
    first = ingest_folder(settings, engine, a)
    assert not ingest_folder(settings, engine, a).changed  # the same delivery: nothing new
    second = ingest_folder(settings, engine, b)
    assert second.changed
    after_b = register_rows(engine)
    with pytest.raises(UserError) as err:
        ingest_folder(settings, engine, a)
    line = err.value.one_line()
    assert "\n" not in line
    assert f"batch {first.batch_id}'s" in line and f"batch {second.batch_id}" in line
    assert f"revert {corrected} rows" in line and "--force" in line
    assert register_rows(engine).equals(after_b)  # nothing written
    forced = ingest_folder(settings, engine, a, force=True)
    assert forced.changed and forced.report["forced_reimport_of_batch"] == first.batch_id
    assert not register_rows(engine).equals(after_b)
    assert not ingest_folder(settings, engine, a).changed  # now the latest: idempotent
    engine.dispose()


def test_the_cli_refuses_in_one_line_and_force_reapplies(tmp_path):
    env = demo_env(tmp_path / "home")
    a, b, _ = deliveries(tmp_path)
    run(["ingest", str(a)], env)
    run(["ingest", str(b)], env)
    refused = run(["ingest", str(a)], env, code=2)
    assert refused.stderr.count("\n") == 1 and "would revert 3 rows" in refused.stderr
    run(["ingest", "--force", str(a)], env)
