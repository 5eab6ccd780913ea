"""Scanning with several processes: one input per task, results in input order.

The parent hashes inputs and drops repeats (so duplicates are found exactly as in a
sequential scan); each worker process builds its own Analyzer (its own conversion worker
and zoo) once, and handles one input at a time. At most ``2 * jobs`` inputs are in flight,
so a folder of any size never holds per-app data for more than those.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from modelhound.extractor import Limits, extract, sha256_file
from modelhound.records import AppInfo, AppScan


@dataclass(frozen=True)
class WorkerSetup:
    """What each scanning process needs to build its later stages."""

    limits: Limits
    convert: bool = True
    zoo: str | None = None


_ANALYZER: Any = None
_LIMITS: Limits | None = None


def _init(setup: WorkerSetup) -> None:
    global _ANALYZER, _LIMITS
    import atexit

    from modelhound.analysis import Analyzer

    matcher = None
    if setup.zoo:
        from modelhound.corpus.match import Matcher
        from modelhound.corpus.zoo import Zoo

        matcher = Matcher(Zoo.open(setup.zoo))
    _ANALYZER = Analyzer(convert=setup.convert, matcher=matcher)
    _LIMITS = setup.limits
    atexit.register(_ANALYZER.close)


def _scan_one(path: str, digest: str) -> AppScan:
    extraction = extract(path, _LIMITS, sha256=digest)
    result = extraction.to_scan()
    if _ANALYZER is not None and (_ANALYZER.convert or _ANALYZER.matcher is not None):
        result = replace(result, analysis=_ANALYZER.analyse(extraction))
    return result


def dispatch(paths: list[str], submit: Callable[[str, str], Any],
             resolve: Callable[[str, Any], AppScan], width: int,
             seen: dict[str, str] | None = None, observer: Any = None) -> Iterator[AppScan]:
    """Hash and dedupe inputs here, hand unique ones to ``submit(path, sha256)``, and yield
    results in input order, keeping at most ``width`` inputs in flight.

    ``resolve(path, handle)`` turns what ``submit`` returned into an AppScan (waiting for it,
    and making an error row when the remote work failed). Shared by --jobs and --ray.
    """
    seen = dict(seen or {})
    if observer is not None:
        observer.started(len(paths))
    window: collections.deque[tuple[str, Any, bool]] = collections.deque()

    def drain(limit: int) -> Iterator[AppScan]:
        while len(window) > limit:
            path, item, ready = window.popleft()
            result = item if ready else resolve(path, item)
            if observer is not None:
                observer.finished_one(result)
            yield result

    for path in paths:
        if not os.path.exists(path):
            window.append((path, AppScan(app=AppInfo(path=path, sha256="", size=0),
                                         error=f"{path}: no such file or folder"), True))
        else:
            try:
                digest = sha256_file(path)
            except OSError as e:
                window.append((path, AppScan(app=AppInfo(path=path, sha256="", size=0),
                                             error=f"{path}: cannot read file ({e.strerror or e})"),
                               True))
                continue
            if digest in seen:
                window.append((path, AppScan(
                    app=AppInfo(path=path, sha256=digest, size=os.path.getsize(path)),
                    duplicate_of=seen[digest]), True))
            else:
                seen[digest] = path
                window.append((path, submit(path, digest), False))
        yield from drain(width)
    yield from drain(0)


def failed(path: str, what: str, exc: BaseException) -> AppScan:
    """The error row of an input whose remote scan failed."""
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return AppScan(app=AppInfo(path=path, sha256="", size=0),
                   error=f"{path}: {what} ({type(exc).__name__}: {first})")


def scan_parallel(paths: list[str], setup: WorkerSetup, jobs: int,
                  seen: dict[str, str] | None = None, observer: Any = None) -> Iterator[AppScan]:
    """Like :func:`modelhound.pipeline.scan`, ``jobs`` inputs at a time."""
    ctx = multiprocessing.get_context("spawn")  # never fork a process holding runtime threads
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init, initargs=(setup,)) as pool:

        def resolve(path: str, future: Future[AppScan]) -> AppScan:
            try:
                return future.result()
            except Exception as exc:  # noqa: BLE001 - a dead scanning process
                return failed(path, "scanning process failed", exc)

        yield from dispatch(paths, lambda p, d: pool.submit(_scan_one, p, d), resolve,
                            2 * jobs, seen, observer)
