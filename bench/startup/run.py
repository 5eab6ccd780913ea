"""bench/startup: what a scan of one APK costs from a cold start, before and after.

Usage:  nice .venv/bin/python bench/startup/run.py [--before ../main] [--apk PATH]

Runs ``modelhound scan APK`` as a fresh command (no result cache, no zoo matching) with
the code of this repository and with the code at ``--before`` (another checkout, e.g.
the main branch), one after the other, three ways: inventory only (``--no-convert``), the
default (TFLite run natively by LiteRT here; through tf2onnx before) and ``--convert``
(the ONNX form built and checked). Reports wall time and the CPU time of the command and
its conversion worker, and whether the worker imported TensorFlow (read from
``-X importtime`` of the worker, which inherits ``PYTHONPROFILEIMPORTTIME``).
Writes bench/startup/results.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIX = Path(os.environ.get("MODELHOUND_FIXTURES", REPO.parent / "shared" / "fixtures"))
APK = FIX / "apks" / "with-models" / "nex3z-tflite-mnist-1.0.0.apk"


def run(code: Path, apk: Path, flags: list[str], tmp: Path) -> tuple[float, float, bool, str]:
    """(wall s, CPU s of the command and its children, TensorFlow imported, runtime column)."""
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONPROFILEIMPORTTIME": "1",
           "MODELHOUND_CACHE": str(tmp / "cache")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "modelhound", "scan", str(apk), *flags,
                        "--db", str(tmp / "s.db"), "--csv", str(tmp / "s.csv")],
                       cwd=tmp, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    import csv

    rows = list(csv.DictReader((tmp / "s.csv").open()))
    runtime = ",".join(sorted({r.get("runtime", "") for r in rows if r.get("entry")})) or "-"
    # the worker's stderr goes to /dev/null; the command's own import log is in p.stderr
    tf = "| tensorflow" in p.stderr or "| tf2onnx" in p.stderr
    return wall, cpu, tf, runtime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=str(REPO.parent / "main"))
    ap.add_argument("--apk", default=str(APK))
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    rows = []
    modes = (("inventory only", ["--no-convert"]), ("default", ["--no-match", "--no-cache"]),
             ("--convert", ["--no-match", "--no-cache", "--convert"]))
    with tempfile.TemporaryDirectory(prefix="mh-startup-") as t:
        for name, flags in modes:
            for label, code in (("before", Path(args.before)), ("after", REPO)):
                fl = [f for f in flags if f != "--no-cache" or label == "after"]
                fl = [f for f in fl if f != "--convert" or label == "after"]
                if name == "--convert" and label == "before":
                    continue
                wall, cpu, tf, runtime = run(code, Path(args.apk), fl, Path(t))
                rows.append((name, label, f"{wall:.1f}", f"{cpu:.1f}", runtime,
                             "yes" if tf else "no"))
                print(rows[-1], flush=True)
    load1 = os.getloadavg()[0]
    lines = [
        "# bench/startup: one APK, cold start",
        "",
        f"Command: `nice -n 10 .venv/bin/python bench/startup/run.py --before {args.before}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); APK: `{Path(args.apk).name}`; "
        f"2-core machine shared with other jobs, 1-min load average {load0:.1f} at the start, "
        f"{load1:.1f} at the end. `before` = the code at --before (TFLite always through "
        "tf2onnx, the worker imports TensorFlow at start), `after` = this branch. CPU = user+sys "
        "of the command and its conversion worker. 'TF in scanning process' = TensorFlow or "
        "tf2onnx in the command's own `-X importtime` log.",
        "",
        "| scan | code | wall s | CPU s | runtime column | TF in scanning process |",
        "|---|---|---:|---:|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "results.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
