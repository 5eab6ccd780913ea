"""Rich progress for long scans and zoo builds: the only place besides the CLI that touches rich.

Both show the current item, counts and the time left on one live line (on a terminal
only; piped output gets the finished lines alone), and every printed line is cut to the
console's width rather than wrapped, so nothing is torn across lines in a log.
"""

from __future__ import annotations

import os
from typing import Any

from modelhound.records import AppScan


def _columns(label: str) -> tuple[Any, ...]:
    from rich.progress import (BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.table import Column

    return (SpinnerColumn(), TextColumn(f"[bold]{label}"), BarColumn(bar_width=24),
            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.description}",
                       table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)))


class RichProgress:
    """A ScanObserver that drives a rich progress bar on stderr."""

    def __init__(self, console: Any, enabled: bool = True) -> None:
        self._console = console
        self._enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> "RichProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def started(self, total: int) -> None:
        """Start the bar (only when there is more than one input)."""
        if not self._enabled or total < 2:
            return
        from rich.progress import Progress

        self._progress = Progress(*_columns("scanning"), console=self._console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task("", total=total)

    def starting(self, path: str) -> None:
        """One input is about to be scanned: it becomes the current item."""
        if self._progress is not None:
            self._progress.update(self._task, description=os.path.basename(path))

    def finished_one(self, scan: AppScan) -> None:
        """Advance the bar."""
        if self._progress is not None:
            self._progress.update(self._task, advance=1,
                                  description=f"done {os.path.basename(scan.app.path)}")


class ZooProgress:
    """Progress of a zoo build: a live line (stage, current reference, count, time left)
    and one printed line per finished reference."""

    def __init__(self, console: Any, label: str = "zoo") -> None:
        self._console = console
        self._label = label
        self._progress: Any = None
        self._task: Any = None
        self._counted: set[str] = set()

    def __enter__(self) -> "ZooProgress":
        from rich.progress import Progress

        self._progress = Progress(*_columns(self._label), console=self._console, transient=True,
                                  disable=not self._console.is_terminal)
        self._progress.start()
        self._task = self._progress.add_task("starting", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def counts(self) -> tuple[int, int | None]:
        """(references finished, references expected so far)."""
        task = self._progress.tasks[0]
        total = None if task.total is None else int(task.total)
        return int(task.completed), total

    def stage(self, text: str) -> None:
        """A new stage (fetching seeds, importing a wheel, profiling)."""
        self._progress.update(self._task, description=text)

    def found(self, n: int) -> None:
        """``n`` more references are on their way (a wheel was opened)."""
        task = self._progress.tasks[0]
        self._progress.update(self._task, total=(task.total or 0) + n)

    def added(self, ref: Any) -> None:
        """One reference is finished: one line, and the count goes up (once per name)."""
        prof = "profiled" if ref.probe_id else (ref.profile_note or "weights only")
        self.line(f"  + {ref.name:<34} {ref.format:<6} {prof}")
        if ref.name not in self._counted:
            self._counted.add(ref.name)
            self._progress.update(self._task, advance=1, description=f"done {ref.name}")

    def line(self, text: str) -> None:
        """Print one line above the live display, cut (never wrapped) to the width."""
        self._progress.console.print(text, no_wrap=True, overflow="ellipsis", highlight=False,
                                     markup=False, soft_wrap=False)
