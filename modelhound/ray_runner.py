"""Scanning on a Ray cluster: a task per app, results streamed back in input order.

Each input's bytes travel through Ray's object store (no shared file system needed); a
worker process builds its later stages (conversion worker, zoo) once and reuses them for
every task it runs. A task whose worker dies (a native runtime crash, a lost node) is
retried once by Ray, then reported as an error row. Ray is an optional extra
(``pip install modelhound[ray]``).
"""

from __future__ import annotations

import collections
import os
import tempfile
from dataclasses import replace
from typing import Any, Iterator

from modelhound.errors import ModelhoundError
from modelhound.extractor import sha256_file
from modelhound.parallel import WorkerSetup
from modelhound.records import AppInfo, AppScan

_STATE: dict[WorkerSetup, Any] = {}


def _analyzer(setup: WorkerSetup) -> Any:
    """This worker process's Analyzer for ``setup``, built on first use."""
    if setup not in _STATE:
        from modelhound.analysis import Analyzer

        matcher = None
        if setup.zoo:
            from modelhound.corpus.match import Matcher
            from modelhound.corpus.zoo import Zoo

            matcher = Matcher(Zoo.open(setup.zoo))
        _STATE[setup] = Analyzer(convert=setup.convert, matcher=matcher)
    return _STATE[setup]


def scan_bytes(setup: WorkerSetup, path: str, data: bytes, digest: str) -> AppScan:
    """Scan one input from its bytes (runs in a Ray worker)."""
    from modelhound.extractor import extract

    suffix = os.path.splitext(path)[1]
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "input" + suffix)
        with open(local, "wb") as f:
            f.write(data)
        extraction = extract(local, setup.limits, sha256=digest)
    result = extraction.to_scan()
    result = replace(result, app=replace(result.app, path=path),
                     error=result.error.replace(local, path))
    analyzer = _analyzer(setup)
    if analyzer.convert or analyzer.matcher is not None:
        result = replace(result, analysis=analyzer.analyse(extraction))
    return result


def connect(address: str, num_cpus: int | None = None) -> Any:
    """Connect to a Ray cluster ('auto', 'ray://host:port'), or start one here ('local')."""
    try:
        import ray
    except ImportError as exc:
        raise ModelhoundError("--ray needs the 'ray' extra: pip install 'modelhound[ray]'") from exc
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "ignore_reinit_error": True}
        if address == "local":
            ray.init(num_cpus=num_cpus, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    return ray


def scan_ray(paths: list[str], setup: WorkerSetup, address: str,
             seen: dict[str, str] | None = None, observer: Any = None,
             in_flight: int | None = None) -> Iterator[AppScan]:
    """Like :func:`modelhound.pipeline.scan`, with one Ray task per unique input."""
    ray = connect(address)
    task = ray.remote(max_retries=1)(scan_bytes)
    width = in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    seen = dict(seen or {})
    if observer is not None:
        observer.started(len(paths))
    window: collections.deque[tuple[str, Any]] = collections.deque()

    def drain(limit: int) -> Iterator[AppScan]:
        while len(window) > limit:
            path, item = window.popleft()
            if not isinstance(item, AppScan):
                try:
                    item = ray.get(item)
                except Exception as exc:  # noqa: BLE001 - retried once by Ray already
                    item = AppScan(app=AppInfo(path=path, sha256="", size=0),
                                   error=f"{path}: scan task failed twice ({type(exc).__name__}: "
                                         f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''})")
            if observer is not None:
                observer.finished_one(item)
            yield item

    for path in paths:
        if not os.path.exists(path):
            window.append((path, AppScan(app=AppInfo(path=path, sha256="", size=0),
                                         error=f"{path}: no such file or folder")))
        else:
            try:
                digest = sha256_file(path)
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                window.append((path, AppScan(app=AppInfo(path=path, sha256="", size=0),
                                             error=f"{path}: cannot read file ({e.strerror or e})")))
                continue
            if digest in seen:
                window.append((path, AppScan(app=AppInfo(path=path, sha256=digest, size=len(data)),
                                             duplicate_of=seen[digest])))
            else:
                seen[digest] = path
                window.append((path, task.remote(setup, path, ray.put(data), digest)))
        yield from drain(width)
    yield from drain(0)
