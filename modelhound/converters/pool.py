"""Isolation: conversions of untrusted models run in worker processes with limits.

Each worker is a fresh interpreter (``python -m modelhound.converters.pool``; never forked
from a parent that may hold TensorFlow threads) with ``RLIMIT_AS`` set to the memory limit. It imports the heavy runtimes once,
reports ready, then serves one model at a time, so the 2-6 s TensorFlow import is paid
once per worker (on its first conversion through tf2onnx), not per model. The parent waits for each answer up to the time limit;
a worker that crashes (segfault, abort on allocation failure) or hangs is killed and
replaced on next use, and the model becomes a ``Conversion(runnable=False)`` whose
reason says what happened. The caller goes on.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Iterator

from modelhound import nativelog
from modelhound.converters.interface import Conversion
from modelhound.records import FoundModel

#: Default wall-time limit per model, seconds (tf2onnx needs ~80 s on a 7k-node LSTM).
TIMEOUT_S = 300.0
#: Default address-space limit per worker, MiB (TF + ORT + LiteRT map ~1.4 GiB at rest;
#: VmPeak 1.5 GiB after warm-up). ``MODELHOUND_WORKER_MEMORY_MB`` overrides it.
MEMORY_MB = 6144
MEMORY_ENV = "MODELHOUND_WORKER_MEMORY_MB"


def default_memory_mb() -> int:
    """The worker memory limit: ``MODELHOUND_WORKER_MEMORY_MB`` when set, else MEMORY_MB."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return MEMORY_MB
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{MEMORY_ENV}={text!r}: not a number of MiB") from None
    if value < 256:
        raise ValueError(f"{MEMORY_ENV}={value}: below 256 MiB no runtime can start")
    return value
#: Longest a worker may take to start and import its runtimes, seconds.
STARTUP_S = 180.0


def exit_when_orphaned(interval_s: float = 0.5) -> None:
    """End this process as soon as its parent is gone (a daemon thread watching the parent
    id): a worker busy on a model must not outlive a scan that was killed or interrupted."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="modelhound-orphan-watch", daemon=True).start()


def _worker_main(read_fd: int, write_fd: int, memory_mb: int, quiet: bool) -> None:
    """Worker process body: set limits, import runtimes, then convert until told to stop."""
    import resource
    from multiprocessing.connection import Connection

    exit_when_orphaned()
    # the scan decides about Ctrl-C (it reaches the whole process group) and SIGTERM: the
    # worker only ends when told, when its parent goes, or when killed
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    if quiet:  # native output: to the log, and into the reason of a failed answer
        inbox, outbox = nativelog.capture_worker(inbox, outbox)
    import warnings

    warnings.filterwarnings("ignore")
    from modelhound.converters.registry import convert_here

    problem = ""
    try:  # warm up: pay the runtime imports before the first time limit starts. TensorFlow
        # and tf2onnx load before the first conversion: a scan that runs its TFLite models
        # natively in LiteRT (calls only) never pays for them.
        import onnxruntime  # noqa: F401
    except (ImportError, MemoryError, OSError) as exc:  # e.g. RLIMIT_AS too tight
        problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    outbox.send(("ready", problem))
    converter_problem: str | None = None
    while True:
        try:
            found = inbox.recv()
        except EOFError:
            return
        if found is None:
            return
        if isinstance(found, tuple) and found and found[0] == "call":
            outbox.send(_call_here(found[1], found[2]))
            continue
        if converter_problem is None:
            try:
                import tensorflow  # noqa: F401
                import tf2onnx  # noqa: F401

                converter_problem = ""
            except (ImportError, MemoryError, OSError) as exc:  # RLIMIT_AS too tight to map TF
                converter_problem = (f"the converters cannot load under the memory limit "
                                     f"{memory_mb} MiB ({type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0][:160]})")
        if converter_problem:
            outbox.send(Conversion(found.entry.sha256, False,
                                   reason=f"{found.entry.entry}: {converter_problem}"))
            continue
        outbox.send(convert_here(found))


#: functions the parent may run in a worker (inference on untrusted models), by name
CALLABLE = frozenset({
    "modelhound.corpus.suspect:ddvs_here",
    "modelhound.comparison:behaviour_here",
    "modelhound.corpus.owner:compare_here",
    "modelhound.converters.tflite:native_here",
    "modelhound.converters.second_path:check_here",
    "modelhound.corpus.schedule:plan_here",
    "modelhound.corpus.schedule:preload_here",
    "modelhound.corpus.schedule:profile_group_here",
    "modelhound.corpus.owner:owner_outputs_here",
})


def _call_here(target: str, args: tuple[Any, ...]) -> tuple[str, Any]:
    """Run one whitelisted function; ('ok', result) or ('error', message)."""
    import importlib

    if target not in CALLABLE:
        return "error", f"{target} may not be called in a worker"
    module, _, name = target.partition(":")
    try:
        return "ok", getattr(importlib.import_module(module), name)(*args)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which goes on
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        return "error", f"{type(exc).__name__}: {first}"


class WorkerCallError(RuntimeError):
    """A function run in a worker raised, or the worker died or timed out."""


def _signal_name(code: int | None) -> str:
    """'SIGSEGV' for exit code -11, 'exit 3' for 3."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


class _Worker:
    """One worker process and its pipes; restarted on demand after a death.

    The process is ``python -m modelhound.converters.pool`` (not multiprocessing's spawn,
    which re-imports the caller's ``__main__``), talking pickled messages over two pipes.
    """

    def __init__(self, memory_mb: int, quiet: bool) -> None:
        self._memory_mb = memory_mb
        self._quiet = quiet
        self._proc: subprocess.Popen[bytes] | None = None
        self._send: Any = None
        self._recv: Any = None

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _start(self) -> str:
        """Start the process; returns '' or why it could not start."""
        from multiprocessing.connection import Connection

        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        out = subprocess.DEVNULL if self._quiet else None
        # the child must import this very modelhound, whatever the caller's cwd / sys.path
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH", "")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "modelhound.converters.pool", str(to_child_r),
             str(to_parent_w), str(self._memory_mb), "1" if self._quiet else "0"],
            pass_fds=(to_child_r, to_parent_w), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            env=env,
        )
        os.close(to_child_r)
        os.close(to_parent_w)
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(to_parent_r, writable=False)
        problem = ""
        if self._recv.poll(STARTUP_S):
            try:
                tag, problem = self._recv.recv()
                if tag == "ready" and not problem:
                    return ""
            except (EOFError, OSError, ValueError, TypeError):
                pass
        self.kill()
        detail = problem or _signal_name(self._proc.returncode)
        return f"worker failed to start ({detail}; memory limit {self._memory_mb} MiB)"

    def kill(self) -> None:
        """Kill the process (if any) and close the pipes."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for conn in (self._send, self._recv):
            if conn is not None:
                conn.close()
        self._send = self._recv = None

    def stop(self, kill: bool = False) -> None:
        """Ask the process to finish, then make sure it is gone (``kill``: at once)."""
        if self._alive() and self._send is not None and not kill:
            try:
                self._send.send(None)
                self._proc.wait(5)  # type: ignore[union-attr]
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        self._proc = None

    def ensure(self) -> str:
        """Start the process unless it runs; returns '' or why it could not start."""
        if self._alive() and self._send is not None:
            return ""
        self.kill()
        return self._start()

    @property
    def pid(self) -> int | None:
        """Process id while the worker runs."""
        return self._proc.pid if self._alive() and self._proc is not None else None

    def _exchange(self, message: Any, timeout_s: float) -> Any:
        """Send one message and wait for the answer; WorkerCallError when the worker
        cannot start, dies or does not answer within ``timeout_s`` (it is then killed)."""
        problem = self.ensure()
        if problem:
            raise WorkerCallError(problem)
        start = time.monotonic()
        try:
            self._send.send(message)
        except (BrokenPipeError, OSError) as exc:
            self.kill()
            raise WorkerCallError(f"worker pipe broken ({exc})") from exc
        if self._recv.poll(timeout_s):
            try:
                return self._recv.recv()
            except (EOFError, OSError):
                try:
                    self._proc.wait(5)  # type: ignore[union-attr]
                except subprocess.TimeoutExpired:
                    pass
                code = self._proc.returncode if self._proc else None
                self.kill()
                raise WorkerCallError(
                    f"worker died ({_signal_name(code)}) after {time.monotonic() - start:.1f} s; "
                    f"memory limit {self._memory_mb} MiB") from None
        self.kill()
        raise WorkerCallError(f"timed out after {timeout_s:g} s")

    def call(self, target: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        """Run a whitelisted function in this worker; WorkerCallError when it fails."""
        status, value = self._exchange(("call", target, args), timeout_s)
        if status == "ok":
            return value
        raise WorkerCallError(str(value))

    def convert(self, found: FoundModel, timeout_s: float) -> Conversion:
        """Convert one model in this worker, within ``timeout_s``."""
        from modelhound.converters.registry import OUT_OF_MEMORY

        try:
            result: Conversion = self._exchange(found, timeout_s)
        except WorkerCallError as exc:
            return Conversion(found.entry.sha256, False, reason=f"{found.entry.entry}: {exc}")
        if OUT_OF_MEMORY in (result.reason or ""):
            self.stop()  # runtimes that ran out of memory may be left damaged: start afresh
        return result


class ConverterPool:
    """A small pool of conversion workers; use as a context manager.

    ``convert`` is thread-safe; ``convert_all`` converts many models, ``workers`` at a
    time, and yields the conversions in input order.
    """

    def __init__(self, workers: int = 1, *, timeout_s: float = TIMEOUT_S,
                 memory_mb: int | None = None, quiet: bool = True) -> None:
        """Create the pool; processes start lazily, on first use. ``memory_mb``: each
        worker's address-space limit (default: :func:`default_memory_mb`)."""
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        memory_mb = memory_mb or default_memory_mb()
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.workers = workers
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all = [_Worker(memory_mb, quiet) for _ in range(workers)]
        for w in self._all:
            self._idle.put(w)
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> "ConverterPool":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(kill=exc_type is not None)

    def convert(self, found: FoundModel) -> Conversion:
        """Convert one model in an idle worker (waits for one)."""
        if self._closed:
            raise RuntimeError("ConverterPool is closed")
        worker = self._idle.get()
        try:
            return worker.convert(found, self.timeout_s)
        finally:
            self._idle.put(worker)

    def call(self, target: str, *args: Any, timeout_s: float | None = None) -> Any:
        """Run a whitelisted function (see CALLABLE) in an idle worker, within the time
        limit (``timeout_s``, default the pool's); raises WorkerCallError when it raises,
        crashes or hangs."""
        if self._closed:
            raise RuntimeError("ConverterPool is closed")
        worker = self._idle.get()
        try:
            return worker.call(target, args, self.timeout_s if timeout_s is None else timeout_s)
        finally:
            self._idle.put(worker)

    def convert_all(self, founds: Iterable[FoundModel]) -> Iterator[Conversion]:
        """Convert every model, ``workers`` in parallel; yields results in input order."""
        with ThreadPoolExecutor(max_workers=self.workers) as executor:
            yield from executor.map(self.convert, founds)

    def warm(self) -> list[str]:
        """Start every worker now (in parallel); returns the start-up problems, if any."""
        with ThreadPoolExecutor(max_workers=self.workers) as executor:
            return [p for p in executor.map(lambda w: w.ensure(), self._all) if p]

    def pids(self) -> tuple[int, ...]:
        """Process ids of the running workers (for monitoring)."""
        return tuple(w.pid for w in self._all if w.pid is not None)

    def close(self, kill: bool = False) -> None:
        """Stop every worker process (``kill``: at once, e.g. when the scan is interrupted,
        rather than after the model each is converting)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for w in self._all:
            w.stop(kill=kill)


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")
