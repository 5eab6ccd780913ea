"""CSV: one row per (app, model entry), fixed column order, lists joined with ``; ``."""

from __future__ import annotations

import csv as _csv
from dataclasses import dataclass
from typing import IO, Any, Sequence

from modelhound.report.rows import COLUMNS, DETAIL, cell_text


@dataclass(frozen=True)
class CsvFormat:
    """CSV report."""

    columns: tuple[str, ...] = COLUMNS
    name: str = "csv"
    structured: bool = True

    def write(self, rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
              stream: IO[str]) -> None:
        """Header, then one line per row; unknown extra columns go after the fixed ones."""
        extra = [k for r in rows for k in r if k not in self.columns and k != DETAIL]
        columns = list(self.columns) + list(dict.fromkeys(extra))
        writer = _csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow([cell_text(r.get(c)) for c in columns])
