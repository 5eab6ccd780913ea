"""bench/profile: what generating a ModelDiff probe set costs next to the bare batched
forward+backward passes it needs, per MediaPipe fixture, measured in the same run.

Usage:  .venv/bin/python bench/profile/run.py [--pairs 100] [--steps 50] [--only NAME ...]
        [--append]

For each fixture in ../shared/fixtures/models/tflite/mediapipe-0.10.14 and -0.10.21 the
model is converted (not timed), then:

* **generate**: ``generate_pairs`` with PGD at the given settings (eps 0.06, step 0.01),
  the whole call: onnx2torch load, the batch check, the clean pass, the steps, the
  conversion back to canonical space;
* **bare**: the same torch module (loaded once, not timed), ``steps`` batched
  forward+backward passes over the same samples in the same chunks, with a plain sum
  loss and nothing else, on the same single torch thread.

Both are timed as this process's CPU time (the attack runs one torch thread, so that is
what it costs, whatever else the shared machine runs) and as wall time.

Writes bench/profile/results.md (``--append`` adds this run below the earlier ones).
Run by hand, niced; tests never time anything.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIX = REPO.parent / "shared" / "fixtures" / "models" / "tflite"
sys.path.insert(0, str(REPO))
FOLDERS = ("mediapipe-0.10.14", "mediapipe-0.10.21")


def found(path: Path):  # type: ignore[no-untyped-def]
    """The model in a bare model file, as a scan finds it."""
    from modelhound.extractor import extract

    return extract(str(path)).models[0]


def bare(module, x_float, steps: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """``steps`` batched forward+backward passes, chunked as the attack chunks them."""
    import torch

    from modelhound.fingerprint.gradient import _chunk, _flat

    x = torch.from_numpy(x_float)
    n = int(x.shape[0])
    step = _chunk(tuple(x.shape))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            for i in range(0, n, step):
                d = torch.zeros_like(x[i : i + step]).requires_grad_(True)
                out = _flat(module(x[i : i + step] + d), min(step, n - i))
                torch.autograd.grad(out.sum(), d)
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        torch.set_num_threads(previous)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--only", nargs="*", default=[], help="fixtures whose name contains one of these")
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()

    from modelhound.converters import ConverterPool, load_runnable
    from modelhound.fingerprint.generate import generate_pairs
    from modelhound.fingerprint.gradient import batch_mode, load_differentiable
    from modelhound.fingerprint.inputs import InputAdapter
    from modelhound.fingerprint.interface import Generator, PgdConfig
    from modelhound.fingerprint.seeds import synthetic_image_seeds

    paths = [p for f in FOLDERS for p in sorted((FIX / f).glob("*.tflite"))]
    if args.only:
        paths = [p for p in paths if any(o in p.name for o in args.only)]
    pgd = PgdConfig(steps=args.steps)
    rows = []
    from modelhound.fingerprint.gradient import _stub_torchvision

    _stub_torchvision()
    import onnx2torch  # noqa: F401 - one-off imports are not a model's cost

    with ConverterPool(1) as pool:
        for path in paths:
            label = f"{path.parent.name.split('-')[1]}/{path.stem}"
            conv = pool.convert(found(path))
            if not conv.runnable or conv.onnx is None:
                rows.append((label, "-", "-", "-", "-", "-", "-", f"not runnable: {conv.reason[:60]}"))
                print(rows[-1], flush=True)
                write(args, pgd, rows)
                continue
            runnable = load_runnable(conv, threads=1)
            spec = runnable.inputs[0]
            _, h, w, c = InputAdapter(spec).geometry
            seeds = synthetic_image_seeds(args.pairs, h, w, c, seed=0)
            load = os.getloadavg()[0]
            try:
                t0, c0 = time.perf_counter(), time.process_time()
                generate_pairs(runnable, seeds, onnx_model=conv.onnx, method=Generator.PGD, pgd=pgd)
                t_gen, c_gen = time.perf_counter() - t0, time.process_time() - c0
            except Exception as exc:  # noqa: BLE001 - reported in the table
                rows.append((label, f"{h}x{w}", "-", "-", "-", "-", "-", f"{type(exc).__name__}: {str(exc)[:60]}"))
                print(rows[-1], flush=True)
                write(args, pgd, rows)
                continue
            module = load_differentiable(conv.onnx)
            x_float = InputAdapter(spec).to_float(seeds.data)
            import torch

            batched = batch_mode(module, torch.from_numpy(x_float))
            t_bare, c_bare = bare(module, x_float, args.steps)
            load = (load + os.getloadavg()[0]) / 2
            rows.append((label, f"{h}x{w}", "batched" if batched else "per-sample",
                         f"{c_gen:.1f}", f"{c_bare:.1f}", f"{c_gen / c_bare:.2f}x",
                         f"{t_gen:.1f} / {t_bare:.1f}", f"{load:.1f}"))
            print(rows[-1], flush=True)
            write(args, pgd, rows)

    write(args, pgd, rows, final=True)


def write(args, pgd, rows, final: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Write the table so far (after every model: a long run killed midway keeps its rows)."""
    head = ("model", "input", "PGD ran", "generate CPU s", "bare fwd+bwd CPU s", "ratio (CPU)",
            "wall s (generate / bare)", "load")
    lines = [
        f"## {STARTED}: {args.pairs} pairs, "
        f"{args.steps} PGD steps of {pgd.step_size}, eps {pgd.eps}, 1 torch thread"
        + ("" if final else " (in progress)"),
        "",
        f"`nice -n 10 .venv/bin/python bench/profile/run.py --pairs {args.pairs} --steps {args.steps}"
        + (f" --only {' '.join(args.only)}" if args.only else "") + "`; load = 1-min load average "
        "of the 2-core machine (shared with other jobs), mean of before and after the model. "
        "CPU = this process's CPU time (one torch thread), which other jobs on the machine do "
        "not inflate; wall time is given too.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    if final:
        print(text)
    out = HERE / "results.md"
    title = ("# bench/profile: probe-set generation vs the bare batched forward+backward passes\n\n"
             "Goal (issue 12): generate <= 1.5x bare, per fixture, same module, same run.\n\n")
    global EARLIER
    if EARLIER is None:
        EARLIER = out.read_text() if args.append and out.exists() else title
    out.write_text(EARLIER + ("\n" if EARLIER != title else "") + text)


STARTED = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
EARLIER: str | None = None


if __name__ == "__main__":
    main()
