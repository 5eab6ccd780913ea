"""Scanning on a Ray cluster: a task per app, results streamed back in input order.

Each input's bytes travel through Ray's object store (no shared file system needed); a
worker process builds its later stages (conversion worker, zoo) once and reuses them for
every task it runs. A task whose worker dies (a native runtime crash, a lost node) is
retried once by Ray, then reported as an error row. Ray is an optional extra
(``pip install modelhound[ray]``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from typing import Any, Callable, Iterable, Iterator

from modelhound.errors import ModelhoundError
from modelhound.parallel import WorkerSetup, dispatch, failed
from modelhound.records import AppScan

_STATE: dict[WorkerSetup, Any] = {}
#: Ray retries a task this many times when its worker process or node dies (not when the
#: scan raises: that would only raise again).
RETRIES = 1


def _analyzer(setup: WorkerSetup) -> Any:
    """This worker process's Analyzer for ``setup``, built on first use."""
    if setup not in _STATE:
        from modelhound.analysis import Analyzer

        matcher = None
        if setup.zoo:
            from modelhound.corpus.match import Matcher
            from modelhound.corpus.zoo import Zoo

            matcher = Matcher(Zoo.open(setup.zoo))
        # The cache folder is opened on this worker's node: one folder per node, shared by
        # its workers (and with the driver on a one-machine cluster); see modelhound.cache.
        _STATE[setup] = Analyzer(convert=setup.convert, matcher=matcher, cache=setup.open_cache(),
                                 onnx=setup.onnx)
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


def scan_ray(paths: Iterable[str], setup: WorkerSetup, address: str,
             seen: dict[str, str] | None = None, observer: Any = None,
             in_flight: int | None = None,
             work: Callable[[WorkerSetup, str, bytes, str], AppScan] | None = None,
             ) -> Iterator[AppScan]:
    """Like :func:`modelhound.pipeline.scan`, with one Ray task per unique input.

    ``work(setup, path, data, sha256)`` is what a Ray task runs per input (default:
    :func:`scan_bytes`); tests pass a stand-in that kills its worker on purpose.
    """
    ray = connect(address)
    from ray.exceptions import RayError, RayTaskError

    task = ray.remote(max_retries=RETRIES)(work or scan_bytes)
    width = in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))

    def submit(path: str, digest: str) -> Any:
        try:
            with open(path, "rb") as f:
                return digest, task.remote(setup, path, ray.put(f.read()), digest)
        except OSError as exc:  # the file went away after it was hashed
            return digest, exc

    def resolve(path: str, handle: tuple[str, Any]) -> AppScan:
        digest, ref = handle
        if isinstance(ref, OSError):
            return failed(path, "cannot read file", ref, digest)
        try:
            return ray.get(ref)
        except RayTaskError as exc:  # the scan raised: not retried, it would raise again
            return failed(path, "scan failed", exc.cause or exc, digest)
        except RayError as exc:  # the worker or its node died, and again on the retry
            times = "twice" if RETRIES == 1 else f"{1 + RETRIES} times"
            return failed(path, f"Ray worker died {times}", exc, digest)

    yield from dispatch(paths, submit, resolve, width, seen, observer)
