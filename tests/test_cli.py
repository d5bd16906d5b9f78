"""The command line as a person meets it: errors as one line, help texts that read well.

In-process (typer's CliRunner): every command of `ews`, including those added later, is found by
walking the command tree, so a new command is covered without editing this file.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from ews.cli import app

WIDTH = 100  # the terminal width the help is rendered at


def _commands(group=None, path=()):
    """(path, click command) for every leaf command of `ews`, e.g. (("token", "create"), cmd)."""
    group = group or get_command(app)
    for name, command in group.commands.items():
        if getattr(command, "commands", None):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def _groups(group=None, path=()):
    group = group or get_command(app)
    yield path, group
    for name, command in group.commands.items():
        if getattr(command, "commands", None):
            yield from _groups(command, (*path, name))


ALL = list(_commands())
REQUIRED = [(path, [p for p in cmd.params if p.required]) for path, cmd in ALL]
WITH_REQUIRED = [(path, params) for path, params in REQUIRED if params]


def invoke(args: list[str]):
    return CliRunner().invoke(app, args, env={"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH)})


def test_the_walk_finds_the_commands_and_their_required_options():
    names = {" ".join(path) for path, _ in ALL}
    assert {"ingest", "train", "score", "flags", "serve", "token create", "erase"} <= names
    required = {" ".join(path): [p.name for p in params] for path, params in WITH_REQUIRED}
    assert set(required["score"]) == {"as_of", "out"} and required["erase"] == ["pupil"]


@pytest.mark.parametrize(("path", "params"), WITH_REQUIRED, ids=[" ".join(p) for p, _ in WITH_REQUIRED])
def test_a_missing_required_option_is_one_line_and_exit_2(path, params):
    result = invoke(list(path))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ") and " ".join(path) in line, line
    assert re.search(r"Missing (option|argument|parameter)", line), line
    assert not any(ch in line for ch in "╭╰│─"), line


@pytest.mark.parametrize("args", [["scor"], ["score", "--as-of", "2026-01-05", "--out", "x.csv",
                                             "--nonsense"], ["serve", "--port", "0"]])
def test_other_usage_errors_are_one_line_too(args):
    result = invoke(args)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")


@pytest.mark.parametrize("command", [["flags", "--out", "lists"], ["monitor"]])
def test_a_week_past_the_years_last_says_out_of_range(settings, tmp_path, command):
    result = invoke([*command, "--week", "2026-W60"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: week 2026-W60 does not exist: 2026 has ISO weeks 1-53"
    result = invoke([*command, "--week", "2025-W53"])  # 2025 has 52 weeks
    assert result.stderr.strip() == "error: week 2025-W53 does not exist: 2025 has ISO weeks 1-52"
    result = invoke([*command, "--week", "2026-48"])  # the shape is wrong: then say so
    assert "must look like 2024-W42" in result.stderr and len(result.stderr.splitlines()) == 1


def _wrap_breaks(lines: list[str], width: int) -> list[str]:
    """Lines broken early: the next line's first word would have fit on this one."""
    return [f"{this.strip()!r} / {following.strip()!r}"
            for this, following in zip(lines, lines[1:], strict=False)
            if this.strip() and following.strip()
            and len(this.rstrip()) + 1 + len(following.split()[0]) <= width]


def _wrapped_runs(help_text: str) -> list[tuple[list[str], int]]:
    """(lines, width) of each wrapped text in a rendered help: the paragraphs above the boxes
    (width: the terminal's less the margins) and each command's description in a command list
    (width: the description column's; a row continues while its name column is blank)."""
    lines = help_text.splitlines()
    runs: list[tuple[list[str], int]] = []
    top: list[str] = []
    for line in lines:
        if line.startswith("╭"):
            break
        if not line.strip().startswith("Usage:"):
            top.append(line.strip())
    runs += [(run.split("\n"), WIDTH - 2) for run in "\n".join(top).split("\n\n") if run.strip()]
    in_commands, column = False, None
    for line in lines:
        if line.startswith("╭"):
            in_commands, column = "Commands" in line, None
            continue
        if not (in_commands and line.startswith("│")):
            continue
        inner = line[1:-1]  # between the borders
        width = len(inner) - 1
        if inner[1] != " ":  # a new row: " name   description"
            column = re.match(r"^ \S+\s+", inner).end()
            runs.append(([inner[column:].rstrip()], width - column))
        else:
            runs[-1][0].append(inner[column:].rstrip())
    return runs


def test_help_texts_reflow_without_odd_line_breaks():
    """Every command's help and the command lists wrap at the width, not at the line breaks of
    the docstrings: no line ends where the next word would still have fit."""
    odd = []
    pages = [list(path) for path, _ in _groups()] + [list(path) for path, _ in ALL]
    for args in pages:
        result = invoke([*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        runs = _wrapped_runs(result.stdout)
        assert runs, (args, result.stdout)
        for run, width in runs:
            odd += [f"ews {' '.join(args)} --help: {item}" for item in _wrap_breaks(run, width)]
    assert odd == []


def test_the_docstrings_are_reflowed_not_kept_line_for_line():
    for path, cmd in ALL:
        for paragraph in (cmd.help or "").split("\n\n"):
            assert "\n" not in paragraph, (path, paragraph)


# -- progress on the long commands ---------------------------------------------------------------


class _RecordedSteps:
    """Stands in for model.progress.Steps: records what a command announces."""

    made: list[_RecordedSteps] = []

    def __init__(self, label, total, enabled=None, **_):
        self.label, self.total, self.enabled, self.seen = label, total, enabled, []
        _RecordedSteps.made.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def next(self, description):
        self.seen.append(description)

    def more(self, steps):
        self.total += steps


@pytest.mark.parametrize("args", [["score", "--as-of", "2026-01-05", "--out", "s.csv"],
                                  ["flags", "--out", "lists", "--week", "2026-W02"],
                                  ["monitor", "--week", "2026-W02"]], ids=lambda a: a[0])
def test_long_commands_show_progress_only_on_a_terminal(settings, monkeypatch, args):
    from model.errors import UserError

    def no_champion(_settings):
        raise UserError("no champion model is registered yet: run `ews train` first")

    monkeypatch.setattr("serving.champion.load_champion", no_champion)
    monkeypatch.setattr("ews.cli.Steps", _RecordedSteps)
    _RecordedSteps.made = []
    result = invoke(args)
    assert result.exit_code == 2 and "no champion" in result.stderr
    [steps] = _RecordedSteps.made
    if args[0] == "flags":  # without a champion the rules' sections still go out (issue 12):
        # it gets as far as cutting the lists, which an empty store refuses
        assert "no pupils on roll" in result.stderr
        assert steps.seen == ["loading the champion", "scoring, cutting the lists"]
    else:
        assert steps.seen == ["loading the champion"]
    assert steps.label == args[0]
    assert steps.enabled is None  # decided by model.progress: a terminal or nothing


def test_the_installed_command_keeps_what_it_writes_the_owners_only(tmp_path):
    """The console script (`.venv/bin/ews`, as cron and a user run it) goes through `main`, which
    sets umask 077, so a demo delivery written under a permissive umask is private."""
    ews = Path(sys.executable).parent / "ews"
    assert ews.exists(), f"the console script is not installed beside {sys.executable}"
    out = tmp_path / "delivery"
    subprocess.run([str(ews), "demo-data", str(out), "--pupils", "40", "--schools", "1",
                    "--until", "2026-11-20"], check=True, capture_output=True, timeout=120,
                   env={**os.environ, "EWS_HOME": str(tmp_path / "home")},
                   preexec_fn=lambda: os.umask(0o022))
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "attendance.csv" for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), files
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
