"""bench/extract: APKs per second, modelhound's extractor vs androguard's full APK() parse.

Usage:  .venv/bin/python bench/extract/run.py [APK_DIR] [--rounds N]
Writes bench/extract/results.md. Run by hand; tests never time anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent.parent.parent / "shared" / "fixtures" / "apks"


def _androguard(path: str) -> object:
    from androguard.core.apk import APK

    a = APK(path)
    # what a metadata + file-inventory pass asks of androguard
    a.get_package(), a.get_app_name(), a.get_files()
    return a


def _modelhound_full(path: str) -> object:
    from modelhound.extractor import extract

    return extract(path)


def _modelhound_sniff(path: str) -> object:
    """Zip directory + entry-head sniffing only (the part the issue's 3x goal names)."""
    from modelhound.extractor.app import _Walk
    from modelhound.extractor.archive import Budget, Limits, open_zip

    walk = _Walk(Budget(Limits()))
    archive = open_zip(path, "", walk.budget)
    try:
        for m in archive.members:
            if m.name != "AndroidManifest.xml":
                walk.visit(m, 0)
    finally:
        archive.closer()
    return walk


def _time(fn, paths: list[str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for p in paths:
            fn(p)
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("apk_dir", nargs="?", default=str(DEFAULT))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from loguru import logger

    logger.disable("androguard")
    paths = sorted(str(p) for p in Path(args.apk_dir).rglob("*.apk"))
    paths = [p for p in paths if "multidex" not in p]  # androguard's APK() raises on it
    total_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    for fn in (_androguard, _modelhound_full, _modelhound_sniff):  # warm imports and caches
        fn(paths[0])
    rows = []
    for name, fn in (("androguard APK() + package, label, files", _androguard),
                     ("modelhound extract (sniff + metadata + describe)", _modelhound_full),
                     ("modelhound zip directory + head sniffing", _modelhound_sniff)):
        times = _time(fn, paths, args.rounds)
        med = statistics.median(times)
        rows.append((name, med, len(paths) / med, total_mb / med))
    base = rows[0][1]
    lines = [
        "# bench/extract",
        "",
        f"Command: `.venv/bin/python bench/extract/run.py --rounds {args.rounds}`  ",
        f"Inputs: {len(paths)} APKs, {total_mb:.1f} MB ({args.apk_dir}, androguard-multidex.apk "
        "left out: androguard's APK() cannot open it)  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"median of {args.rounds} rounds, one process.",
        "",
        "| pass | seconds | APKs/s | MB/s | speed-up vs androguard |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, med, aps, mbs in rows:
        lines.append(f"| {name} | {med:.3f} | {aps:.1f} | {mbs:.1f} | {base / med:.1f}x |")
    text = "\n".join(lines) + "\n"
    (HERE / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
