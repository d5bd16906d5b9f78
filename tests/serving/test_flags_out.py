"""`ews flags --out` end to end (defect 1): a nested folder that does not exist is created, the
lists land inside it, owner-only, and nothing is left in a staging folder."""

from __future__ import annotations

import os
import shutil
import stat

from tests.cli import run
from tests.serving.conftest import FLAG_WEEK, KEY


def test_flags_into_a_nested_out_folder_that_does_not_exist(world, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(world.settings.home, home)  # the served municipality, its champion included
    env = {**os.environ, "EWS_HOME": str(home), "EWS_PSEUDONYM_KEY": KEY,
           "EWS_DATABASE_URL": f"sqlite:///{home / 'ews.db'}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}
    out = tmp_path / "lists" / "2024" / "uge"
    proc = run(["flags", "--week", FLAG_WEEK, "--out", str(out)], env)
    assert "Traceback" not in proc.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(f"{FLAG_WEEK}/S{i}.{fmt}" for i in (1, 2, 3)
                             for fmt in ("csv", "html", "xlsx"))
    assert all(stat.S_IMODE((out / p).stat().st_mode) == 0o600 for p in written)
    assert [p.name for p in out.iterdir()] == [FLAG_WEEK]  # no staging folder left


def test_flags_into_a_relative_out_folder(world, tmp_path):
    """`--out lists/` as the README writes it: relative to the working directory."""
    from serving.exports import export_flag_lists
    from serving.stored_lists import stored_flag_list

    stored = stored_flag_list(world.engine, "S1", FLAG_WEEK, "da")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        [paths] = export_flag_lists([stored], "lists/")
    finally:
        os.chdir(cwd)
    assert sorted(p.name for p in paths) == ["S1.csv", "S1.html", "S1.xlsx"]
    assert all(p.is_file() and p.is_relative_to(tmp_path / "lists") for p in paths)
    assert [p.name for p in (tmp_path / "lists").iterdir()] == [FLAG_WEEK]
