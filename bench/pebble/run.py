"""ScanPool (modelhound/parallel.py) next to the same job done with pebble's ProcessPool.

    pip install "pebble==5.2.*"   # for this comparison only: not a modelhound dependency
    python bench/pebble/run.py [--apps N] [--rounds R]

The job: N small apps the script builds (one TFLite model each), scanned with 2 processes
(--no-convert, so the numbers are about process handling, not conversions), two of them
poisoned: ``die-once-sigkill`` kills its scanning process on the first attempt,
``die-always`` on every attempt (exit 1). Required outcome, as tests/test_parallel.py
asserts for ScanPool: every other app scanned, the first one retried and scanned, the second
an error row after two deaths, results in input order. The pebble side is the smallest
equivalent: ProcessPool(2, initializer=modelhound.parallel._init, context=spawn), one
``schedule`` per input within the same 2N window, a ProcessExpired retried once.
Rounds alternate (ScanPool, pebble, ScanPool, ...) so both see the same load; the table
gives wall seconds per round, whether the outcome was right, and the load average.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from modelhound import samples  # noqa: E402
from modelhound.extractor import Limits  # noqa: E402
from modelhound.parallel import WorkerSetup, _init, _scan_one, dispatch, failed, scan_parallel  # noqa: E402


def poisoned(path: str, digest: str):  # noqa: ANN201 - runs in the worker
    """The test suite's worker-death stand-in, then the real per-app work."""
    from tests.builders import die_if_named

    die_if_named(path)
    return _scan_one(path, digest)


def with_pebble(paths: list[str], setup: WorkerSetup, jobs: int) -> list:
    """ScanPool's job on pebble: same window, same retry-once rule."""
    from pebble import ProcessExpired, ProcessPool

    ctx = multiprocessing.get_context("spawn")
    with ProcessPool(max_workers=jobs, initializer=_init, initargs=(setup,), context=ctx) as pool:
        def submit(path: str, digest: str):  # noqa: ANN202
            return [pool.schedule(poisoned, (path, digest)), path, digest, 0]

        def resolve(path: str, handle: list):  # noqa: ANN202
            while True:
                try:
                    return handle[0].result()
                except ProcessExpired as e:
                    handle[3] += 1
                    if handle[3] > 1:
                        return failed(path, "scanning process died twice",
                                      f"exit code {e.exitcode}", handle[2])
                    handle[0] = pool.schedule(poisoned, (handle[1], handle[2]))
                except Exception as e:  # noqa: BLE001
                    return failed(path, "scan failed", e, handle[2])

        return list(dispatch(paths, submit, resolve, 2 * jobs))


def _init_hang() -> None:
    time.sleep(20)  # a runtime import that hangs at worker start-up


def _init_fail() -> None:
    raise MemoryError("cannot map TensorFlow under RLIMIT_AS")  # the limit too tight


def _pid() -> int:
    return os.getpid()


def worker_start_probes() -> list[tuple[str, str, float]]:
    """What the conversion pool needs from its workers' start-up (a bounded warm-up, a
    failed warm-up as a per-model reason), asked of pebble: (probe, outcome, seconds)."""
    from pebble import ProcessPool

    ctx = multiprocessing.get_context("spawn")
    out = []
    for name, init in (("start-up hangs 20 s; task timeout 2 s", _init_hang),
                       ("start-up raises MemoryError", _init_fail)):
        start = time.perf_counter()
        with ProcessPool(1, initializer=init, context=ctx) as pool:
            future = pool.schedule(_pid, timeout=2)
            try:
                future.result(timeout=60)
                what = "task ran after the start-up; the timeout did not cover it"
            except Exception as e:  # noqa: BLE001
                what = f"{type(e).__name__}: {str(e)[:60]}"
            pool.stop()
        out.append((name, what, time.perf_counter() - start))
    return out


def build(folder: Path, n: int) -> list[str]:
    """N apps, two of them poisoned."""
    paths = []
    for i in range(n):
        name = {3: "die-once-sigkill.apk", 7: "die-always.apk"}.get(i, f"app{i:03d}.apk")
        p = folder / name
        p.write_bytes(samples.apk([("assets/m.tflite", samples.tflite_model(seed=i))],
                                  package=f"com.b.a{i}"))
        paths.append(str(p))
    return sorted(paths)


def outcome_ok(results: list, paths: list[str]) -> bool:
    """Input order kept; the poisoned apps as required; every other app scanned."""
    if [r.app.path for r in results] != paths:
        return False
    for r in results:
        name = os.path.basename(r.app.path)
        if name.startswith("die-always"):
            if not (r.error and "died twice" in r.error):
                return False
        elif r.error or not r.models:
            return False
    return True


def main() -> None:
    """Alternate the two, print and write the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--apps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    setup = WorkerSetup(Limits(), convert=False, zoo=None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for impl in ("ScanPool", "pebble"):
                folder = Path(tmp) / f"{impl}-{r}"
                folder.mkdir()
                paths = build(folder, args.apps)
                load = os.getloadavg()[0]
                start = time.perf_counter()
                if impl == "ScanPool":
                    results = list(scan_parallel(paths, setup, 2, work=poisoned))
                else:
                    results = with_pebble(paths, setup, 2)
                wall = time.perf_counter() - start
                rows.append((impl, r, wall, outcome_ok(results, paths), load))
                print(f"{impl:9} round {r}: {wall:6.2f} s  outcome "
                      f"{'right' if rows[-1][3] else 'WRONG'}  load {load:.2f}", flush=True)
    out = Path(__file__).with_name("results.md")
    lines = ["# ScanPool vs pebble ProcessPool", "",
             f"`python bench/pebble/run.py --apps {args.apps} --rounds {args.rounds}` "
             f"(pebble 5.2.3; 2 processes; {args.apps} apps, two poisoned; rounds alternate). "
             "Shared 2-core machine: the 1-minute load average at each run's start is given.", "",
             "| pool | round | wall s | outcome right | load |", "|---|---:|---:|---|---:|"]
    lines += [f"| {i} | {r} | {w:.2f} | {'yes' if ok else 'no'} | {lo:.2f} |"
              for i, r, w, ok, lo in rows]
    for impl in ("ScanPool", "pebble"):
        ws = sorted(w for i, _, w, _, _ in rows if i == impl)
        lines.append(f"\n{impl}: median {ws[len(ws) // 2]:.2f} s over {len(ws)} rounds.")
    lines += ["", "## Conversion-worker start-up under pebble", "",
              "The conversion pool (`modelhound/converters/pool.py`) bounds a worker's start-up "
              "(importing TensorFlow, ONNX Runtime, LiteRT under RLIMIT_AS) by STARTUP_S and turns "
              "a failed start-up into the model's reason (`worker failed to start (MemoryError ...)`)."
              " The same warm-up as a pebble initializer:", "",
              "| probe | outcome | seconds |", "|---|---|---:|"]
    for name, what, secs in worker_start_probes():
        print(f"{name}: {what} ({secs:.1f} s)", flush=True)
        lines.append(f"| {name} | {what} | {secs:.1f} |")
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
