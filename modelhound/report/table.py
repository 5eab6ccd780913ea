"""The terminal report: what matters first, readable at a glance at any width.

1. a headline (how many apps carry a model reused from the zoo);
2. the findings: every flagged model with its app, reference, reuse type, confidence and
   one line of evidence;
3. the rows that could not be read (errors, unreadable, suspected-encrypted);
4. models shared between apps;
5. with ``--all`` (``full=True``) the full inventory of every model entry;
6. a one-line summary.

Column widths are computed here (not left to rich) so that every row takes at most two
lines at any width from 80 columns up, paths lose their middle rather than their file
name, and a piped report has no box drawing characters (plain columns, a dashed rule
under the header).
"""

from __future__ import annotations

import functools
import os
import re
import textwrap
from collections import Counter
from dataclasses import dataclass
from typing import IO, Any, Callable, Sequence

from modelhound.report.rows import DETAIL, cell_text

_STATUS_STYLE = {
    "ok": "green", "suspected-encrypted": "yellow", "unreadable": "red", "no-model": "dim",
    "error": "bold red", "duplicate": "dim",
}
#: reuse type -> colour: verbatim copies red, derived weights orange, behaviour-only magenta
_REUSE_STYLE = {
    "identical copy": "bold red", "re-packaged": "red", "quantized": "dark_orange",
    "pruned": "dark_orange", "fine-tuned or transfer": "yellow",
    "distilled or stolen": "magenta",
}
#: gap between columns: one space of padding on each side of a one-space divider
_GAP = 3


@dataclass(frozen=True)
class Col:
    """One column of a terminal table."""

    title: str
    cell: Callable[[dict[str, Any]], str]
    min: int
    """Narrowest the column may get."""
    max: int = 60
    """Widest it may get, however long its cells."""
    lines: int = 1
    """Lines a cell may take (2 at most, so a row never takes more)."""
    path: bool = False
    """Shortened in the middle (keeps the file name), not at the end."""
    justify: str = "left"
    style: Callable[[dict[str, Any]], str] | None = None
    comfort: int = 0
    """Width below which the column shrinks only after the others did (0: ``min``)."""
    give: float = 1.0
    """How readily the column gives up width (the evidence, what a reader wants, gives less)."""
    sub: Callable[[dict[str, Any]], str] | None = None
    """A second line under the cell (dim), e.g. the app's package under its file name."""


def human_size(n: Any) -> str:
    """1234567 -> '1.2 MB' (decimal units, as file managers show)."""
    if not isinstance(n, (int, float)):
        return ""
    if n < 1000:
        return f"{int(n)} B"
    from rich.filesize import decimal

    return decimal(int(n))


def app_name(r: dict[str, Any]) -> str:
    """The app as the user knows the file: its base name."""
    return os.path.basename(str(r.get("apk") or ""))


def package(r: dict[str, Any]) -> str:
    """The app's package name, when its manifest was read."""
    return str(r.get("package") or "")


def short_entry(r: dict[str, Any]) -> str:
    """The model's entry (its path inside the app, nested archives joined with '!/')."""
    return str(r.get("entry") or "")


def weight_kind(r: dict[str, Any]) -> str:
    """The weight-evidence kind for the matched (or closest) reference, when known."""
    detail = r.get(DETAIL) or {}
    target = r.get("match") or detail.get("closest")
    for ref in detail.get("references", ()):
        if ref.get("reference") == target and ref.get("weight_kind"):
            return str(ref["weight_kind"])
    m = re.match(r"(?:.*?; )?weights: ([\w-]+)", str(r.get("match_evidence") or ""))
    return m.group(1) if m else ""


def evidence_line(r: dict[str, Any]) -> str:
    """One line of evidence: which signals, how strong."""
    parts = []
    if r.get("reuse_type") == "identical copy":
        parts.append("same bytes")
    ws = r.get("weight_similarity")
    if isinstance(ws, (int, float)) and ws > 0:
        kind = _KIND_WORDS.get(weight_kind(r), weight_kind(r))
        parts.append(f"weights {ws:.2f}" + (f" {kind}" if kind and kind != "none" else ""))
    if isinstance(r.get("similarity"), (int, float)):
        parts.append(f"ModelDiff {r['similarity']:.2f}")
    if isinstance(r.get("agreement"), (int, float)):
        parts.append(f"agreement {r['agreement']:.2f}")
    return ", ".join(parts)


#: weight-evidence kinds as a one-line report says them
_KIND_WORDS = {"identical-weights": "identical", "half-precision": "float16"}


def signal_score(ref: dict[str, Any]) -> float:
    """One similarity in [0, 1] for a (model, reference) pair: its strongest signal (same
    bytes 1.0; weights, ModelDiff or agreement; structure alone says nothing)."""
    if ref.get("same_bytes"):
        return 1.0
    vals = [ref.get(k) for k in ("weights", "modeldiff", "agreement")]
    return max([float(v) for v in vals if isinstance(v, (int, float))] + [0.0])


def closest(r: dict[str, Any]) -> dict[str, Any] | None:
    """For a model that was not flagged: the closest reference, when any signal links them."""
    detail = r.get(DETAIL) or {}
    for ref in detail.get("references", ()):
        if ref.get("reference") == detail.get("closest") and signal_score(ref) > 0:
            return ref
    return None


def _verdict_cell(r: dict[str, Any]) -> str:
    if r.get("verdict") == "reused":
        return f"{r.get('reuse_type')}: {r.get('match')}"
    near = closest(r)
    if r.get("verdict") == "not-reused":
        return (f"not reused (closest {near['reference']} {signal_score(near):.2f})" if near
                else "not reused")
    return ""


def _fit(text: str, width: int, lines: int, path: bool) -> str:
    """``text`` in at most ``lines`` lines of ``width`` characters (an ellipsis marks a cut)."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    if path:  # keep the file name: cut the middle, break after a '/' where one fits
        tail = "…" + text[-(width - 1):]
        if lines == 1:
            return tail
        cut = text.rfind("/", 0, width) + 1 or width
        if len(text) - cut > width:
            return text[:cut] + "\n" + tail
        if len(text) - cut <= width:
            return text[:cut] + "\n" + text[cut:]
        return text[:width] + "\n" + text[width:]
    if lines == 1:
        return text[: width - 1] + "…"
    wrapped = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=True)
    if len(wrapped) <= lines:
        return "\n".join(wrapped)
    kept = wrapped[: lines - 1]
    last = " ".join(wrapped[lines - 1:])
    kept.append(last[: width - 1].rstrip() + "…")
    return "\n".join(kept)


def _widths(cols: Sequence[Col], cells: Sequence[Sequence[str]], total: int) -> list[int]:
    """Column widths that fit ``total`` characters. Each column starts at its natural
    width (its longest cell, at most ``max``); while the table is too wide, first the
    column furthest above its comfortable width gives one character, then the one
    furthest above its minimum."""
    widths = [max(len(c.title), min(c.max, max([0] + [len(row[i]) for row in cells])))
              for i, c in enumerate(cols)]
    avail = total - _GAP * (len(cols) - 1)
    for floor in ([c.comfort or c.min for c in cols], [c.min for c in cols]):
        while sum(widths) > avail:
            over = [((w - f) * cols[i].give, i) for i, (w, f) in enumerate(zip(widths, floor))
                    if w > f]
            if not over:
                break
            widths[max(over)[1]] -= 1
    return widths


def _table(title: str, cols: Sequence[Col], rows: Sequence[dict[str, Any]], width: int,
           plain: bool) -> Any:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    cells = [[" ".join(c.cell(r).split()) for c in cols] for r in rows]
    subs = [[" ".join(c.sub(r).split()) if c.sub else "" for c in cols] for r in rows]
    widths = _widths(cols, [[max(a, b, key=len) for a, b in zip(row, sub)]
                            for row, sub in zip(cells, subs)], width)
    table = Table(box=_plain_head() if plain else box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, padding=(0, 1), expand=False, header_style="bold")
    for c, w in zip(cols, widths):
        table.add_column(c.title, width=w, no_wrap=True, overflow="crop", justify=c.justify)  # type: ignore[arg-type]
    for r, row, sub in zip(rows, cells, subs):
        out = []
        for c, w, text, below in zip(cols, widths, row, sub):
            style = c.style(r) if c.style else ""
            cell = Text(_fit(text, w, c.lines, c.path), style=style or "")
            if below:
                cell.append("\n" + _fit(below, w, 1, False), style="dim")
            out.append(cell)
        table.add_row(*out)
    return Group(Text(title, style="bold"), table)


@functools.lru_cache(maxsize=1)
def _plain_head() -> Any:
    """A box with nothing but a dashed rule under the header (for logs and pipes)."""
    from rich.box import Box

    return Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)


def _reuse_style(r: dict[str, Any]) -> str:
    return _REUSE_STYLE.get(str(r.get("reuse_type") or ""), "")


FINDING_COLUMNS: tuple[Col, ...] = (
    Col("app", app_name, 10, 28, comfort=16, sub=package),
    Col("model", short_entry, 12, 40, lines=2, path=True, comfort=24),
    Col("reference", lambda r: str(r.get("match") or ""), 10, 32, lines=2, comfort=20),
    Col("reuse", lambda r: str(r.get("reuse_type") or ""), 11, 22, lines=2, style=_reuse_style,
        comfort=14),
    Col("conf", lambda r: f"{r['confidence']:.2f}" if isinstance(r.get("confidence"), (int, float))
        else "", 4, 4, justify="right"),
    Col("evidence", evidence_line, 14, 90, lines=2, comfort=30, give=0.5),
)

PROBLEM_COLUMNS: tuple[Col, ...] = (
    Col("app", app_name, 10, 28, comfort=16, sub=package),
    Col("entry", short_entry, 10, 40, lines=2, path=True, comfort=20),
    Col("status", lambda r: str(r.get("status") or ""), 5, 19,
        style=lambda r: _STATUS_STYLE.get(str(r.get("status")), ""), comfort=19),
    Col("reason", lambda r: str(r.get("reason") or ""), 16, 90, lines=2, comfort=30),
)

INVENTORY_COLUMNS: tuple[Col, ...] = (
    Col("app", app_name, 10, 28, comfort=16, sub=package),
    Col("model", short_entry, 12, 40, lines=2, path=True, comfort=22),
    Col("format", lambda r: str(r.get("format") or ""), 6, 14, comfort=11),
    Col("size", lambda r: human_size(r.get("size_bytes")), 8, 8, justify="right"),
    Col("runs", lambda r: str(r.get("runnable") or ""), 4, 4),
    Col("verdict", _verdict_cell, 12, 50, lines=2, style=_reuse_style, comfort=22),
    Col("status", lambda r: str(r.get("status") or ""), 10, 19, lines=2,
        style=lambda r: _STATUS_STYLE.get(str(r.get("status")), ""), comfort=10),
)

_PROBLEMS = ("error", "unreadable", "suspected-encrypted")


@dataclass(frozen=True)
class TableFormat:
    """The terminal report; the caller's rich Console sets width and colour."""

    name: str = "table"
    structured: bool = False
    full: bool = False
    """Also show the full inventory: every model entry and every app (``--all``)."""

    def write(self, rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
              stream: IO[str]) -> None:
        """Render to ``stream`` through a rich Console."""
        from rich.console import Console

        tty = stream.isatty()
        console = Console(file=stream, width=None if tty else 100,
                          color_system="auto" if tty else None)
        self.render(rows, apps, console)

    def render(self, rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
               console: Any) -> None:
        """Render onto an existing rich Console (piped or colourless: no box drawing)."""
        width = max(60, console.width)
        plain = not console.is_terminal or console.color_system is None
        console.print(headline(rows, apps), style="bold", highlight=False)
        findings = [r for r in rows if r.get("verdict") == "reused"]
        if findings:
            console.print(_table(f"Reused models ({len(findings)})", FINDING_COLUMNS,
                                 findings, width, plain))
        problems = [r for r in rows if r.get("status") in _PROBLEMS]
        if problems:
            console.print(_table(f"Could not be read ({len(problems)})", PROBLEM_COLUMNS,
                                 problems, width, plain))
        from modelhound.report.shared import shared_models

        groups = shared_models(rows)
        if groups:
            cols = (
                Col("model sha256", lambda g: str(g["model_sha256"])[:12], 12, 12),
                Col("format", lambda g: str(g["format"]), 6, 14),
                Col("size", lambda g: human_size(g.get("size_bytes")), 7, 9, justify="right"),
                Col("apps", lambda g: str(g["app_count"]), 4, 4, justify="right"),
                Col("found in", lambda g: ", ".join(os.path.basename(a) for a in g["apps"]),
                    16, 120, lines=2),
            )
            console.print(_table(f"Same model in several apps ({len(groups)})", cols, groups,
                                 width, plain))
        if self.full or not any(r.get("verdict") for r in rows):  # nothing matched: the inventory
            shown = [r for r in rows if r.get("entry") or r.get("status") == "no-model"]
            if shown:
                console.print(_table(f"Inventory ({len(shown)} rows)", INVENTORY_COLUMNS,
                                     shown, width, plain))
        console.print(summary(rows, apps), highlight=False, soft_wrap=False)


def headline(rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]]) -> str:
    """What matters first: reused models, in how many apps."""
    models = [r for r in rows if r.get("entry") and r.get("status") == "ok"]
    reused = [r for r in models if r.get("verdict") == "reused"]
    matched = any(r.get("verdict") for r in models)
    if not matched:
        return (f"{len(models)} models in {len({r['apk'] for r in models})} apps "
                "(not matched against a zoo)")
    in_apps = len({r["apk"] for r in reused})
    refs = len({r.get("match") for r in reused})
    if not reused:
        return f"No reused model: {len(models)} models checked, none matches a reference"
    return (f"{len(reused)} of {len(models)} models reuse {refs} reference"
            f"{'s' if refs != 1 else ''}, in {in_apps} of {len(apps)} apps")


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


__all__ = ["FINDING_COLUMNS", "INVENTORY_COLUMNS", "PROBLEM_COLUMNS", "Col", "TableFormat",
           "cell_text", "evidence_line", "headline", "human_size", "summary"]
