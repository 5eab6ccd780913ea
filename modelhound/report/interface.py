"""The report stage's interface: a format writes rows (and app records) to a stream."""

from __future__ import annotations

from typing import IO, Any, Protocol, Sequence, runtime_checkable

from modelhound.records import AppScan


@runtime_checkable
class ReportFormat(Protocol):
    """A way of writing a scan's findings."""

    name: str
    structured: bool
    """Whether the output is meant for machines (CSV, JSON) rather than people."""

    def write(self, rows: Sequence[dict[str, Any]], scans: Sequence[AppScan], stream: IO[str]) -> None:
        """Write the report to ``stream``."""
        ...
