"""The README's examples work as written on the home `make demo` makes.

`make demo-home` (the steps of `make demo` without serving) builds a small demo municipality;
then every shell command in the code blocks of the README's "Use" section runs in one shell
session, in README order, with the `export` line `make demo-home` printed pasted first, and
must succeed. The section is parsed, so commands added to it later are covered too. What is
changed on the way is listed in SUBSTITUTIONS and `_adapt` (the port, curl's --fail), nothing
else; `ews serve` is started in the background on a free loopback port.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ews.hints import HEADER
from tests.cli import demo_env

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEMO_SIZE = {"DEMO_PUPILS": "900", "DEMO_SCHOOLS": "3"}  # the smallest the model trains on well
README_PORT = "8000"

# What the README writes -> what the test runs instead (the port is chosen at run time).
SUBSTITUTIONS = {
    "localhost:8000": "127.0.0.1:{port}",
    "--port 8000": "--host 127.0.0.1 --port {port}",
    "curl ": "curl --fail-with-body --silent --show-error --max-time 120 ",
}
# Exit codes other than 0 that a command documents as a normal outcome on a demo.
ALSO_SUCCESS = {"ews monitor": {3}, "ews weekly": {3}}  # 3: monitoring alarm (drift or a
# precision drop), by design


def use_section_commands(text: str) -> list[str]:
    """The shell commands in the code blocks of the README's "Use" section: comments and blank
    lines dropped, backslash continuations joined."""
    section = re.search(r"^## Use\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert section, "the README has no '## Use' section"
    commands = []
    for block in re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", section.group(1),
                            flags=re.S | re.M):
        pending = ""
        for line in block.splitlines():
            line = pending + (line.lstrip() if pending else line)
            if line.endswith("\\"):
                pending = line[:-1].rstrip() + " "
                continue
            pending = ""
            command = _strip_comment(line).strip()
            if command:
                commands.append(command)
    return commands


def _strip_comment(line: str) -> str:
    """The line without a trailing `# comment`, as the shell reads it: a # starts a comment
    only outside quotes and at the start of a word."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def test_the_parser_finds_the_commands_and_drops_comments():
    text = ("## Use\n\nprose\n\n```bash\news a --x 1   # a comment\n# only a comment\n\n"
            "ews b \\\n  --y 2\ncurl \"h/x?week=$W\"\n```\n\n```text\nnot run\n```\n## Next\n")
    assert use_section_commands(text) == ["ews a --x 1", "ews b --y 2", 'curl "h/x?week=$W"']


def test_the_readme_use_section_has_the_basic_examples():
    commands = use_section_commands(README.read_text())
    firsts = {" ".join(c.split()[:2]) for c in commands}
    assert {"ews flags", "ews score", "ews serve", "ews ingest", "ews train"} <= firsts
    assert any(c.startswith("curl") for c in commands)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _adapt(command: str, port: int) -> str:
    for old, new in SUBSTITUTIONS.items():
        command = command.replace(old, new.format(port=port))
    return command


def _exports(make_output: str) -> dict[str, str]:
    """The `export NAME=VALUE ...` line printed under the demo-hints header."""
    lines = make_output.splitlines()
    assert HEADER in lines, make_output[-2000:]
    line = lines[lines.index(HEADER) + 1]
    words = shlex.split(line)
    assert words[0] == "export", line
    return dict(word.split("=", 1) for word in words[1:])


def _wait_for_health(port: int, server: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"ews serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("ews serve did not answer /health in time")


@pytest.mark.slow
def test_every_command_of_the_use_section_runs_on_a_demo_home(tmp_path):
    if shutil.which("make") is None or shutil.which("curl") is None:
        pytest.skip("needs make and curl")
    commands = use_section_commands(README.read_text())
    work = tmp_path / "work"
    work.mkdir()
    env = demo_env(tmp_path / "home", PYTHONPATH=str(ROOT),
                   # A demo of 900 pupils is too small to clear the real lift gate reliably
                   # (quality is measured on the full demo: docs/evaluation.md): this checks
                   # that the examples run, not the model's quality.
                   EWS_GATE_MIN_LIFT_OVER_RULES="0")
    # `ews` on the PATH as the README assumes, running this checkout with this interpreter.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ews").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m ews "$@"\n')
    (bin_dir / "ews").chmod(0o755)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"

    made = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "demo-home", f"DEMO={work / 'demo'}",
         f"OUT={work / 'out'}", f"EWS={bin_dir / 'ews'}", "EWS_READY=",
         *(f"{k}={v}" for k, v in DEMO_SIZE.items())],
        env=env, capture_output=True, text=True, timeout=1500)
    assert made.returncode == 0, (made.stdout[-3000:], made.stderr[-3000:])
    values = _exports(made.stdout)
    assert set(values) >= {"SCHOOL", "WEEK", "AS_OF", "PUPIL"}, values

    port = _free_port()
    state = tmp_path / "shell-state"
    state.write_text("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items()) + "\n")
    server = None
    timings = []
    try:
        for command in commands:
            started = time.monotonic()
            run = _adapt(command, port)
            if command.startswith("ews serve"):
                server = subprocess.Popen(
                    ["bash", "-c", f"source {shlex.quote(str(state))} && exec {run}"],
                    cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    text=True)
                _wait_for_health(port, server)
                continue
            script = (f"source {shlex.quote(str(state))}\n{run}\nrc=$?\n"
                      f"export -p > {shlex.quote(str(state))}\nexit $rc\n")
            proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=1200)
            allowed = {0} | next((codes for prefix, codes in ALSO_SUCCESS.items()
                                  if command.startswith(prefix)), set())
            assert proc.returncode in allowed, (command, proc.returncode, proc.stdout[-2000:],
                                                proc.stderr[-2000:])
            timings.append(f"{time.monotonic() - started:7.1f} s  {command}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    print("\n".join(timings))  # where the time goes, for the CI log (pytest -s or -rP)
    assert server is not None, "the Use section starts `ews serve` for its curl examples"
