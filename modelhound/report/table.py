"""The terminal report: a rich table of findings and a one-line summary."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any, Sequence

from modelhound.report.rows import cell_text

_STATUS_STYLE = {
    "ok": "green", "suspected-encrypted": "yellow", "unreadable": "red", "no-model": "dim",
    "error": "bold red", "duplicate": "dim",
}


@dataclass(frozen=True)
class TableFormat:
    """Rich table; ``console`` options are set by the caller (width, colour)."""

    name: str = "table"
    structured: bool = False
    show_empty: bool = False
    """Also list apps without models (they are always counted in the summary)."""
    columns: tuple[tuple[str, str], ...] = field(default=(
        ("app", "apk"), ("package", "package"), ("entry", "entry"), ("format", "format"),
        ("size", "size_bytes"), ("inputs", "inputs"), ("status", "status"),
        ("reason", "reason"),
    ))

    def write(self, rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
              stream: IO[str]) -> None:
        """Render to ``stream`` through a rich Console."""
        from rich.console import Console

        console = Console(file=stream, width=160 if not stream.isatty() else None,
                          color_system=None if not stream.isatty() else "auto")
        self.render(rows, apps, console)

    def render(self, rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
               console: Any) -> None:
        """Render onto an existing rich Console."""
        from rich.table import Table

        extra = [(k.replace("_", " "), k) for k in ("runnable", "match", "reuse_type")
                 if any(r.get(k) for r in rows)]
        if any(r.get("verdict") for r in rows):
            extra.append(("why", "_why"))
        table = Table(title="modelhound findings", show_lines=False, expand=False)
        cols = list(self.columns) + list(dict.fromkeys(extra))
        for title, _ in cols:
            table.add_column(title, overflow="fold")
        shown = 0
        for r in rows:
            if r["status"] == "no-model" and not self.show_empty:
                continue
            cells = []
            for _, key in cols:
                text = _why(r) if key == "_why" else cell_text(r.get(key))
                if key == "apk":
                    text = os.path.basename(text)
                cells.append(text)
            table.add_row(*cells, style=_STATUS_STYLE.get(r["status"], ""))
            shown += 1
        if shown:
            console.print(table)
        from modelhound.report.shared import shared_models

        groups = shared_models(rows)
        if groups:
            t2 = Table(title="models shared between apps", expand=False)
            for col in ("model", "format", "apps", "found in"):
                t2.add_column(col, overflow="fold")
            for g in groups:
                names = ", ".join(os.path.basename(a) for a in g["apps"][:6])
                more = f" (+{g['app_count'] - 6})" if g["app_count"] > 6 else ""
                t2.add_row(g["model_sha256"][:12], g["format"], str(g["app_count"]), names + more)
            console.print(t2)
        console.print(summary(rows, apps))


def _why(r: dict[str, Any]) -> str:
    """A short reason for a match verdict: which signals, how strong."""
    parts = []
    if r.get("reuse_type") == "identical copy":
        parts.append("same bytes")
    if isinstance(r.get("weight_similarity"), (int, float)) and r["weight_similarity"] > 0:
        parts.append(f"weights {r['weight_similarity']:.2f}")
    if isinstance(r.get("similarity"), (int, float)):
        parts.append(f"ModelDiff {r['similarity']:.2f}")
    if isinstance(r.get("agreement"), (int, float)):
        parts.append(f"agreement {r['agreement']:.2f}")
    if not parts and r.get("verdict"):
        parts.append("no shared weights or behaviour" if r["verdict"] == "not-reused" else "")
    return ", ".join(p for p in parts if p)


def summary(rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]]) -> str:
    """One line: how many inputs, apps with models, models by status."""
    statuses = Counter(a["status"] for a in apps)
    models = Counter(r["status"] for r in rows if r.get("entry"))
    with_models = sum(1 for a in apps if a["models"])
    parts = [f"{len(apps)} inputs", f"{with_models} with models"]
    for k in ("no-model", "error", "duplicate"):
        if statuses.get(k):
            parts.append(f"{statuses[k]} {k}")
    found = ", ".join(f"{n} {k}" for k, n in sorted(models.items()))
    return "; ".join(parts) + (f" | model entries: {found}" if found else " | no model entries")
