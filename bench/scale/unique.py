"""bench/scale/unique.py: scan time grows with the unique models, not with the apps.

Usage:  .venv/bin/python bench/scale/unique.py [--unique 50] [--apps 1000] [--pairs 100]
        [--refs face_detection_short_range,hand_recrop,palm_detection_lite] [--steps 2]

Builds, in a temporary folder, K unique real models (MediaPipe fixtures
face_detection_short_range, hand_recrop and selfie_segmentation, each copied with its
weights moved by seeded noise, so every copy has its own sha256 and runs as its own model)
and two corpora of small APK zips: K apps holding each model once, and N apps holding
them round-robin (model i % K in app i). A zoo of real MediaPipe references (--refs, probe
sets of --pairs pairs, the default zoo's count; --steps PGD steps, which change only how
long the zoo takes to build, not what a scan runs) is built first. Then, each a
``modelhound scan`` command (one process, its wall time, start-up included):

1. K apps, cold result cache;
2. N apps, another cold result cache (goal: <= 2x run 1);
3. N apps again, warm cache, three times (goal: run 2 / median of run 3 >= 20);
4. ``zoo add`` of iris_landmark (a new input geometry, so a new probe set), then N apps,
   warm cache: the cache entries written by this scan are counted by kind (goal: only
   what the new reference needs: a run on the new probe set, the evidence against the new
   reference and the finished analysis, one each per unique model; no conversion).

Python byte-code is compiled before the first scan (as an installed package has it), so
no scan pays for compiling modelhound's sources.

Writes bench/scale/results-unique.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIX = Path(os.environ.get("MODELHOUND_FIXTURES", REPO.parent / "shared" / "fixtures"))
MP = FIX / "models" / "tflite" / "mediapipe-0.10.14"
sys.path.insert(0, str(REPO))
PY = sys.executable
BASES = ("face_detection_short_range", "hand_recrop", "selfie_segmentation")


def entries(cache: Path) -> dict[str, int]:
    """Number of cache records per kind."""
    base = cache / "results-v1"
    return {k.name: sum(1 for _ in k.rglob("*.json")) for k in sorted(base.iterdir())} \
        if base.exists() else {}


def cli(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([PY, "-m", "modelhound", *args], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=7200)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"modelhound {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return dt, p.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--unique", type=int, default=50)
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--refs", default="face_detection_short_range,hand_recrop,palm_detection_lite")
    ap.add_argument("--warm", type=int, default=3, help="warm rescans (the median counts)")
    args = ap.parse_args()
    refs = [r for r in args.refs.split(",") if r]

    from modelhound import samples, variants

    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "300"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "modelhound")], env=env, check=True)
    with tempfile.TemporaryDirectory(prefix="mh-unique-") as tmp:
        root = Path(tmp)
        env["MODELHOUND_CACHE"] = str(root / "home-cache")
        base = [(MP / f"{b}.tflite").read_bytes() for b in BASES]
        models = [variants.perturb_tflite(base[i % len(base)], share=1.0, noise=0.5, seed=i)
                  for i in range(args.unique)]
        for name, count in (("once", args.unique), ("many", args.apps)):
            d = root / name
            d.mkdir()
            for i in range(count):
                m = models[i % args.unique]
                (d / f"app{i:05d}.apk").write_bytes(samples.apk(
                    [("assets/model.tflite", m)], package=f"com.bench.app{i}"))
        zoo = root / "zoo"
        load0 = os.getloadavg()[0]
        t_zoo, _ = cli(["zoo", "add", *(str(MP / f"{r}.tflite") for r in refs), "--zoo", str(zoo),
                        "--pairs", str(args.pairs), "--steps", str(args.steps)], env)

        def scan(corpus: str, cache: str) -> tuple[float, str]:
            out = root / f"out-{corpus}-{cache}-{time.monotonic_ns()}"
            return cli(["scan", str(root / corpus), "--zoo", str(zoo), "--cache", str(root / cache),
                        "--jobs", "1", "--db", str(out) + ".db", "--json", str(out) + ".json"], env)

        rows = []
        t1, e1 = scan("once", "cache-a")
        rows.append((f"{args.unique} apps, each model once, cold cache", t1, e1))
        t2, e2 = scan("many", "cache-b")
        rows.append((f"{args.apps} apps over the {args.unique} models, cold cache", t2, e2))
        before = entries(root / "cache-b")
        warm = []
        for i in range(args.warm):
            t3, e3 = scan("many", "cache-b")
            warm.append(t3)
            rows.append((f"{args.apps} apps again, warm cache (rescan {i + 1})", t3, e3))
        t3 = sorted(warm)[len(warm) // 2]
        t_add, _ = cli(["zoo", "add", str(MP / "iris_landmark.tflite"), "--zoo", str(zoo),
                        "--pairs", str(args.pairs), "--steps", str(args.steps)], env)
        mid = entries(root / "cache-b")
        t4, e4 = scan("many", "cache-b")
        rows.append((f"{args.apps} apps after `zoo add` (new probe set), warm cache", t4, e4))
        after = entries(root / "cache-b")
        load1 = os.getloadavg()[0]

    def cache_line(err: str) -> str:
        line = next((ln for ln in err.splitlines() if ln.startswith("result cache")), "")
        return line.split(": ", 1)[-1] if line else "-"

    new = {k: after.get(k, 0) - mid.get(k, 0) for k in after}
    lines = [
        "# bench/scale/unique: scan time against unique models and app count",
        "",
        f"Command: `.venv/bin/python bench/scale/unique.py --unique {args.unique} "
        f"--apps {args.apps} --pairs {args.pairs} --steps {args.steps} --refs {args.refs}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, nice {os.nice(0)}); "
        f"2-core machine shared with other jobs (theirs at nice 15/19), 1-min load average "
        f"{load0:.1f} at the start, {load1:.1f} at the end. Each row is one `modelhound scan "
        "--jobs 1` command, wall time with start-up. Models: K copies of MediaPipe "
        "face_detection_short_range, hand_recrop and selfie_segmentation with all weights "
        "moved by seeded noise (each its own sha256); "
        f"zoo: {', '.join(refs)} ({args.pairs} pairs, {args.steps} PGD steps), "
        f"built in {t_zoo:.0f} s; `zoo add iris_landmark` took {t_add:.0f} s.",
        "",
        "| scan | seconds | result cache (this scan) |",
        "|---|---:|---|",
    ]
    lines += [f"| {name} | {t:.1f} | {cache_line(err)} |" for name, t, err in rows]
    lines += [
        "",
        f"- {args.apps} apps / {args.unique} apps: **{t2 / t1:.2f}x** (goal <= 2x)",
        f"- cold / warm rescan of {args.apps} apps (median of {len(warm)}): **{t2 / t3:.1f}x** "
        "(goal >= 20x)",
        f"- cache records before the warm rescan: {before}; written by the scan after `zoo add`: "
        f"{new} (goal: {args.unique} probe runs, {args.unique} evidence records and "
        f"{args.unique} finished analyses; no conversion, no weights)",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "results-unique.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
