"""bench/profile/depthwise_pads: PGD's forward+backward pass with and without symmetric pads.

Usage:  .venv/bin/python bench/profile/depthwise_pads.py --zoo ~/.cache/modelhound/zoo-default-v2 [NAME ...]

For each group generator of the default zoo (chunks.MODELS: its stored ONNX form), one fresh
process loads it twice as PGD loads it (``load_differentiable``): once as it is now, once with
``gradient_speed.symmetric_depthwise_pads`` switched off (onnx2torch's explicit pad before each
asymmetrically padded depthwise Conv). Both run the same 50 random samples through
forward+backward in chunks of 25 on one torch thread, freed memory kept in the heap as PGD
runs; after a warm-up each runs three times, alternating, and its fastest is kept. Also
printed: how many Convs the rewrite touched, the largest difference of outputs and input
gradients (relative to their largest magnitude) and the share of gradient signs that agree.
Writes bench/profile/results-depthwise.md (newest run first). Run by hand; tests never time.
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

from chunks import MODELS  # noqa: E402 - the generators, next to this script
from tables import prepend_run, run_text  # noqa: E402

N = 50
CHUNK = 25
ROUNDS = 3


def measure(path: Path, shape: tuple[int, ...]) -> list[str]:
    """One model in this (fresh) process: both forms, alternating."""
    import numpy as np
    import onnx
    import torch

    from modelhound.fingerprint import gradient_speed
    from modelhound.fingerprint.gradient import _flat, gradient_form, load_differentiable
    from modelhound.fingerprint.heap import keep_freed_memory

    torch.set_num_threads(1)
    keep_freed_memory()
    raw = path.read_bytes()
    new = load_differentiable(raw)
    rewrite = gradient_speed.symmetric_depthwise_pads
    with mock.patch.object(gradient_speed, "symmetric_depthwise_pads", lambda m: m):
        old = load_differentiable(raw)
    base = gradient_speed.fuse_hard_swish(gradient_speed.basic_optimized(gradient_form(raw)))
    touched = sum(a != b for a, b in zip(onnx.load_from_string(base).graph.node,
                                        onnx.load_from_string(rewrite(base)).graph.node))
    x = torch.rand((N, *shape), generator=torch.Generator().manual_seed(0))

    def passes(module: object, keep: bool = False) -> tuple[np.ndarray, np.ndarray]:
        ys, gs = [], []
        for i in range(0, N, CHUNK):
            d = torch.zeros_like(x[i : i + CHUNK]).requires_grad_(True)
            y = _flat(module(x[i : i + CHUNK] + d), min(CHUNK, N - i))  # type: ignore[operator]
            (g,) = torch.autograd.grad((y * torch.linspace(-1, 1, y.shape[1])).sum(), d)
            if keep:
                ys.append(y.detach().numpy())
                gs.append(g.numpy())
        return (np.concatenate(ys), np.concatenate(gs)) if keep else (np.empty(0), np.empty(0))

    (y_old, g_old), (y_new, g_new) = passes(old, True), passes(new, True)
    best = {"old": float("inf"), "new": float("inf")}
    for _ in range(ROUNDS):
        for label, module in (("old", old), ("new", new)):
            t = time.process_time()
            passes(module)
            best[label] = min(best[label], (time.process_time() - t) / N * 1000)
    dy = float(np.abs(y_new - y_old).max() / max(np.abs(y_old).max(), 1e-30))
    dg = float(np.abs(g_new - g_old).max() / max(np.abs(g_old).max(), 1e-30))
    signs = float((np.sign(g_new) == np.sign(g_old)).mean())
    return [str(touched), f"{best['old']:.1f}", f"{best['new']:.1f}",
            f"{best['old'] / best['new']:.2f}x", f"{dy:.1e}", f"{dg:.1e}", f"{signs:.6f}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", required=True, help="a built default zoo's folder")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # "<rel>|<shape>": a child run
    ap.add_argument("only", nargs="*")
    args = ap.parse_args()
    if args.one:
        rel, shape = args.one.split("|")
        print(json.dumps(measure(Path(args.zoo) / "refs" / rel,
                                 tuple(int(v) for v in shape.split(",")))))
        return
    rows = []
    for rel, shape in MODELS:
        if args.only and not any(o in rel for o in args.only):
            continue
        out = subprocess.run(
            [sys.executable, __file__, "--zoo", args.zoo, "--one", f"{rel}|{','.join(map(str, shape))}"],
            capture_output=True, text=True, check=True)
        rows.append([rel.split("/")[0], "x".join(map(str, shape)),
                     *json.loads(out.stdout.strip().splitlines()[-1])])
        print(rows[-1], flush=True)
    head = ("generator", "input", "Convs rewritten", "explicit pads ms/sample",
            "symmetric pads ms/sample", "speed-up", "max output diff (rel.)",
            "max gradient diff (rel.)", "gradient signs agreeing")
    text = run_text(
        "bench/profile/depthwise_pads: PGD's forward+backward with and without symmetric pads",
        f"python bench/profile/depthwise_pads.py --zoo {args.zoo}{''.join(' ' + o for o in args.only)}",
        f", one torch thread, {N} random samples in chunks of {CHUNK}, fastest of {ROUNDS} "
        "alternating runs after a warm-up, CPU ms per sample.", head, rows)
    print(text)
    prepend_run(HERE / "results-depthwise.md", text)


if __name__ == "__main__":
    main()
