"""bench/scale/budget.py: the memory one scanning process costs, for the --jobs default.

Runs one sequential scan (``--jobs 1``: the command's own process is the scanning process)
over every shared fixture (the APKs and each model file), converting and matching against
a zoo (default: the default zoo), and samples the process tree every 0.1 s with psutil.
Prints the peak RSS of the scanning process, of its conversion worker, and the peak of
their sum at one instant; ``modelhound.parallel.PROCESS_BUDGET`` is set from these.

Usage:  nice .venv/bin/python bench/scale/budget.py [--zoo DIR] [INPUT ...]
(default inputs: every shared fixture)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent.parent
FIX = Path(os.environ.get("MODELHOUND_FIXTURES", REPO.parent / "shared" / "fixtures"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default=str(Path.home() / ".cache/modelhound/zoo-default-v1"))
    ap.add_argument("inputs", nargs="*")
    args = ap.parse_args()
    models = sorted(str(p) for p in (FIX / "models").rglob("*") if p.is_file())
    inputs = args.inputs or [str(FIX / "apks"), *models]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "modelhound", "scan", *inputs, "--jobs", "1", "--zoo",
               args.zoo, "--no-table", "--db", f"{tmp}/b.db"]
        t0 = time.perf_counter()
        log = open(f"{tmp}/stderr", "w+")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, cwd=REPO)
        root = psutil.Process(proc.pid)
        scan = worker = both = 0.0
        while proc.poll() is None:
            try:
                own = root.memory_info().rss / 2**20
                kids = sum(p.memory_info().rss for p in root.children(recursive=True)) / 2**20
            except psutil.NoSuchProcess:
                break
            scan, worker, both = max(scan, own), max(worker, kids), max(both, own + kids)
            time.sleep(0.1)
        secs = time.perf_counter() - t0
        proc.wait()
        log.seek(0)
        tail = log.read()[-2000:]
    if proc.returncode:
        print(tail, file=sys.stderr)
        raise SystemExit(f"scan failed ({proc.returncode}) after {secs:.0f} s; peaks so far, MiB: "
                         f"scanning process {scan:.0f}, conversion worker {worker:.0f}, "
                         f"both {both:.0f}")
    print(f"{len(inputs)} paths in {secs:.0f} s; peak RSS, MiB: scanning process {scan:.0f}, "
          f"conversion worker {worker:.0f}, both at once {both:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
