"""What `ews train` shows as it goes: which fold and which stage (issue 12).

A rich progress bar on standard error when it is a terminal, else one plain line per stage.
"""

from __future__ import annotations

import sys
import time


class TrainProgress:
    """A callable `progress(stage)` for `train_and_evaluate` and the logging after it."""

    def __init__(self, total: int, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = (self.stream.isatty() and sys.stdout.isatty()) if enabled is None else enabled
        self.total = total
        self._progress = None
        self._task = None
        self._start = time.monotonic()

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("train: {task.description:<44}"), BarColumn(),
                                      TimeElapsedColumn(), console=Console(stderr=True),
                                      transient=True)
            self._progress.start()
            self._task = self._progress.add_task("starting", total=self.total)
        return self

    def __call__(self, stage: str, advance: int = 1) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=advance, description=stage)
        else:
            print(f"train: {stage} ({time.monotonic() - self._start:.0f} s)", file=self.stream, flush=True)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.total)
            self._progress.stop()
