"""Rich progress for long scans: the only place besides the CLI that touches rich."""

from __future__ import annotations

import os
from typing import Any

from modelhound.records import AppScan


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
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]scanning"), BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), TextColumn("{task.description}"),
            console=self._console, transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("", total=total)

    def finished_one(self, scan: AppScan) -> None:
        """Advance the bar."""
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=os.path.basename(scan.app.path))
