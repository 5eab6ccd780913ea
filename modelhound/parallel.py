"""Scanning with several processes: one input per task, results in input order.

The parent hashes inputs and drops repeats (so duplicates are found exactly as in a
sequential scan); each scanning process builds its own Analyzer (its own conversion worker
and zoo) once, and handles one input at a time. Inputs are pulled lazily and at most
``2 * jobs`` are in flight, so a folder of any size never holds per-app data for more than
those. A scanning process that dies (a native crash, the OOM killer) costs only the input it
was on: that input is retried once in another process, then becomes an error row, and the
scan goes on.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator, Sized

from modelhound.extractor import Limits, extract, sha256_file
from modelhound.records import AppInfo, AppScan

MiB = 1024 * 1024

#: Memory one scanning process needs, with its conversion worker: the --jobs default never
#: starts more processes than available memory holds of these. Measured with
#: ``bench/scale/budget.py`` (psutil samples every 0.1 s of the process tree of a
#: ``--jobs 1`` scan, converting and matching against the default zoo v1), peak RSS of the
#: scanning process and its conversion worker at the same instant:
#:   - every shared fixture (14 APKs, 75 model files): 2835 MiB (scanning process 520 MiB
#:     with the zoo loaded; conversion worker 2368 MiB, on the large ONNX models of
#:     ``models/onnx/onnx-1.23.2-light``: light_vgg19 and light_zfnet512 alone reach 1976);
#:   - the 14 fixture APKs alone: 1408 MiB (scanning process 450, conversion worker 958).
#: The budget is the first, rounded up: a process may meet a large model at any time.
PROCESS_BUDGET = 3 * 1024 * MiB


def usable_cores() -> tuple[int, str]:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
        what = f"{cores} usable cores"
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
        what = f"{cores} cores"
    quota = _cgroup_cpu_quota()
    if quota is not None and quota < cores:
        return max(1, int(quota)), f"{what}, cgroup CPU quota {quota:g}"
    return cores, what


def _cgroup_cpu_quota() -> float | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``, if any."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota_us = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period_us = int(f.read())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes that can be allocated without swapping: MemAvailable, capped by the room left
    under a cgroup memory limit; None when neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as f:
                limit = f.read().strip()
            with open(usage_file) as f:
                usage = int(f.read())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge number: no limit
            found.append(max(0, int(limit) - usage))
        break
    return min(found) if found else None


def choose_jobs(cores: int, available: int | None, budget: int = PROCESS_BUDGET,
                what_cores: str = "") -> tuple[int, str]:
    """The --jobs default: one process per usable core, but no more than ``available``
    bytes of memory hold at ``budget`` bytes each; at least 1. Returns (jobs, why)."""
    what_cores = what_cores or f"{cores} usable cores"
    if available is None:
        return max(1, cores), f"{what_cores}; available memory unknown"
    fit = available // budget
    why = (f"{what_cores}; {available / 2**30:.1f} GiB available / "
           f"{budget / 2**30:.1f} GiB per process = {fit}")
    return max(1, min(cores, fit)), why


def default_jobs() -> tuple[int, str]:
    """:func:`choose_jobs` for this machine, now."""
    cores, what = usable_cores()
    return choose_jobs(cores, available_memory(), what_cores=what)


def plan_jobs(requested: int | None, inputs: int) -> tuple[int, str]:
    """Processes for a scan of ``inputs`` inputs: ``requested`` (None or 0: the default),
    never more than there are inputs. Returns (jobs, why)."""
    if requested:
        jobs, why = requested, f"--jobs {requested}"
    else:
        jobs, why = default_jobs()
        why = f"default: {why}"
    if inputs < jobs:
        return max(1, inputs), f"{why}; {inputs} input{'s' if inputs != 1 else ''}"
    return jobs, why


@dataclass(frozen=True)
class WorkerSetup:
    """What each scanning process needs to build its later stages."""

    limits: Limits
    convert: bool = True
    zoo: str | None = None
    cache: str | None = None
    """Folder of the shared result cache (:mod:`modelhound.cache`), or None for none."""
    onnx: bool = False
    """Build ONNX forms of TFLite models too (``scan --convert``)."""

    def open_cache(self) -> Any:
        """The result cache this process uses (None without one)."""
        if not self.cache:
            return None
        from modelhound.cache import ResultCache

        return ResultCache(self.cache)


_ANALYZER: Any = None
_LIMITS: Limits | None = None


def _init(setup: WorkerSetup) -> None:
    global _ANALYZER, _LIMITS
    from modelhound.analysis import Analyzer

    matcher = None
    if setup.zoo:
        from modelhound.corpus.match import Matcher
        from modelhound.corpus.zoo import Zoo

        matcher = Matcher(Zoo.open(setup.zoo))
    _ANALYZER = Analyzer(convert=setup.convert, matcher=matcher, cache=setup.open_cache(),
                         onnx=setup.onnx)
    _LIMITS = setup.limits


def _scan_one(path: str, digest: str) -> AppScan:
    """Scan one input in this scanning process (the default per-app work)."""
    extraction = extract(path, _LIMITS, sha256=digest)
    result = extraction.to_scan()
    if _ANALYZER is not None and (_ANALYZER.convert or _ANALYZER.matcher is not None):
        result = replace(result, analysis=_ANALYZER.analyse(extraction))
    return result


def _describe(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _serve(conn: Connection, setup: WorkerSetup, work: Callable[[str, str], AppScan]) -> None:
    """Scanning process body: build the later stages, then scan (path, sha256) pairs from
    ``conn`` one at a time, answering ("ok", AppScan) or ("raised", description)."""
    from modelhound.converters.pool import exit_when_orphaned

    exit_when_orphaned()
    # SIGTERM (the parent's ScanPool stopping it, or sent to the group) ends this process
    # the way Ctrl-C does: through the finally below, which stops its conversion worker
    signal.signal(signal.SIGTERM, _raise_interrupt)
    problem = ""
    interrupted = False
    try:
        try:
            _init(setup)
        except Exception as exc:  # noqa: BLE001 - reported on every input instead
            problem = f"cannot start the later stages ({_describe(exc)})"
        while True:
            try:
                task = conn.recv()
            except EOFError:  # the parent is gone
                return
            if task is None:
                return
            if problem:
                conn.send(("raised", problem))
                continue
            try:
                reply: tuple[str, Any] = ("ok", work(*task))
            except Exception as exc:  # noqa: BLE001 - one input's failure, not the process's
                reply = ("raised", _describe(exc))
            try:
                conn.send(reply)
            except OSError:  # the parent is gone
                return
            except Exception as exc:  # noqa: BLE001 - e.g. a result that does not pickle
                conn.send(("raised", _describe(exc)))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent decides
        interrupted = True
    finally:
        # on the way out a further signal must not cut the clean-up short with a traceback:
        # ignore both while the conversion worker is stopped, then SIGTERM just ends us
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if _ANALYZER is not None:
            _ANALYZER.close(kill=interrupted)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@dataclass(eq=False)
class _Task:
    path: str
    digest: str
    attempts: int = 0
    result: AppScan | None = None


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Connection
    task: _Task | None = field(default=None)


class ScanPool:
    """``jobs`` scanning processes, one input each at a time.

    Unlike ``concurrent.futures.ProcessPoolExecutor`` (where one dead process breaks the
    whole pool and fails every pending input), each input is tied to the process running
    it: a process that dies costs only that input, which is retried once in another process
    (``retries``) and then answered with an error row. Single-threaded: work is handed out
    and answers collected while the caller waits in :meth:`result`.
    """

    def __init__(self, jobs: int, setup: WorkerSetup,
                 work: Callable[[str, str], AppScan] | None = None, retries: int = 1) -> None:
        self.jobs, self.setup, self.retries = jobs, setup, retries
        self.work = work or _scan_one
        # spawn: never fork a process that may hold runtime threads
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []
        self._pending: collections.deque[_Task] = collections.deque()

    def __enter__(self) -> "ScanPool":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(now=exc_type is not None)

    def submit(self, path: str, digest: str) -> _Task:
        """Queue one input; its result comes from :meth:`result`."""
        task = _Task(path, digest)
        self._pending.append(task)
        self._assign()
        return task

    def result(self, task: _Task) -> AppScan:
        """Wait for ``task``, keeping every process busy meanwhile."""
        while task.result is None:
            self._pump()
        return task.result

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_serve, args=(child, self.setup, self.work),
                                    name="modelhound-scan")
        process.start()
        child.close()
        return _Worker(process, parent)

    def _assign(self) -> None:
        for worker in [w for w in self._idle if not w.process.is_alive()]:
            self._idle.remove(worker)  # died between inputs: no input is charged for it
            worker.conn.close()
        while self._pending and (self._idle or len(self._busy) < self.jobs):
            worker = self._idle.pop() if self._idle else self._spawn()
            task = self._pending.popleft()
            worker.task = task
            self._busy.append(worker)
            try:
                worker.conn.send((task.path, task.digest))
            except OSError:  # it died idle; _pump sees its sentinel and retries the task
                pass

    def _pump(self) -> None:
        self._assign()
        if not self._busy:
            raise RuntimeError("ScanPool: waiting for a task no process is running")
        ready = set(wait([w.conn for w in self._busy] + [w.process.sentinel for w in self._busy]))
        for worker in list(self._busy):
            if worker.conn in ready or worker.process.sentinel in ready:
                self._collect(worker)
        self._assign()

    def _collect(self, worker: _Worker) -> None:
        task = worker.task
        assert task is not None
        try:
            kind, value = worker.conn.recv() if worker.conn.poll() else ("died", None)
        except (EOFError, OSError):
            kind, value = "died", None
        self._busy.remove(worker)
        if kind == "ok":
            task.result, worker.task = value, None
            self._idle.append(worker)
            return
        if kind == "raised":
            task.result, worker.task = failed(task.path, "scan failed", value, task.digest), None
            self._idle.append(worker)
            return
        worker.process.join(5)
        if worker.process.is_alive():  # closed its pipe but did not exit: make sure
            worker.process.kill()
            worker.process.join()
        cause = _exit_cause(worker.process.exitcode)
        worker.conn.close()
        task.attempts += 1
        if task.attempts <= self.retries:
            self._pending.appendleft(task)  # a fresh process replaces the dead one
        else:
            times = "twice" if task.attempts == 2 else f"{task.attempts} times"
            task.result = failed(task.path, f"scanning process died {times}", cause, task.digest)

    def close(self, now: bool = False) -> None:
        """Stop every process: ask, wait a little, then terminate. ``now`` (an interrupted
        scan): a process busy on an input is terminated at once (SIGTERM; it stops its
        conversion worker on the way out) instead of being waited for."""
        workers = self._idle + self._busy
        for w in workers:
            if now and w in self._busy:
                w.process.terminate()
                continue
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in workers:
            w.process.join(5 if now else 10)
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
        self._idle, self._busy = [], []


def _exit_cause(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def dispatch(paths: Iterable[str], submit: Callable[[str, str], Any],
             resolve: Callable[[str, Any], AppScan], width: int,
             seen: dict[str, str] | None = None, observer: Any = None) -> Iterator[AppScan]:
    """Hash and dedupe inputs here, hand unique ones to ``submit(path, sha256)``, and yield
    results in input order.

    ``paths`` is consumed lazily: an input is pulled (and hashed) only when fewer than
    ``width`` inputs are in flight, so at most ``width`` inputs' work exists at once whatever
    the number of inputs. ``resolve(path, handle)`` turns what ``submit`` returned into an
    AppScan (waiting for it, and making an error row when the remote work failed). Shared by
    --jobs and --ray.
    """
    width = max(1, width)
    seen = dict(seen or {})
    if observer is not None and isinstance(paths, Sized):
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
        window.append(_admit(path, submit, seen))
        yield from drain(width - 1)
    yield from drain(0)


def _admit(path: str, submit: Callable[[str, str], Any],
           seen: dict[str, str]) -> tuple[str, Any, bool]:
    """One input's window entry: (path, a finished AppScan, True) for an input that is
    missing, unreadable or a repeat, else (path, what ``submit`` returned, False)."""
    if not os.path.exists(path):
        return path, AppScan(app=AppInfo(path=path, sha256="", size=0),
                             error=f"{path}: no such file or folder"), True
    try:
        digest = sha256_file(path)
    except OSError as e:
        return path, AppScan(app=AppInfo(path=path, sha256="", size=0),
                             error=f"{path}: cannot read file ({e.strerror or e})"), True
    if digest in seen:
        return path, AppScan(app=AppInfo(path=path, sha256=digest, size=os.path.getsize(path)),
                             duplicate_of=seen[digest]), True
    seen[digest] = path
    return path, submit(path, digest), False


def failed(path: str, what: str, cause: BaseException | str, digest: str = "") -> AppScan:
    """The error row of an input whose scan failed elsewhere (another process, a Ray task)."""
    detail = cause if isinstance(cause, str) else _describe(cause)
    size = 0
    if digest:
        try:
            size = os.path.getsize(path)
        except OSError:
            pass
    return AppScan(app=AppInfo(path=path, sha256=digest, size=size),
                   error=f"{path}: {what} ({detail})")


def scan_parallel(paths: Iterable[str], setup: WorkerSetup, jobs: int,
                  seen: dict[str, str] | None = None, observer: Any = None,
                  work: Callable[[str, str], AppScan] | None = None) -> Iterator[AppScan]:
    """Like :func:`modelhound.pipeline.scan`, ``jobs`` inputs at a time.

    ``work(path, sha256)`` is what a scanning process runs per input (default: extract,
    convert and match); tests pass a stand-in that crashes on purpose.
    """
    with ScanPool(jobs, setup, work) as pool:
        yield from dispatch(paths, pool.submit, lambda _path, task: pool.result(task),
                            2 * jobs, seen, observer)
