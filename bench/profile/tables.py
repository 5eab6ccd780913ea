"""What bench/profile's scripts share: a markdown table, and a results file whose newest run
comes first (every earlier run kept below it, under the file's one title line)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a markdown table."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(r) + " |" for r in rows)]


def prepend_run(out: Path, text: str) -> None:
    """Write ``text`` (title line first) to ``out`` above the runs it already holds."""
    earlier = out.read_text().split("\n", 1)[1].lstrip("\n") if out.exists() else ""
    out.write_text(text + ("\n" + earlier if earlier else ""))


def run_text(title: str, command: str, how: str, head: Sequence[str],
             rows: Sequence[Sequence[str]], extra: Sequence[Sequence[str]] = ()) -> str:
    """One run's section: the file's title, the run's time, the command and how it measured,
    then the table (``extra``: rows after the measured ones, e.g. a total)."""
    return "\n".join([
        f"# {title}", "", f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
        f"`{command}`{how}", "", *markdown_table(head, [*rows, *extra]), ""])
