"""Rebuild the reuse benchmark end to end and write bench/reuse/results.md.

    nice -n 10 .venv/bin/python bench/reuse/run.py

Trains/exports the zoo (cached in bench/reuse/.cache/models), generates the pairs of the
three settings (PGD, PGD with pixel-matched eps, black-box score search; cached under
.cache/profiles*/pairs), profiles every model the protocols need (cached DDVs), computes the
metrics and the timings, and writes results.md. Training and pair generation run in
BENCH_JOBS (default 2) worker processes. Seeded throughout; delete .cache to rebuild.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402

import zoo  # noqa: E402
from evaluate import Bench, Metrics, Outcome, metrics, tpr_at_fpr  # noqa: E402

CACHE = HERE / ".cache"
COMMAND = "nice -n 10 .venv/bin/python bench/reuse/run.py"

GROUP_ORDER = [
    "transfer", "quantize(dynamic)", "quantize(float16)", "quantize(int8)",
    "prune(0.2)", "prune(0.5)", "prune(0.8)", "distill",
    "steal-probs-same-arch", "steal-probs-other-arch",
    "steal-labels-same-arch", "steal-labels-other-arch",
    "steal-labels-knockoff-same-arch", "steal-labels-knockoff-other-arch",
]

ANCHORS = {
    "transfer": "12/12",
    "quantize(dynamic)": "12/12 (qint8, Linear only)",
    "quantize(float16)": "12/12",
    "prune(0.2)": "12/12", "prune(0.5)": "12/12", "prune(0.8)": "12/12",
    "distill": "12/12",
    "steal-probs-same-arch": "0/12 (soft labels)",
    "steal-probs-other-arch": "0/12 (soft labels)",
}
QURD = {"quantize": "1.000", "prune": "0.963", "distill": "0.900", "steal-labels": "0.299"}


def _row(name: str, m: Metrics) -> str:
    return (
        f"| {name} | {m.n} | {m.correct}/{m.n} = {100 * m.correct / m.n:.1f} % | {m.auc:.3f} | "
        f"{100 * m.tpr1:.1f} % | {m.mean_parent:.3f} | {m.mean_max_ref:.3f} |"
    )


def table(outcomes: list[Outcome]) -> list[str]:
    """Markdown table of metrics per reuse method and overall."""
    lines = [
        "| reuse method | n | correctness | ROC AUC | TPR @ 1 % FPR | mean sim to parent | mean max ref sim |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in GROUP_ORDER:
        sub = [o for o in outcomes if o.group == g]
        if sub:
            lines.append(_row(g, metrics(sub)))
    lines.append(_row("**all**", metrics(outcomes)))
    paper = [
        o for o in outcomes
        if o.group not in ("quantize(float16)", "steal-probs-same-arch", "steal-labels-same-arch")
    ]
    lines.append(_row("paper's evaluated subset (no float16, no same-arch steal)", metrics(paper)))
    weight = [o for o in outcomes if not o.group.startswith("steal")]
    lines.append(_row("weight-inheriting reuse only (no stealing)", metrics(weight)))
    return lines


def timing(bench: Bench) -> list[str]:
    """Pair generation and comparison cost, on a bench model and on a real app model."""
    from modelhound.converters.runtimes import LiteRTRunnable
    from modelhound.fingerprint.compare import compare_with_profile
    from modelhound.fingerprint.generate import generate_pairs
    from modelhound.fingerprint.gradient import load_differentiable, pgd_perturb
    from modelhound.fingerprint.inputs import InputAdapter, tflite_input_normalization
    from modelhound.fingerprint.interface import Generator, PgdConfig, SearchConfig
    from modelhound.fingerprint.profile import profile_runnable
    from modelhound.fingerprint.seeds import image_seeds

    from data import seed_images  # type: ignore[import-not-found]

    lines = []
    name = "pretrain(cnn,mnist)"
    b = bench.built[name]
    onnx = b.onnx.read_bytes()
    r = bench.runnables[name]
    seeds = image_seeds(seed_images("mnist"), "mnist")
    t0 = time.perf_counter()
    module = load_differentiable(onnx)
    t1 = time.perf_counter()
    pgd_perturb(module, InputAdapter(r.inputs[0]).to_float(seeds.data), PgdConfig())
    t2 = time.perf_counter()
    generate_pairs(r, seeds, method=Generator.SCORE_SEARCH, search=SearchConfig(iterations=1000))
    t3 = time.perf_counter()
    lines.append(
        f"- Pair generation on `{name}` (28x28x1, 100 pairs), CPU, 1 process: onnx2torch "
        f"conversion {t1 - t0:.2f} s, PGD 50 steps {t2 - t1:.2f} s; black-box score search "
        f"(1,000 iterations, LiteRT) {t3 - t2:.2f} s."
    )
    if bench.pgd_seconds:
        s = np.array(bench.pgd_seconds)
        lines.append(
            f"- Over the {len(s)} zoo models whose pairs this run generated: median "
            f"{np.median(s):.2f} s, max {s.max():.2f} s per model (conversion + PGD)."
        )

    def compare_cost(runnable: object, pairs: object, label: str, reps: int) -> str:
        ref = profile_runnable(runnable, pairs, subject="ref")  # type: ignore[arg-type]
        adapter = InputAdapter(runnable.inputs[0])  # type: ignore[attr-defined]
        xm, xam = adapter.to_model(pairs.x), adapter.to_model(pairs.x_adv)  # type: ignore[attr-defined]
        # Measured in alternating blocks (LiteRT re-allocates whenever the batch size
        # changes; a scan keeps it at 100), on shared cores: the minimum is the least noisy.
        bare, full = [], []
        runnable.run([xm]); runnable.run([xam])  # type: ignore[attr-defined]  # noqa: E702
        compare_with_profile(runnable, pairs, ref)  # type: ignore[arg-type]
        for _ in range(5):
            for _ in range(reps):
                t = time.perf_counter()
                runnable.run([xm]); runnable.run([xam])  # type: ignore[attr-defined]  # noqa: E702
                bare.append(time.perf_counter() - t)
            for _ in range(reps):
                t = time.perf_counter()
                compare_with_profile(runnable, pairs, ref)  # type: ignore[arg-type]
                full.append(time.perf_counter() - t)
        mb, mf = float(np.median(bare)), float(np.median(full))
        nb, nf = float(np.min(bare)), float(np.min(full))
        return (
            f"- Compare one model against stored pairs + DDV, {label}: {1000 * mf:.1f} ms vs "
            f"{1000 * mb:.1f} ms for the two bare forward passes = **{mf / mb:.2f}x** (medians "
            f"of {5 * reps}); minima {1000 * nf:.1f} vs {1000 * nb:.1f} ms = {nf / nb:.2f}x."
        )

    lines.append(compare_cost(r, bench.pairs(name), f"`{name}` (LiteRT, 2 x 100 x 28x28x1)", 40))
    app = HERE.parents[2] / "shared" / "fixtures" / "models" / "tflite" / "mediapipe-0.10.14" / "palm_detection_lite.tflite"
    if app.exists():
        raw = app.read_bytes()
        ar = LiteRTRunnable(raw, threads=1)
        norm = tflite_input_normalization(raw)
        from modelhound.fingerprint.seeds import synthetic_image_seeds

        seeds_app = synthetic_image_seeds(100, 192, 192, 3)
        pairs_app = generate_pairs(
            ar, seeds_app, normalization=norm[0] if norm else None,
            method=Generator.SCORE_SEARCH, search=SearchConfig(iterations=3),
        )
        lines.append(compare_cost(ar, pairs_app, "MediaPipe `palm_detection_lite.tflite` (LiteRT, 2 x 100 x 192x192x3)", 1))
    return lines


def _parallel(commands: list[list[str]]) -> None:
    """Run Python scripts side by side (niced, like the caller) and wait for all of them."""
    procs = [subprocess.Popen([sys.executable, *c]) for c in commands]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"a worker failed: {list(zip(commands, codes))}")


def main() -> None:
    """Build, evaluate, time, write results.md."""
    t_start = time.time()
    log = lambda m: print(m, flush=True)  # noqa: E731
    specs = zoo.zoo_specs()
    jobs = int(os.environ.get("BENCH_JOBS", "2"))
    if jobs > 1:  # one build process per root lineage (the rest in the last one)
        _parallel([[str(HERE / "build.py"), "pretrain(cnn"], [str(HERE / "build.py"), "pretrain(dwnet", "train("]])
    built = zoo.build_zoo(specs, CACHE / "models", zoo.Recipe(), log=log)
    t_built = time.time()
    if jobs > 1:
        for setting in ("pgd", "pgd-pixel-matched", "score-search"):
            _parallel([[str(HERE / "pairs.py"), setting, str(i), str(jobs)] for i in range(jobs)])
    bench = Bench(built, CACHE / "profiles", log=log)
    children = [s.name for s in specs if s.root.startswith("pretrain") and s.method != "pretrain"]
    results = {p: bench.evaluate(children, p) for p in ("suspect", "reference")}
    # Ablation: the reference's eps 0.06 is set in ImageNet-normalised units (std ~0.226),
    # i.e. ~3.5/255 of a pixel; in our [0, 1] input space the same number is 15/255.
    from pairs import bench_for  # type: ignore[import-not-found]

    ablation = bench_for("pgd-pixel-matched", built).evaluate(children, "reference")
    # The black-box variant: the paper's score search (1,000 iterations), pairs on the reference.
    blackbox = bench_for("score-search", built).evaluate(children, "reference")
    t_eval = time.time()
    timings = timing(bench)

    ref = results["reference"]
    neg_all = np.concatenate([np.array(o.ref_sims) for o in ref])
    pos_all = np.array([o.parent_sim for o in ref])
    tpr, thr = tpr_at_fpr(pos_all, neg_all, 0.01)
    indep = [
        n for n, b in built.items() if b.spec.method == "train"
    ]
    indep_fp = sum(
        1 for o in ref for s, r in zip(o.ref_sims, o.ref_names) if r in indep and s >= thr
    )
    indep_n = sum(1 for o in ref for r in o.ref_names if r in indep)

    accs = {}
    for s in specs:
        accs.setdefault(s.method if s.method != "quantize" else f"quantize({s.param('kind')})", []).append(built[s.name].accuracy)

    out = [
        "# ModelDiff on the reuse benchmark (bench/reuse)",
        "",
        f"Produced by `{COMMAND}` (from the repository root; everything cached under "
        "`bench/reuse/.cache/`, delete it to rebuild). "
        f"Machine: {platform.processor() or platform.machine()}, 2 shared CPU cores. This run: "
        f"zoo {t_built - t_start:.0f} s (cached models are reused), evaluation {t_eval - t_built:.0f} s.",
        "",
        "## Zoo",
        "",
        f"{len(specs)} models, all shipped and run as TFLite under LiteRT "
        f"({sum(1 for s in specs if s.quantized)} quantized by the TFLite converter). "
        "2 architectures (`cnn`: LeNet-like conv/pool/dense; `dwnet`: MobileNet-like depthwise-separable), "
        "roots trained from scratch on MNIST (4,000 of the 5,000 digits); transfer to sklearn digits "
        "(8x8 upscaled into 28x28) and to MNIST parity (a different label task), fine-tuning the last "
        "10 / 50 / 100 % of the weight layers; every transfer model is then quantized (dynamic-range "
        "int8, float16, full int8), pruned (0.2 / 0.5 / 0.8, then fine-tuned with zeros kept), "
        "distilled (same architecture, feature matching) and stolen (probabilities or labels only, "
        "same or other architecture, on the teacher's training inputs). Independent lineages: "
        "6 models trained from scratch (both architectures on MNIST with another seed, on digits, "
        "on parity), each with a prune(0.5), distill and steal(probs) child. Recipes: "
        "`bench/reuse/zoo.py`.",
        "",
        "Mean test accuracy per method: "
        + ", ".join(f"{k} {100 * np.mean(v):.1f} %" for k, v in accs.items()) + ".",
        "",
        f"Evaluated: the {len(children)} children of the two pretrained roots; "
        f"{len(ref[0].ref_names)} references each (every non-quantized model outside the child's "
        "lineage), as in the reference `evaluate.ipynb`.",
        "",
        "## Pairs generated on the suspect (the reference code's protocol)",
        "",
        *table(results["suspect"]),
        "",
        "## Pairs generated once per reference and reused (what a scanner does)",
        "",
        *table(ref),
        "",
        "## Ablation: eps matched to the reference's pixel scale (pairs on the reference)",
        "",
        "The reference's eps 0.06 / step 0.01 are in ImageNet-normalised units (about 3.5/255 "
        "and 0.6/255 of a pixel); in the [0, 1] input space of these models the same numbers "
        "are 15/255 and 2.6/255. This run scales both by 0.226 (the ImageNet std).",
        "",
        *table(ablation),
        "",
        "## Black-box pairs: the paper's score search (pairs on the reference)",
        "",
        "For models that cannot be differentiated: 1,000 iterations of random single-coordinate "
        "mutations (eps 0.2, clipped to the seed range) maximising divergence + 0.5 * diversity "
        "of the softmax outputs, run through LiteRT only.",
        "",
        *table(blackbox),
        "",
        "## Anchors (published)",
        "",
        "| source | overall | per method |",
        "|---|---|---|",
        "| ModelDiff paper (abstract) | 91.7 % correctness on 144 pairs | not available |",
        "| authors' stored runs, recomputed (84 models) | 85.7 % correctness | transfer, prune, qint8, float16, distill 12/12 each; steal 0/24 |",
        "| QuRD re-run (grodino/QuRD, ModelReuse, budget 100) | ROC AUC 0.785 | quantize 1.000, prune 0.963, distill 0.900, label-only steal 0.299 |",
        "",
        "## Verdict threshold",
        "",
        f"With pairs generated on the reference, the lowest threshold with at most 1 % false "
        f"positives over all {len(neg_all)} (child, unrelated model) comparisons is **{thr:.3f}**; "
        f"it detects {100 * tpr:.1f} % of the {len(pos_all)} direct-parent relations. Among "
        f"comparisons against the independently trained lineages, {indep_fp}/{indep_n} score at "
        "or above it.",
        "",
        "## Timing",
        "",
        *timings,
        "",
        "## Most similar unrelated model for the failures (reference protocol)",
        "",
    ]
    fails = [o for o in ref if not o.correct]
    for o in fails[:40]:
        out.append(f"- `{o.child}`: parent {o.parent_sim:.3f} < `{o.nearest_ref}` {max(o.ref_sims):.3f}")
    if len(fails) > 40:
        out.append(f"- ... and {len(fails) - 40} more")
    (HERE / "results.md").write_text("\n".join(out) + "\n")
    log("\n".join(out))


if __name__ == "__main__":
    main()
