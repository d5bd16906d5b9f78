"""User errors: one exception type carrying file, line, column and rule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One broken rule in one place of the input. `line` counts the header as line 1."""

    file: str
    rule: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.rule}"


class UserError(Exception):
    """Bad input or a bad request by the user: shown as one line, never as a traceback."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(file="-", rule=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The first problem, plus how many more there were."""
        first = self.problems[0]
        text = first.rule if first.file == "-" else str(first)
        more = len(self.problems) - 1
        return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
