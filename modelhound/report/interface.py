"""The report stage's interface: a format writes rows (and app records) to a stream."""

from __future__ import annotations

from typing import IO, Any, Protocol, Sequence, runtime_checkable



@runtime_checkable
class ReportFormat(Protocol):
    """A way of writing a scan's findings."""

    name: str
    structured: bool
    """Whether the output is meant for machines (CSV, JSON) rather than people."""

    def write(self, rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
              stream: IO[str]) -> None:
        """Write the report to ``stream``; ``apps`` are :func:`app_record` dicts."""
        ...
