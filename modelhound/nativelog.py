"""Native libraries' messages go to a log file, never raw onto the user's terminal.

onnxruntime, TensorFlow, LiteRT, torch and onnx2torch write from C++ straight to file
descriptors 1 and 2, past ``sys.stdout`` / ``sys.stderr``, so only moving the descriptors
catches them. Two places do that:

- :func:`to_log` in the CLI's process: fd 1 and 2 go to the log file (appended) while
  ``sys.stdout`` / ``sys.stderr`` keep writing to the terminal through copies of the old
  descriptors, so modelhound's own output (rich) is unchanged. Python warnings and
  ``logging`` records go to the log too. Child processes inherit the log.
- :func:`capture_worker` in a conversion worker: fd 1 and 2 go to a private temporary
  file; after each answer what was written is appended to the log under the model it
  came from, and when the answer is a failure, the lines that explain it (onnxruntime's
  ``[E:...]``, TensorFlow's ``E0000``, an exception) are added to its reason.
"""

from __future__ import annotations

import ctypes
import dataclasses
import io
import logging
import os
import re
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

#: environment variable naming the log file, read by worker processes
LOG_ENV = "MODELHOUND_LOG"

#: a line that explains a failure: onnxruntime, TensorFlow/absl, Python, C++ runtime
_ERROR_LINE = re.compile(
    r"\[E:onnxruntime|\[F:onnxruntime|^[EF]\d{4} |Error|error:|Exception|terminate called|"
    r"Aborted|Check failed|Fatal",
)
#: leading timestamps and source locations that make a reason long and unstable
_NOISE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \[([EFW]):onnxruntime:[^\]]*\] |"
    r"^[EFW]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] ",
)


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (printf output not yet written)."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # pragma: no cover - no libc symbols (not Linux)
        pass


@dataclasses.dataclass
class NativeLog:
    """The log of one CLI run: where it is and how much this run wrote to it."""

    path: str
    start: int = 0

    def written(self) -> int:
        """Bytes this run added to the log (0 when nothing spoke)."""
        try:
            return max(0, os.path.getsize(self.path) - self.start)
        except OSError:
            return 0


def _fd_of(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return None


@contextmanager
def to_log(path: str, title: str = "") -> Iterator[NativeLog]:
    """Within the block, this process's fd 1 and 2 (and its children's) write to ``path``.

    ``sys.stdout`` / ``sys.stderr`` that wrote to fd 1 / 2 are replaced by streams on
    copies of the original descriptors, so Python-level output still reaches the
    terminal; Python warnings and logging records go to the log. Everything is restored
    on exit. ``title`` heads this run's part of the log. Raises OSError when the log
    cannot be opened (its folder is not created: that is the caller's choice).
    """
    path = os.path.abspath(path)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(log_fd, f"=== {stamp} {title} (pid {os.getpid()})\n".encode())
    log = NativeLog(path, start=os.fstat(log_fd).st_size)
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except (AttributeError, ValueError, OSError):
            pass
    _flush_c_stdio()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    old_streams = {"stdout": sys.stdout, "stderr": sys.stderr}
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = old_streams[name]
        if _fd_of(stream) == fd:  # keep Python's own output on the terminal
            setattr(sys, name, open(saved[fd], "w", buffering=1, closefd=False,
                                    encoding=getattr(stream, "encoding", None) or "utf-8",
                                    errors=getattr(stream, "errors", None) or "replace"))
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    old_env = os.environ.get(LOG_ENV)
    os.environ[LOG_ENV] = path
    stream = open(log_fd, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_showwarning = warnings.showwarning

    def _warning_to_log(message: Any, category: Any, filename: str, lineno: int,
                        file: Any = None, line: str | None = None) -> None:
        stream.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = _warning_to_log  # not logging.captureWarnings: libraries reconfigure logging
    try:
        yield log
    finally:
        warnings.showwarning = old_showwarning
        root.removeHandler(handler)
        handler.close()
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if current is not old_streams[name]:
                try:
                    current.flush()
                    current.close()
                except (ValueError, OSError):
                    pass
                setattr(sys, name, old_streams[name])
        _flush_c_stdio()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(log_fd)
        if old_env is None:
            os.environ.pop(LOG_ENV, None)
        else:
            os.environ[LOG_ENV] = old_env


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def explain(text: str, known: str = "", limit: int = 2) -> str:
    """The last ``limit`` lines of ``text`` that explain a failure, made short; lines
    whose message ``known`` (the reason so far) already says are left out."""
    picked = []
    for line in _ANSI.sub("", text).splitlines():
        line = line.strip()
        if not _ERROR_LINE.search(line):
            continue
        line = _NOISE.sub("", line)
        if line and line not in known:
            picked.append(line[:240])
    return " | ".join(dict.fromkeys(picked[-limit:]))


def _describe(message: Any) -> str:
    """What a worker was asked: a model entry, or a function call."""
    entry = getattr(getattr(message, "entry", None), "entry", None)
    if entry:
        return str(entry)
    if isinstance(message, tuple) and len(message) > 1 and message[0] == "call":
        return str(message[1])
    return "start-up"


class _Inbox:
    """A worker's inbox that remembers the last request (to head its log lines)."""

    def __init__(self, conn: Any, capture: "_Capture") -> None:
        self._conn = conn
        self._capture = capture

    def recv(self) -> Any:
        """Receive one request."""
        message = self._conn.recv()
        self._capture.subject = _describe(message)
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _Outbox:
    """A worker's outbox that files what the native libraries said before each answer."""

    def __init__(self, conn: Any, capture: "_Capture") -> None:
        self._conn = conn
        self._capture = capture

    def send(self, message: Any) -> None:
        """Log the captured output; add its explanation to a failed answer; send."""
        said = self._capture.take()
        if said:
            message = _with_reason(message, said)
        self._conn.send(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _with_reason(message: Any, said: str) -> Any:
    """A failed answer with what the native libraries said about it; others unchanged."""
    if dataclasses.is_dataclass(message) and getattr(message, "runnable", None) is False:
        reason = str(getattr(message, "reason", ""))
        why = explain(said, reason)
        if why:
            return dataclasses.replace(message, reason=f"{reason} (native: {why})" if reason else why)
    if isinstance(message, tuple) and len(message) == 2 and message[0] == "error":
        why = explain(said, str(message[1]))
        if why:
            return ("error", f"{message[1]} (native: {why})")
    return message


class _Capture:
    """fd 1 and 2 into a private temporary file, handed to the log piece by piece."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        fd = self._file.fileno()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        self.subject = "start-up"
        self._log = os.environ.get(LOG_ENV, "")

    def take(self) -> str:
        """What was written since the last call; appended to the log, then forgotten."""
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except (ValueError, OSError):
                pass
        _flush_c_stdio()
        fd = self._file.fileno()
        size = os.lseek(fd, 0, os.SEEK_END)
        if not size:
            return ""
        os.lseek(fd, 0, os.SEEK_SET)
        data = b""
        while len(data) < size:
            chunk = os.read(fd, size - len(data))
            if not chunk:
                break
            data += chunk
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        text = data.decode("utf-8", errors="replace")
        if self._log:
            head = f"--- worker {os.getpid()}: {self.subject}\n"
            try:
                with open(self._log, "a", encoding="utf-8") as f:
                    plain = _ANSI.sub("", text)
                    f.write(head + plain + ("" if plain.endswith("\n") else "\n"))
            except OSError:
                pass
        return text


def capture_worker(inbox: Any, outbox: Any) -> tuple[Any, Any]:
    """In a worker process: capture fd 1 and 2 from now on; returns (inbox, outbox)
    wrappers that file the captured output per request (see the module docstring)."""
    capture = _Capture()
    return _Inbox(inbox, capture), _Outbox(outbox, capture)
