"""The scan orchestrator: inputs in, one result per input out, in a stable order.

Progress goes to an observer (the CLI's rich progress bar is one); nothing here prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol

from modelhound.extractor import Extraction, Limits, extract, sha256_file
from modelhound.extractor.app import holds_models, is_archive_input
from modelhound.records import AppInfo, AppScan

if TYPE_CHECKING:
    from modelhound.analysis import Analyzer


class ScanObserver(Protocol):
    """Receives progress; every method is optional in spirit (no-ops are fine)."""

    def started(self, total: int) -> None:
        """The number of inputs about to be scanned."""

    def finished_one(self, scan: AppScan) -> None:
        """One input is done."""


class NullObserver:
    """An observer that ignores everything."""

    def started(self, total: int) -> None:
        """Ignore."""

    def finished_one(self, scan: AppScan) -> None:
        """Ignore."""


def discover(paths: Iterable[str]) -> list[str]:
    """Inputs to scan: files as given, folders walked (archives, and zips without a name
    extension, as app stores keep them). A folder that directly holds bare model files is
    one input of its own, listed before its archives, its files grouped as in an app.
    Sorted within each folder; given order kept."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                if holds_models(root):
                    found.append(root)
                for f in sorted(files):
                    full = os.path.join(root, f)
                    if os.path.isfile(full) and is_archive_input(full):
                        found.append(full)
            out.extend(found)
        else:
            out.append(p)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class ScanOptions:
    """What a scan reads and how far."""

    limits: Limits = Limits()


def scan(
    inputs: Iterable[str],
    options: ScanOptions | None = None,
    observer: ScanObserver | None = None,
    on_extraction: Callable[[Extraction], None] | None = None,
    seen: dict[str, str] | None = None,
    analyzer: "Analyzer | None" = None,
) -> Iterator[AppScan]:
    """Extract every input, one at a time; identical inputs (same sha256) are read once.

    ``on_extraction`` sees each extraction with the model bytes (to write them out, or
    to hand them to later stages) before the bytes are dropped. ``seen`` maps the sha256
    of inputs scanned earlier (a resumed scan) to their paths. ``analyzer`` runs the later
    stages (conversion) on each input's models.
    """
    options = options or ScanOptions()
    observer = observer or NullObserver()
    paths = list(inputs)
    observer.started(len(paths))
    seen = dict(seen or {})
    starting = getattr(observer, "starting", None)  # optional: the current item
    for path in paths:
        if starting is not None:
            starting(path)
        if not os.path.exists(path):
            result = AppScan(app=AppInfo(path=path, sha256="", size=0),
                             error=f"{path}: no such file or folder")
        else:
            try:
                digest = sha256_file(path)
            except OSError as e:
                digest = ""
                result = AppScan(app=AppInfo(path=path, sha256="", size=0),
                                 error=f"{path}: cannot read file ({e.strerror or e})")
            if digest and digest in seen:
                result = AppScan(app=AppInfo(path=path, sha256=digest, size=os.path.getsize(path)),
                                 duplicate_of=seen[digest])
            elif digest:
                seen[digest] = path
                extraction = extract(path, options.limits, sha256=digest)
                if on_extraction is not None:
                    on_extraction(extraction)
                result = extraction.to_scan()
                if analyzer is not None:
                    result = replace(result, analysis=analyzer.analyse(extraction))
        if result.error and not result.app.path:
            result = replace(result, app=replace(result.app, path=path))
        observer.finished_one(result)
        yield result
