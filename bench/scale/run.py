"""bench/scale: apps per second with 1 and 2 local processes and with Ray on this machine,
peak memory per process, and the share of time spent in extraction, conversion, matching.

Usage:  nice .venv/bin/python bench/scale/run.py [--extra 80]
Inputs: the fixture APKs (``MODELHOUND_FIXTURES``, default ../shared/fixtures), the demo
apps and EXTRA built apps, each with its own model (built fresh); matching against a small
weights-only zoo of three MediaPipe fixtures. "parent" is the ``modelhound scan`` process
(with one process it also scans); the peaks are sampled every 0.2 s with psutil.
Writes bench/scale/results.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIX = Path(os.environ.get("MODELHOUND_FIXTURES", REPO.parent / "shared" / "fixtures"))
sys.path.insert(0, str(REPO))
PY = sys.executable


def _kind(p: psutil.Process, root: psutil.Process) -> str:
    if p.pid == root.pid:
        return "parent"
    cmd = " ".join(p.cmdline())
    if "converters.pool" in cmd:
        return "conversion worker"
    if "multiprocessing.spawn" in cmd:
        return "scan process"
    if "resource_tracker" in cmd:
        return "resource tracker"
    if cmd.startswith("ray::"):
        return "Ray worker"
    return "Ray services (largest)" if "ray" in cmd else "other"


def _peak_rss(proc: subprocess.Popen, out: dict[str, float]) -> None:
    """Sample the process tree every 0.2 s; keep each process's peak RSS (MiB)."""
    peaks: dict[int, tuple[str, float]] = {}
    try:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            for p in [root, *root.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss / 2**20
                    kind = _kind(p, root)
                    if rss > peaks.get(p.pid, ("", 0))[1]:
                        peaks[p.pid] = (kind, rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            time.sleep(0.2)
    except psutil.NoSuchProcess:
        pass
    for kind, rss in peaks.values():
        out[kind] = max(out.get(kind, 0.0), rss)


def run(args: list[str]) -> tuple[float, dict[str, float]]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "modelhound", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=REPO)
    peaks: dict[str, float] = {}
    sampler = threading.Thread(target=_peak_rss, args=(proc, peaks))
    sampler.start()
    proc.wait()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"scan failed: {args}")
    return time.perf_counter() - t0, peaks


def stage_shares(inputs: list[str], zoo: str) -> dict[str, float]:
    """Sequential, in-process: time per stage over all inputs."""
    from modelhound.analysis import Analyzer
    from modelhound.corpus.match import Matcher
    from modelhound.corpus.zoo import Zoo
    from modelhound.extractor import extract

    t = {"extraction": 0.0, "conversion": 0.0, "matching": 0.0}
    with Analyzer(convert=True, matcher=Matcher(Zoo.open(zoo))) as a:
        for path in inputs:
            t0 = time.perf_counter()
            x = extract(path)
            t["extraction"] += time.perf_counter() - t0
            for found in x.models:
                if found.entry.status.value != "ok":
                    continue
                t0 = time.perf_counter()
                analysis, conv = a._convert(found)
                t1 = time.perf_counter()
                a._match(found, analysis, conv)
                t["conversion"] += t1 - t0
                t["matching"] += time.perf_counter() - t1
    return t


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--extra", type=int, default=80, help="built apps added to the corpus")
    args = ap.parse_args()
    work = HERE / ".cache"
    shutil.rmtree(work, ignore_errors=True)
    apps = work / "apps"
    apps.mkdir(parents=True)
    from modelhound.demo import build_demo

    build_demo(str(apps / "demo"))
    for p in sorted((FIX / "apks").rglob("*.apk")):
        shutil.copy(p, apps / p.name)
    from modelhound import samples

    for i in range(args.extra):
        (apps / f"built{i:03d}.apk").write_bytes(samples.apk(
            [("assets/model.tflite", samples.tflite_model(128, 64, seed=1000 + i))],
            package=f"com.bench.app{i}"))
    inputs = sorted(str(p) for p in apps.rglob("*") if p.is_file())
    zoo = work / "zoo"
    refs = [str(FIX / "models/tflite/mediapipe-0.10.14" / n) for n in
            ("hand_recrop.tflite", "palm_detection_lite.tflite", "selfie_segmentation.tflite")]
    subprocess.run([PY, "-m", "modelhound", "zoo", "add", *refs, "--zoo", str(zoo), "--no-profile"],
                   check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = ["scan", str(apps), "--zoo", str(zoo), "--no-table"]
    rows = []
    for label, extra in (("1 process", ["--jobs", "1"]), ("2 processes", ["--jobs", "2"]),
                         ("Ray, local, 2 CPUs", ["--ray", "local"])):
        secs, peaks = run([*base, *extra, "--db", str(work / f"{label[:3]}.db")])
        rows.append((label, secs, len(inputs) / secs, peaks))
    shares = stage_shares(inputs, str(zoo))
    total = sum(shares.values())
    lines = [
        "# bench/scale", "",
        f"Command: `.venv/bin/python bench/scale/run.py --extra {args.extra}`  ",
        f"Inputs: {len(inputs)} (the fixture APKs, the demo apps and {args.extra} built apps with a "
        "model each), converted and matched against a "
        f"3-reference weights-only zoo; machine: {os.cpu_count()} cores. Wall time of the whole "
        "`modelhound scan` command, start-up (imports, worker start, Ray start) included.", "",
        "| run | seconds | inputs/s | peak RSS per process, MiB |", "|---|---:|---:|---|",
    ]
    for label, secs, rate, peaks in rows:
        mem = ", ".join(f"{k} {v:.0f}" for k, v in sorted(peaks.items()))
        lines.append(f"| {label} | {secs:.1f} | {rate:.2f} | {mem} |")
    lines += ["", "Share of time by stage (sequential, in process; conversions in one worker):", "",
              "| stage | seconds | share |", "|---|---:|---:|"]
    for k, v in shares.items():
        lines.append(f"| {k} | {v:.1f} | {v / total:.0%} |")
    text = "\n".join(lines) + "\n"
    (HERE / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
