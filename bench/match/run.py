"""bench/match: the cost of matching one suspect against zoos of 1, 10 and 50 references,
next to the bare forward passes the comparison needs.

Usage:  .venv/bin/python bench/match/run.py [--pairs 50] [--rounds 3]
Builds its zoos under bench/match/.cache (MediaPipe models from ../shared/fixtures and
derived copies of them as extra references), then times Matcher work per suspect:
weights comparison, probe replay in the worker (the forward passes), and the total.
Writes bench/match/results.md. Run by hand; tests never time anything.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIX = REPO.parent / "shared" / "fixtures" / "models" / "tflite"
sys.path.insert(0, str(REPO))

BASE = ["mediapipe-0.10.14/hand_recrop.tflite", "mediapipe-0.10.14/palm_detection_lite.tflite",
        "mediapipe-0.10.14/selfie_segmentation.tflite", "mediapipe-0.10.14/iris_landmark.tflite",
        "mediapipe-0.10.14/face_landmark.tflite", "mediapipe-0.10.21/hand_landmark_lite.tflite",
        "mediapipe-0.10.21/palm_detection_full.tflite", "mediapipe-0.10.21/pose_landmark_full.tflite",
        "mediapipe-0.10.14/face_detection_short_range.tflite",
        "mediapipe-0.10.21/hand_landmark_full.tflite"]


def found(data: bytes, name: str):  # type: ignore[no-untyped-def]
    from modelhound.extractor.formats import HEAD_BYTES, describe, sniff
    from modelhound.records import FoundModel, ModelEntry, Status

    s = sniff(data[:HEAD_BYTES], name, len(data))
    e = ModelEntry(name, s.format, s.subformat, hashlib.sha256(data).hexdigest(), len(data),
                   Status.OK, info=describe(s, data))
    return FoundModel(e, data)


def references(n: int) -> list[tuple[str, bytes]]:
    """n reference models: the real ones first, then seeded derived copies of them."""
    from modelhound import variants

    real = [(Path(p).stem, (FIX / p).read_bytes()) for p in BASE]
    out = list(real[:n])
    i = 0
    while len(out) < n:
        name, data = real[i % len(real)]
        out.append((f"{name}-v{i}", variants.perturb_tflite(data, share=1.0, noise=2.0, seed=i)))
        i += 1
    return out


def build_zoo(n: int, pairs: int) -> Path:
    """The n-reference zoo: the 50-reference one is built once, smaller ones are copies of
    it with the extra references removed (their probe sets stay unused)."""
    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import ProfileSettings, add_reference, profile_pending
    from modelhound.corpus.zoo import ZOO_SCHEMA_VERSION, Zoo

    path = HERE / ".cache" / f"zoo-v{ZOO_SCHEMA_VERSION}-{n}-{pairs}"
    if (path / "COMPLETE").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    if n < 50:
        shutil.copytree(build_zoo(50, pairs), path)
        zoo = Zoo.open(path)
        keep = {name for name, _ in references(n)}
        for ref in zoo.references():
            if ref.name not in keep:
                zoo.remove(ref.name)
        zoo.close()
        return path
    zoo = Zoo.open(path, create=True)
    settings = ProfileSettings(n_pairs=pairs, pgd_steps=2, pgd_step_size=0.03)
    with ConverterPool(1) as pool:
        for name, data in references(n):
            add_reference(zoo, found(data, name + ".tflite"), pool=pool, name=name, settings=settings)
    profile_pending(zoo, settings=settings)
    zoo.close()
    (path / "COMPLETE").write_text("ok\n")
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from modelhound import variants
    from modelhound.converters import ConverterPool
    from modelhound.corpus.match import Matcher
    from modelhound.corpus.suspect import normalization_of, run_suspect
    from modelhound.corpus.zoo import Zoo
    from modelhound.extractor.tensors import read_tensors

    suspect = found(variants.prune_tflite((FIX / BASE[1]).read_bytes(), 0.3), "suspect.tflite")
    rows = []
    with ConverterPool(1) as pool:
        conv = pool.convert(suspect)
        for n in (1, 10, 50):
            zoo = Zoo.open(build_zoo(n, args.pairs))
            matcher = Matcher(zoo)
            probes = [(p, str(zoo.probe_file(p))) for p in matcher.probes_for(True)
                      if any(r.probe_id == p for r in matcher.refs)]
            tensors = read_tensors(suspect.entry.format, suspect.entry.subformat, suspect.data)
            run_suspect(matcher, suspect, conv, pool)  # warm: worker loads pairs and model
            fwd, ddv, wts, tot = [], [], [], []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                pool.call("modelhound.corpus.suspect:ddvs_here", conv, probes, normalization_of(suspect))
                fwd.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                sr = run_suspect(matcher, suspect, conv, pool)
                t1 = time.perf_counter()
                m = matcher.match(suspect.entry.sha256, tensors, sr.ddvs, sr.note, sr.outputs)
                t2 = time.perf_counter()
                ddv.append(t1 - t0)
                wts.append(t2 - t1)
                tot.append(t2 - t0)
            rows.append((n, len(probes), statistics.median(fwd), statistics.median(ddv),
                         statistics.median(wts), statistics.median(tot), m.reference, m.reuse_type))
            zoo.close()
    lines = [
        "# bench/match", "",
        f"Command: `.venv/bin/python bench/match/run.py --pairs {args.pairs} --rounds {args.rounds}`  ",
        "Suspect: palm_detection_lite with 30 % of its weights pruned (a TFLite file). References: "
        "real MediaPipe models from ../shared/fixtures, padded with derived copies (all weights moved "
        f"by noise) to reach the zoo size; {args.pairs} pairs per probe set; references with the same "
        "input share a probe set. Median of the rounds; the suspect runs in a converters worker. "
        f"Per probe set the suspect runs {4 * args.pairs} inputs: the {args.pairs} seeds and their "
        f"ModelDiff twins (the DDV) and {2 * args.pairs} CutMix images of the seeds (the behavioural "
        "agreement); 'bare forward passes' is that worker call alone, 'weights + verdict' includes "
        "the agreement scores against every reference.",
        "",
        "| references | probe sets | bare forward passes, s | probe replay incl. IPC, s | weights + verdict, s | total, s | total / bare | match |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, p, f, d, w, t, ref, rtype in rows:
        lines.append(f"| {n} | {p} | {f:.3f} | {d:.3f} | {w:.3f} | {t:.3f} | {t / f:.2f}x | {ref or 'none'} ({rtype or 'not reused'}) |")
    text = "\n".join(lines) + "\n"
    (HERE / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
