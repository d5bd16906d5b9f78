"""The progress bar of long commands: drawn on a terminal, nothing anywhere else."""

from __future__ import annotations

import io
import sys

from model.progress import Steps, on_a_terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_when_standard_error_is_not_a_terminal(capsys):
    assert not on_a_terminal()  # pytest captures standard error
    with Steps("score", 3) as steps:
        steps.next("reading the register")
        steps.more(2)
        steps.next("reasons")
    assert steps.enabled is False and steps.total == 5
    assert capsys.readouterr().err == ""


def test_on_a_terminal_the_bar_names_the_command_and_its_step(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert on_a_terminal()
    with Steps("flags", 2) as steps:
        assert steps.enabled
        steps.next("loading the champion")
        steps.next("writing S01")
    drawn = terminal.getvalue()
    assert "flags: writing S01" in drawn


def test_explicitly_off_stays_off_on_a_terminal(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with Steps("ingest", 2, enabled=False) as steps:
        steps.next("finding files")
    assert terminal.getvalue() == ""
