"""bench/convert/native.py: what a scan gains by running TFLite models natively in LiteRT
instead of building and checking their ONNX form, and what it would lose.

Usage:  nice .venv/bin/python bench/convert/native.py [--pairs 20]

Per TFLite fixture (../shared/fixtures/models/tflite), in this process, one after the other:
* ``convert``: ``convert_here`` (tf2onnx + the fidelity check against LiteRT), what a scan
  did for every TFLite model before, and still does with ``scan --convert``;
* ``native``: ``native_here`` (open in LiteRT and run seeded inputs once), a scan's default;
* the DDV of each form on the same ``--pairs`` synthetic ModelDiff pairs, and their
  ModelDiff similarity (1.0 = the verdicts cannot differ).
The TensorFlow / tf2onnx import (paid once per worker by ``convert`` only) is timed apart.
Writes bench/convert/results-native.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIX = Path(os.environ.get("MODELHOUND_FIXTURES", REPO.parent / "shared" / "fixtures")) / "models" / "tflite"
sys.path.insert(0, str(REPO))


def found(path: Path):  # type: ignore[no-untyped-def]
    """The model in a bare model file, as a scan finds it."""
    from modelhound.extractor import extract

    return extract(str(path)).models[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20)
    args = ap.parse_args()
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from modelhound.converters import load_runnable
    from modelhound.converters.registry import convert_here
    from modelhound.converters.tflite import native_here
    from modelhound.fingerprint.inputs import InputAdapter
    from modelhound.fingerprint.interface import Generator, PairSet
    from modelhound.fingerprint.modeldiff import ddv_similarity
    from modelhound.fingerprint.profile import profile_runnable
    from modelhound.fingerprint.seeds import synthetic_image_seeds

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    import tensorflow  # noqa: F401
    import tf2onnx  # noqa: F401

    t_import = time.perf_counter() - t0
    rows = []
    tot_conv = tot_nat = 0.0
    for path in sorted(FIX.rglob("*.tflite")):
        f = found(path)
        t0 = time.perf_counter()
        conv = convert_here(f)
        t_conv = time.perf_counter() - t0
        t0 = time.perf_counter()
        nat = native_here(f)
        t_nat = time.perf_counter() - t0
        tot_conv += t_conv
        tot_nat += t_nat
        sim = "-"
        if conv.runnable and nat.runnable and nat.runtime == "litert" and len(nat.inputs) == 1:
            adapter = InputAdapter(nat.inputs[0])
            if adapter.geometry is not None:
                _, h, w, c = adapter.geometry
                seeds = synthetic_image_seeds(2 * args.pairs, h, w, c, seed=1)
                pairs = PairSet("synthetic", seeds.data[: args.pairs], seeds.data[args.pairs :], True,
                                Generator.SCORE_SEARCH, "", "", "")
                try:
                    a = profile_runnable(load_runnable(conv), pairs).ddv
                    b = profile_runnable(load_runnable(nat), pairs).ddv
                    sim = f"{ddv_similarity(a, b):.6f}"
                except Exception as exc:  # noqa: BLE001 - shown in the table
                    sim = f"{type(exc).__name__}"
        rows.append((str(path.relative_to(FIX)), conv.runtime or "not runnable", f"{t_conv:.2f}",
                     nat.runtime or "not runnable", f"{t_nat:.3f}", sim))
        print(rows[-1], flush=True)
    load1 = os.getloadavg()[0]
    lines = [
        "# TFLite in a scan: native LiteRT vs building the ONNX form",
        "",
        f"Command: `nice -n 10 .venv/bin/python bench/convert/native.py --pairs {args.pairs}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); 2-core machine shared with other "
        f"jobs, 1-min load average {load0:.1f} at the start, {load1:.1f} at the end. In one process, "
        "wall times. ModelDiff similarity between the DDVs of the two forms on the same "
        f"{args.pairs} synthetic pairs (the verdict threshold is 0.98).",
        "",
        f"TensorFlow + tf2onnx import (once per conversion worker, `convert` only): {t_import:.1f} s. "
        f"Sum over the fixtures: convert {tot_conv:.1f} s, native {tot_nat:.1f} s.",
        "",
        "| model | convert: runtime | convert s | native: runtime | native s | DDV similarity |",
        "|---|---|---:|---|---:|---:|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "results-native.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
