"""bench/profile/ort_rewrites: a reference's profile pass in onnxruntime, with and without
the hard-swish rewrite.

Usage:  .venv/bin/python bench/profile/ort_rewrites.py --zoo ~/.cache/modelhound/zoo-default-v2 [NAME ...]

For each ONNX reference of a built default zoo whose graph has Paddle's spelt-out hard-swish
(``modelhound.converters.onnx_rewrites``), the pass a zoo build runs for it
(``profile_and_probes``: its stored probe set's x, x' and behaviour probes, batches of 100,
one onnxruntime thread) is timed with the graph as given and with the rewrite, alternating,
fastest of ``--rounds``; each model in a fresh process. Also printed: the cosine of the two
DDVs (what a verdict reads) and the largest difference of the behaviour probes' outputs,
relative to their largest magnitude. Writes bench/profile/results-ort-rewrites.md (newest run
first). Run by hand; tests never time anything.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

from tables import prepend_run, run_text  # noqa: E402 - next to this script


def candidates(zoo: Path) -> list[str]:
    """References whose ONNX form has at least one hard-swish site, by name."""
    from modelhound.converters.onnx_rewrites import hard_swish_for_onnxruntime

    names = []
    for ref in sorted((zoo / "refs").iterdir()):
        form = ref / "runnable.onnx"
        if form.exists() and (ref / "profile.json").exists():
            raw = form.read_bytes()
            if hard_swish_for_onnxruntime(raw) is not raw:
                names.append(ref.name)
    return names


def measure(zoo: Path, name: str, rounds: int) -> list[str]:
    """One reference in this (fresh) process."""
    import numpy as np

    from modelhound.converters import onnx_rewrites
    from modelhound.converters.runtimes import OnnxRunnable
    from modelhound.fingerprint.profile import load_pairs, profile_and_probes

    ref = zoo / "refs" / name
    raw = (ref / "runnable.onnx").read_bytes()
    pairs = load_pairs(zoo / "probes" / f"{json.loads((ref / 'profile.json').read_text())['pairs_id']}.npz")
    new = OnnxRunnable(raw)
    with mock.patch.object(onnx_rewrites, "hard_swish_for_onnxruntime", lambda m: m):
        old = OnnxRunnable(raw)
    assert new.rewritten and not old.rewritten
    best = {"old": float("inf"), "new": float("inf")}
    results = {}
    for _ in range(rounds):
        for label, runnable in (("old", old), ("new", new)):
            t = time.process_time()
            results[label] = profile_and_probes(runnable, pairs)
            best[label] = min(best[label], time.process_time() - t)
    (p_old, b_old), (p_new, b_new) = results["old"], results["new"]
    cos = float(np.dot(p_old.ddv, p_new.ddv) / (np.linalg.norm(p_old.ddv) * np.linalg.norm(p_new.ddv)))
    rows_old, rows_new = np.asarray(b_old.outputs), np.asarray(b_new.outputs)
    diff = float(np.abs(rows_new - rows_old).max() / max(float(np.abs(rows_old).max()), 1e-30))
    inputs = len(rows_old)
    return [str(inputs), f"{best['old']:.1f}", f"{best['new']:.1f}",
            f"{best['old'] / best['new']:.2f}x", f"{cos:.8f}", f"{diff:.1e}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", required=True, help="a built default zoo's folder")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a reference's name: a child run
    ap.add_argument("only", nargs="*")
    args = ap.parse_args()
    zoo = Path(args.zoo)
    if args.one:
        print(json.dumps(measure(zoo, args.one, args.rounds)))
        return
    rows = []
    for name in candidates(zoo):
        if args.only and not any(o in name for o in args.only):
            continue
        out = subprocess.run([sys.executable, __file__, "--zoo", args.zoo, "--rounds", str(args.rounds),
                              "--one", name], capture_output=True, text=True, check=True)
        rows.append([name, *json.loads(out.stdout.strip().splitlines()[-1])])
        print(rows[-1], flush=True)
    head = ("reference", "inputs run", "as given, CPU s", "rewritten, CPU s", "speed-up",
            "cosine of the two DDVs", "max behaviour-output diff (rel.)")
    total_old = sum(float(r[2]) for r in rows)
    total_new = sum(float(r[3]) for r in rows)
    text = run_text(
        "bench/profile/ort_rewrites: a reference's profile pass in onnxruntime, hard-swish as given and rewritten",
        f"python bench/profile/ort_rewrites.py --zoo {args.zoo} --rounds {args.rounds}"
        f"{''.join(' ' + o for o in args.only)}",
        ": `profile_and_probes` on the reference's stored probe set, one onnxruntime thread, "
        f"fastest of {args.rounds} alternating runs, CPU seconds.", head, rows,
        extra=[["all", "", f"{total_old:.1f}", f"{total_new:.1f}",
                f"{(total_old / total_new if total_new else 0):.2f}x", "", ""]])
    print(text)
    prepend_run(HERE / "results-ort-rewrites.md", text)


if __name__ == "__main__":
    main()
