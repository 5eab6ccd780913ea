"""Cost of one fuzz input per harness, under atheris as the campaign runs it: CPU seconds per
execution, so that two versions of the code can be compared on a shared, loaded machine.

    python bench/fuzz/speed.py [--runs N] [--harness NAME ...] [--tree LABEL=DIR ...]
                               [--corpus DIR] [--out FILE]

For each harness and each source tree (default: this checkout; ``--tree before=/path`` adds
another checkout, e.g. ``git archive main | tar -x -C /path``), the trees taking turns:
``python -m fuzz.driver NAME -runs=N -seed=1`` on a fresh copy of the same starting corpus
(``--corpus DIR/<harness>`` if given, else the harness's seeds only). libFuzzer's run is
deterministic for a seed and corpus, so the trees fuzz the same inputs as long as they reach
the same coverage. The child's user+system CPU time (``wait4``) gives executions per CPU
second, which load does not change much; wall-clock executions per second and the load are
printed beside it. Writes a table to ``--out`` (default bench/fuzz/speed.md).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from fuzz.driver import HARNESSES  # noqa: E402


def measure(tree: Path, name: str, runs: int, corpus: Path | None) -> dict:
    """One atheris run of ``name`` from ``tree``: executions, CPU and wall seconds, less
    those of a one-execution run (start-up: imports, instrumentation, seeds, corpus load)."""
    full = _run(tree, name, runs, corpus)
    base = _run(tree, name, 1, corpus)
    cpu = max(full["cpu_s"] - base["cpu_s"], 1e-9)
    wall = max(full["wall_s"] - base["wall_s"], 1e-9)
    execs = full["execs"] - base["execs"]
    return full | {"execs": execs, "cpu_s": cpu, "wall_s": wall, "per_cpu_s": execs / cpu,
                   "per_wall_s": execs / wall, "startup_cpu_s": base["cpu_s"]}


def _run(tree: Path, name: str, runs: int, corpus: Path | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"fuzz-speed-{name}-"))
    try:
        start = work / "corpus"
        if corpus is not None and (corpus / name).is_dir():
            shutil.copytree(corpus / name, start)
        else:
            start.mkdir()
        cmd = [sys.executable, "-m", "fuzz.driver", name, f"-runs={runs}", "-seed=1",
               "-print_final_stats=1", f"-artifact_prefix={work}/", str(start)]
        env = dict(os.environ, PYTHONPATH=str(tree))
        env.setdefault("MODELHOUND_CACHE", str(work / "cache"))
        # the fixtures beside this checkout, also for a tree unpacked elsewhere
        env.setdefault("MODELHOUND_FIXTURES", str(REPO.parent / "shared" / "fixtures"))
        load = os.getloadavg()[0]
        began = time.time()
        with open(work / "log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=log)
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - began
        text = (work / "log").read_text(errors="replace")
        stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", text, re.M))
        execs = int(stats.get("number_of_executed_units", 0))
        cpu = usage.ru_utime + usage.ru_stime
        return {"harness": name, "execs": execs, "cpu_s": cpu, "wall_s": wall, "load": load,
                "exit": os.waitstatus_to_exitcode(status)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    """Measure and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--harness", nargs="*", default=["archive", "store", "zoo", "arsc"])
    ap.add_argument("--tree", nargs="*", default=[], help="LABEL=DIR, another checkout")
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "speed.md")
    args = ap.parse_args()
    trees = [(label, Path(d)) for label, d in (t.split("=", 1) for t in args.tree)]
    trees.append(("this", REPO))
    rows = []
    print(f"{'harness':9} {'tree':8} {'execs':>7} {'CPU s':>7} {'exec/CPU s':>10} "
          f"{'wall s':>7} {'exec/s':>7} {'load':>5}")
    for name in args.harness:
        for label, tree in trees:
            r = measure(tree, name, args.runs, args.corpus) | {"tree": label}
            rows.append(r)
            print(f"{name:9} {label:8} {r['execs']:>7} {r['cpu_s']:>7.1f} "
                  f"{r['per_cpu_s']:>10.0f} {r['wall_s']:>7.1f} {r['per_wall_s']:>7.0f} "
                  f"{r['load']:>5.2f}", flush=True)
    lines = [
        "# Cost of one fuzz input per harness (atheris, instrumented)", "",
        f"`python bench/fuzz/speed.py --runs {args.runs} --harness {' '.join(args.harness)}"
        + "".join(f" --tree {label}={tree}" for label, tree in trees[:-1])
        + (f" --corpus {args.corpus}" if args.corpus else "") + "`, "
        + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) + ". Executions per CPU "
        "second (the fuzzer's own user+system time) compare code versions on a loaded "
        "machine; executions per wall second depend on what the other jobs leave. Load = "
        "1-minute load average at the start of each run (2 cores).", "",
        "| harness | tree | executions | CPU s | exec / CPU s | wall s | exec / wall s | load "
        "| exit |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['harness']} | {r['tree']} | {r['execs']:,} | {r['cpu_s']:.1f} | "
                     f"{r['per_cpu_s']:.0f} | {r['wall_s']:.1f} | {r['per_wall_s']:.0f} | "
                     f"{r['load']:.2f} | {r['exit']} |")
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
