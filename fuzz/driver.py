"""The shared driver: the contract every harness is held to, atheris fuzzing, and a
deterministic replay without libFuzzer.

The contract, for every input:

- it ends normally (a row, a record, a refusal the harness checks) or in
  :class:`modelhound.errors.ModelhoundError`; the harness checks that user-facing errors name
  the input. Any other exception escaping is a finding;
- it prints nothing to ``sys.stdout``: in a scan that is the user's terminal (the CLI moves
  only file descriptors 1 and 2 to the log), so a library's ``print`` there is raw chatter;
- it finishes within ``TIME_BOUND`` seconds (libFuzzer ``-timeout``; ``signal.alarm`` in
  replay);
- the process stays within ``RSS_LIMIT_MB``, the scan's per-process budget (libFuzzer
  ``-rss_limit_mb``; the replay in the test suite checks the time bound only, since an
  address-space limit on the test process would bind every other test too).

Usage::

    python -m fuzz.driver NAME [-runs=N] [-max_total_time=S] [corpus dir] ...
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import random
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

#: harnesses, one per entry point that reads untrusted bytes (module names in fuzz/harnesses)
HARNESSES: tuple[str, ...] = (
    "archive", "tflite", "onnx", "caffe", "graphdef", "ncnn", "misc", "pytorch", "keras",
    "manifest", "arsc", "store", "zoo", "savedmodel",
)
#: seconds one input may take
TIME_BOUND = 5
#: the scan's per-process memory budget (modelhound.parallel.PROCESS_BUDGET is 3 GiB)
RSS_LIMIT_MB = 3072
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
#: a RAM-backed folder (tmpfs) where the machine has one
_RAM = "/dev/shm"


class Hang(Exception):
    """An input ran past TIME_BOUND (replay mode)."""


@dataclass(frozen=True)
class Harness:
    """One loaded harness: its name, seed inputs, the largest input and the target."""

    name: str
    seeds: Callable[[], list[bytes]]
    max_len: int
    test_one: Callable[[bytes], None]


def check_refusal(error: Exception, prefix: str, path: str, sha256: str, what: str) -> None:
    """The contract for a refused file a user handed over: the message names it (starts with
    ``prefix``) and the file is byte-identical afterwards (``sha256`` from before)."""
    import hashlib

    if not str(error).startswith(prefix):
        raise AssertionError(f"refusal does not name the {what}: {error}") from error
    with open(path, "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != sha256:
            raise AssertionError(f"refused {what} was changed: {error}") from error


def scratch_dir(prefix: str) -> str:
    """A fresh folder for a harness's per-input files, in RAM (``/dev/shm``) when the machine
    has it. The store, zoo and archive harnesses rewrite a file for every input; on a disk
    file system truncating and rewriting a file is flushed on close (ext4's auto_da_alloc) and
    SQLite's commits fsync, which cost the store harness 40 of its 45 ms per input. The code
    under test is the same either way: it opens a path."""
    ram = _RAM if os.path.isdir(_RAM) and os.access(_RAM, os.W_OK) else None
    return tempfile.mkdtemp(prefix=prefix, dir=ram)


def load(name: str) -> Harness:
    """Import ``fuzz.harnesses.<name>``."""
    if name not in HARNESSES:
        raise SystemExit(f"unknown harness {name!r}; one of: {', '.join(HARNESSES)}")
    mod: ModuleType = importlib.import_module(f"fuzz.harnesses.{name}")
    return Harness(name, mod.seeds, mod.MAX_LEN, _silent(name, mod.test_one))


class Chatter(AssertionError):
    """An input made the code under test print to ``sys.stdout``."""


def _silent(name: str, test_one: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """``test_one`` under the contract that nothing is printed to ``sys.stdout``."""
    def run(data: bytes) -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            test_one(data)
        if out.getvalue():
            raise Chatter(f"{name}: the input made modelhound print to stdout, raw onto the "
                          f"user's terminal in a scan: {out.getvalue()[:300]!r}")
    return run


def regressions(name: str) -> list[tuple[str, bytes]]:
    """Stored minimised inputs of past findings for a harness (name, bytes)."""
    folder = REGRESSIONS / name
    if not folder.is_dir():
        return []
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]


# --- deterministic mutations (replay mode) ------------------------------------------------

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF)
_INTERESTING32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000, 0xFFFF)


def mutate(data: bytes, rng: random.Random, pool: list[bytes], max_len: int) -> bytes:
    """One to four libFuzzer-like edits of ``data``: bit flips, interesting bytes and ints,
    erasures, duplications, insertions, truncation and splices with another seed."""
    buf = bytearray(data or b"\x00")
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        n = len(buf)
        i = rng.randrange(n) if n else 0
        if op == 0 and n:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[i] = rng.choice(_INTERESTING)
        elif op == 2 and n >= 4:
            j = rng.randrange(n - 3)
            buf[j:j + 4] = rng.choice(_INTERESTING32).to_bytes(4, rng.choice(("little", "big")))
        elif op == 3 and n > 1:
            del buf[i:i + rng.randint(1, max(1, n // 8))]
        elif op == 4 and n:
            chunk = buf[i:i + rng.randint(1, 64)]
            j = rng.randrange(n)
            buf[j:j] = chunk
        elif op == 5:
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 6 and n > 1:
            del buf[rng.randrange(1, n):]
        elif op == 7 and pool:
            other = rng.choice(pool)
            if other:
                k = rng.randrange(len(other))
                buf[i:] = other[k:k + max(1, n - i)]
    return bytes(buf[:max_len])


def replay_inputs(h: Harness, mutations: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """The seeds, the stored regressions, then ``mutations`` fixed-seed mutations."""
    seeds = [s[: h.max_len] for s in h.seeds()]
    for i, s in enumerate(seeds):
        yield f"seed {i}", s
    yield from ((f"regression {n}", d) for n, d in regressions(h.name))
    rng = random.Random(f"{h.name}:{seed}")
    for i in range(mutations):
        yield f"mutation {i} (seed {seed})", mutate(rng.choice(seeds), rng, seeds, h.max_len)


def run_bounded(h: Harness, data: bytes) -> None:
    """Run one input under the time bound (SIGALRM; main thread only)."""
    def on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"{h.name}: input ran past {TIME_BOUND} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_BOUND)
    try:
        h.test_one(data)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def replay(name: str, mutations: int, seed: int = 0) -> int:
    """Run a harness's contract over its replay inputs; returns how many ran. The first
    violation raises, with the input's label in the message."""
    h = load(name)
    count = 0
    for label, data in replay_inputs(h, mutations, seed):
        try:
            run_bounded(h, data)
        except BaseException as e:  # noqa: BLE001 - re-raised with the input named
            raise AssertionError(f"fuzz harness {name}, {label} ({len(data)} bytes, "
                                 f"starts {data[:16].hex()}): {type(e).__name__}: {e}") from e
        count += 1
    return count


# --- atheris ------------------------------------------------------------------------------

def keep_failing(test_one: Callable[[bytes], None], prefix: str) -> Callable[[bytes], None]:
    """``test_one``, writing an input that breaks the contract to ``<prefix>crash-<sha1>``
    before libFuzzer does: the archive fuzzer was seen dying of SIGALRM (-14) between
    printing the exception and writing the unit, and the input was lost. The line printed
    is the one libFuzzer prints, so ``bench/fuzz/run.py`` credits the finding to the run."""
    def run(data: bytes) -> None:
        try:
            test_one(data)
        except Exception:
            import hashlib

            path = f"{prefix}crash-{hashlib.sha1(data).hexdigest()}"
            with open(path, "wb") as f:
                f.write(data)
            print(f"fuzz.driver: Test unit written to {path}", file=sys.stderr, flush=True)
            raise
    return run


def fuzz(name: str, argv: list[str]) -> None:
    """Fuzz one harness with atheris; libFuzzer flags pass through. The seeds are written to
    a fresh corpus folder (plus any corpus folders given)."""
    import atheris

    # everything a harness imports, also lazily inside its functions, must be imported in
    # here to be instrumented: so build the seeds and run each once inside the block
    with atheris.instrument_imports(include=["modelhound", "androguard", "fuzz.harnesses"]):
        h = load(name)
        seeds = [s[: h.max_len] for s in h.seeds()]
        for s in seeds:
            try:
                h.test_one(s)
            except Exception:  # noqa: BLE001 - libFuzzer reports it again on the seed
                pass
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    for i, s in enumerate(seeds):
        (corpus / f"seed-{i:03d}").write_bytes(s)
    for n, d in regressions(name):
        (corpus / f"regression-{n}").write_bytes(d)
    flags = [a for a in argv if a.startswith("-")]
    dirs = [a for a in argv if not a.startswith("-")]
    defaults = {"-timeout": str(TIME_BOUND), "-rss_limit_mb": str(RSS_LIMIT_MB),
                "-max_len": str(h.max_len)}
    for k, v in defaults.items():
        if not any(f.startswith(k + "=") for f in flags):
            flags.append(f"{k}={v}")
    prefix = next((f.split("=", 1)[1] for f in flags if f.startswith("-artifact_prefix=")), "")
    atheris.Setup([sys.argv[0], *flags, *dirs, str(corpus)], keep_failing(h.test_one, prefix))
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> None:
    """``python -m fuzz.driver NAME [flags]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        raise SystemExit(f"usage: python -m fuzz.driver NAME [libFuzzer flags]; NAME one of "
                         f"{', '.join(HARNESSES)}")
    os.environ.setdefault("MODELHOUND_CACHE", tempfile.mkdtemp(prefix="fuzz-cache-"))
    fuzz(argv[0], argv[1:])


if __name__ == "__main__":
    main()
