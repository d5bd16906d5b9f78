"""Progress of a long command: one `rich` bar on standard error, step by step.

Shown only where a person watches: when standard error is a terminal (or when asked for
explicitly). Scheduled runs, pipes and tests get nothing, so their logs stay clean. Used by
`ews ingest`, `ews score`, `ews flags`, `ews monitor` and the national benchmark.
"""

from __future__ import annotations

import sys


def on_a_terminal() -> bool:
    """Whether a progress bar would be seen: standard error is a terminal."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class Steps:
    """`with Steps("score", 4) as steps: steps.next("reading the register") ...`: a bar of the
    steps done so far, showing the name of the one running; silent when not enabled.

    `enabled=None` means: only on a terminal. `more(n)` adds steps found on the way (e.g. one
    per school once the schools are known).
    """

    def __init__(self, label: str, total: int, enabled: bool | None = None, width: int = 28):
        self.label = label
        self.total = total
        self.enabled = on_a_terminal() if enabled is None else enabled
        self.width = width
        self._progress = None
        self._task = None
        self._running = False

    def __enter__(self) -> Steps:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn(f"{self.label}: {{task.description:<{self.width}}}"), BarColumn(),
                TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task("starting", total=self.total)
        return self

    def next(self, description: str) -> None:
        """The running step (if any) is done; the next one begins."""
        if self._progress is not None:
            self._progress.update(self._task, advance=1 if self._running else 0,
                                  description=description)
        self._running = True

    def more(self, steps: int) -> None:
        """`steps` more steps than announced."""
        self.total += steps
        if self._progress is not None:
            self._progress.update(self._task, total=self.total)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.total)
            self._progress.stop()
            self._progress = None
