"""deploy/: the systemd units pass `systemd-analyze verify` (rendered with this environment's `ews`,
since verify checks that ExecStart exists), the timer fires on Monday at 06:00 and catches up, and
the cron line runs the same command on the same schedule."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).parents[1] / "deploy"
INSTALLED_EWS = "/opt/fravaersradar/.venv/bin/ews"
UNITS = ["fravaersradar-weekly.service", "fravaersradar-weekly.timer", "fravaersradar-serve.service"]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(DEPLOY / name)
    return parser


def test_systemd_analyze_verify_passes_on_the_units(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here (Debian: apt-get install systemd)")
    ews = Path(sys.executable).with_name("ews")
    assert ews.exists(), f"{ews}: install the package (pip install -e .) to render the units"
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        (tmp_path / name).write_text(text.replace(INSTALLED_EWS, str(ews)))
    proc = subprocess.run(["systemd-analyze", "verify", *UNITS], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "fravaersradar" in line]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


def test_the_timer_runs_the_weekly_job_on_monday_at_six_and_catches_up():
    timer = unit("fravaersradar-weekly.timer")
    assert timer["Timer"]["OnCalendar"].startswith("Mon *-*-* 06:00:00")
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "fravaersradar-weekly.service"
    service = unit("fravaersradar-weekly.service")["Service"]
    assert service["Type"] == "oneshot" and service["ExecStart"] == f"{INSTALLED_EWS} weekly"
    assert service["SuccessExitStatus"] == "3"  # done, monitoring alarmed: not a failed unit
    serve = unit("fravaersradar-serve.service")["Service"]
    assert serve["ExecStart"].startswith(f"{INSTALLED_EWS} serve")


def test_the_cron_line_runs_the_same_command_on_the_same_schedule():
    lines = [line for line in (DEPLOY / "fravaersradar.cron").read_text().splitlines()
             if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    weekly = [line for line in lines if line.split()[:6] == ["0", "6", "*", "*", "1", "ews"]]
    assert len(weekly) == 1 and f"{INSTALLED_EWS} weekly" in weekly[0]
    assert "CRON_TZ=Europe/Copenhagen" in (DEPLOY / "fravaersradar.cron").read_text()
