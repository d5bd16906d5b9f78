"""System tier: `ews weekly` through the command line - user errors exit 2 with one line; on a
trained demo municipality a delivery dropped into EWS_HOME/inbox is taken, the week's lists
are cut, monitoring is logged, the team and the analysts are mailed (a real SMTP server on
loopback), and the command exits 0 or 3 as monitoring says; a re-run sends nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli import EWS, demo_env, run, trained_demo
from tests.serving.test_weekly import SmtpServer


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_user_errors_exit_2_with_one_line(tmp_path):
    env = demo_env(tmp_path / "home")

    def ews(*args, **extra):
        return subprocess.run(EWS + list(args), env={**env, **extra}, capture_output=True,
                              text=True, timeout=300)

    assert "week must look like 2024-W42" in one_line_error(ews("weekly", "--week", "2026-48"))
    assert "is not a folder" in one_line_error(ews("weekly", "--drop", str(tmp_path / "none")))
    assert "EWS_SMTP_URL" in one_line_error(ews("weekly", EWS_SMTP_URL="http://mail.example"))
    assert "no champion model" in one_line_error(ews("weekly", "--week", "2026-W48"))


@pytest.mark.slow
def test_weekly_on_a_trained_demo_takes_the_delivery_cuts_the_lists_and_mails(tmp_path):
    smtp = SmtpServer().start()
    try:
        env, _ = trained_demo(tmp_path, pupils=600, schools=2)
        env = {**env, "EWS_SMTP_URL": smtp.url, "EWS_MAIL_FROM": "ews@kommune.example",
               "EWS_PAGES_URL": "https://ews.kommune.example/pages"}
        inbox = Path(env["EWS_HOME"]) / "inbox"
        inbox.mkdir()
        shutil.copytree(tmp_path / "csv", inbox / "2026-11-23")  # the same files again
        run(["recipients", "add", "--school", "S01", "--email", "team@s01.example"], env)
        run(["recipients", "add", "--role", "analyst", "--email", "analyst@kommune.example"], env)

        first = run(["weekly", "--week", "2026-W48"], env, code=None)
        assert first.returncode in (0, 3), first.stderr
        assert "delivery 2026-11-23: unchanged" in first.stdout  # same files: nothing new
        assert (inbox / "done" / "2026-11-23").is_dir()
        assert "lists cut for 2 schools with model version 1" in first.stdout
        assert "mail: 2 new, 2 sent, 0 still owed" in first.stdout
        assert sorted(m["to"] for m in smtp.messages) == ["analyst@kommune.example",
                                                          "team@s01.example"]
        team = next(m for m in smtp.messages if m["to"] == "team@s01.example").get_content()
        assert "https://ews.kommune.example/pages/schools/S01/flags?week=2026-W48" in team
        assert ("status: alarm" in first.stderr) == (first.returncode == 3)

        again = run(["weekly", "--week", "2026-W48"], env, code=first.returncode)
        assert "already done" in again.stdout and len(smtp.messages) == 2
    finally:
        smtp.stop()
