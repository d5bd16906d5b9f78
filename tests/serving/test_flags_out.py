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
