"""bench/profile/chunks: CPU cost of a PGD forward+backward pass per sample, by chunk size.

Usage:  .venv/bin/python bench/profile/chunks.py --zoo ~/.cache/modelhound/zoo-default-v2 [NAME ...]

Each group generator of the default zoo (its stored ONNX form) is loaded as PGD loads it
(``load_differentiable``: batch freed, fused, channels-last) and runs 50 random samples
through forward+backward in chunks of 5, 10, 17, 25 and 50, on one torch thread; each
chunk size is run once to warm up, then twice, and the faster is kept; at chunks of 25 also
the minor page faults a pass; then, in another fresh process, chunks of 25 with freed
memory kept in the heap (``heap.keep_freed_memory``, as PGD runs). Each model runs in
fresh processes, since what a process allocated before decides how many pages fault. Also printed: the
largest activation and the sum of all activations of one sample (floats), which is what a
chunk keeps alive for its backward pass. Decides ``gradient.MAX_CHUNK_SAMPLES``.
Writes bench/profile/results-chunks.md. Run by hand; tests never time anything.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

from tables import prepend_run, run_text  # noqa: E402 - next to this script

MODELS = (
    ("ch_PP-OCRv3_rec_infer/runnable.onnx", (3, 48, 320)),
    ("hand_landmark_lite/model.onnx", (224, 224, 3)),
    ("face_landmark/model.onnx", (192, 192, 3)),
    ("selfie_segmentation_landscape/model.onnx", (144, 256, 3)),
    ("embedding_model/runnable.onnx", (76, 32, 1)),
    ("iris_landmark/model.onnx", (64, 64, 3)),
    ("face_detection_front/model.onnx", (128, 128, 3)),
    ("hand_recrop/model.onnx", (256, 256, 3)),
    ("ch_ppocr_mobile_v2.0_cls_infer/runnable.onnx", (3, 48, 192)),
)
CHUNKS = (5, 10, 17, 25, 50)
HEAP_CHUNK = 25
N = 50


def measure(path: Path, shape: tuple[int, ...], kept: bool) -> list[str]:
    """One model in this (fresh) process: activations, then ms per sample and page faults
    per pass by chunk size (with ``kept``: freed memory kept in the heap, chunk 25 only)."""
    import torch

    from modelhound.fingerprint.gradient import _flat, load_differentiable
    from modelhound.fingerprint.heap import keep_freed_memory

    torch.set_num_threads(1)
    if kept and not keep_freed_memory():
        return ["-", "-"]
    module = load_differentiable(path.read_bytes())
    sizes: list[int] = []

    def hook(_m, _i, o):  # type: ignore[no-untyped-def]
        sizes.append(sum(t.numel() for t in (o if isinstance(o, (list, tuple)) else [o])
                         if torch.is_tensor(t)))

    hooks = [m.register_forward_hook(hook) for name, m in module.named_modules() if name]
    with torch.no_grad():
        module(torch.rand((1, *shape)))
    for h in hooks:
        h.remove()
    x = torch.rand((N, *shape), generator=torch.Generator().manual_seed(0))

    def passes(c: int) -> None:
        for i in range(0, N, c):
            d = torch.zeros_like(x[i : i + c]).requires_grad_(True)
            torch.autograd.grad(_flat(module(x[i : i + c] + d), min(c, N - i)).sum(), d)

    cells = [] if kept else [f"{max(sizes):,}", f"{sum(sizes):,}"]
    for c in ((HEAP_CHUNK,) if kept else CHUNKS):
        passes(c)
        best, f0 = float("inf"), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(2):
            t = time.process_time()
            passes(c)
            best = min(best, (time.process_time() - t) / N * 1000)
        cells.append(f"{best:.1f}")
        if c == HEAP_CHUNK:
            cells.append(f"{(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) // 2:,}")
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", required=True, help="a built default zoo's folder")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # "<rel>|<shape>|<kept>": a child run
    ap.add_argument("only", nargs="*")
    args = ap.parse_args()
    if args.one:
        rel, shape, kept = args.one.split("|")
        print(json.dumps(measure(Path(args.zoo) / "refs" / rel,
                                 tuple(int(v) for v in shape.split(",")), kept == "1")))
        return
    rows = []
    for rel, shape in MODELS:
        if args.only and not any(o in rel for o in args.only):
            continue
        row = [rel.split("/")[0]]
        for kept in ("0", "1"):  # each in a fresh process: the heap's history decides faults
            out = subprocess.run(
                [sys.executable, __file__, "--zoo", args.zoo, "--one",
                 f"{rel}|{','.join(map(str, shape))}|{kept}"],
                capture_output=True, text=True, check=True)
            row += json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(rows[-1], flush=True)
    head = ("generator", "largest activation", "all activations",
            *(h for c in CHUNKS
              for h in ((f"chunk {c}", f"page faults a pass, chunk {c}") if c == HEAP_CHUNK
                        else (f"chunk {c}",))),
            f"chunk {HEAP_CHUNK}, freed memory kept", "page faults a pass, kept")
    text = run_text(
        "bench/profile/chunks: CPU ms per sample of a forward+backward pass, by chunk size",
        f"python bench/profile/chunks.py --zoo {args.zoo}{''.join(' ' + o for o in args.only)}",
        f", one torch thread, {N} random samples, best of 2 after a warm-up.", head, rows)
    print(text)
    prepend_run(HERE / "results-chunks.md", text)


if __name__ == "__main__":
    main()
