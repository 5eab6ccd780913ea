"""Owner-evidence arm of the reuse benchmark: conferrable probes built from the owner's data.

    nice -n 10 .venv/bin/python bench/reuse/owner.py            (from the repository root)
    nice -n 10 .venv/bin/python bench/reuse/owner.py --report   (rewrite the report from cache)

For every non-quantized model of the cached zoo (the references), the owner's data is that
model's training data (its task's training images and labels; a knockoff thief's own
images, unlabelled). :func:`modelhound.fingerprint.owner.build_owner_evidence` builds the
evidence exactly as ``modelhound zoo add --owner-data`` does: it trains its own independents
and surrogates (torch), picks conferrable probes, calibrates its null on its own held-out
independents. Nothing of the bench's evaluation children is used to build or calibrate.

Independents depend only on the owner's data, labels and seed, so references with the same
training data share them here (the product could cache them the same way).

Every model (quantized ones included) then runs on every reference's probes under LiteRT
(as shipped), and the report gives, next to the existing arms:

* the issue-6 protocol (120 children of the two pretrained roots, each against its parent
  and every non-quantized model outside its lineage) for the owner z-score and for the
  tiered combination "weights >= 0.5, else owner evidence";
* the product decision (``OwnerEvidence.score().flagged``) per reuse method, and the false
  positives among every pair of models where the suspect does not derive from the
  reference (independents trained on the reference's own data included).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402

import zoo  # noqa: E402
from data import load_task  # noqa: E402
from evaluate import group_of, roc_auc  # noqa: E402
from run import GROUP_ORDER  # noqa: E402

CACHE = HERE / ".cache"
BASE = "--base" in sys.argv
"""The product's ``--owner-base`` and ``--owner-queries``: the owner names the public model
the reference was fine-tuned from (here: the reference's MNIST-pretrained root, as ONNX),
and unlabelled public data of the domain a thief without the owner's data would query with
(digits references: the MNIST test images; parity references: the sklearn digits test
images; the knockoff thieves queried the *training* images of those data sets)."""
OUT = CACHE / ("owner-base" if BASE else "owner")
COMMAND = ".venv/bin/python bench/reuse/owner.py"


def built_models() -> dict[str, zoo.BuiltModel]:
    """Every model of the zoo that is already built (nothing is trained here)."""
    out = {}
    for spec in zoo.zoo_specs():
        base = CACHE / "models" / zoo._fn(spec.name)
        meta = base.with_suffix(".json")
        if meta.exists():
            m = json.loads(meta.read_text())
            onnx = base.with_suffix(".onnx")
            out[spec.name] = zoo.BuiltModel(spec, base.with_suffix(".tflite"), onnx if onnx.exists() else None,
                                            float(m["accuracy"]), float(m["seconds"]))
    return out


def public_queries(task: str) -> np.ndarray:
    """Public data of the task's domain that a knockoff thief would plausibly query with
    (disjoint from the knockoff thieves' own images: those are the training split)."""
    return load_task("mnist" if task == "digits" else "digits").x_test


def data_key(spec: zoo.ModelSpec) -> str:
    """Which training images a model saw (parity uses the MNIST images)."""
    if spec.method == "steal" and spec.param("knockoff"):
        return f"thief-images-of-{spec.task}"
    return "mnist-images" if spec.task in ("mnist", "parity") else spec.task


def owner_data(spec: zoo.ModelSpec) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(data key, x, y) the model was trained on: what its owner holds."""
    if spec.method == "steal" and spec.param("knockoff"):
        return data_key(spec), zoo.thief_images(spec.task), None
    t = load_task(spec.task)
    return f"{spec.task}", t.x_train, t.y_train


def derives(child: str, ref: str) -> bool:
    """Whether ``child`` is ``ref`` or one of its descendants (names encode the lineage)."""
    return child == ref or child.startswith(ref + "-")


def related(a: str, b: str) -> bool:
    """Same root lineage (they share the root's weights): not independent of each other."""
    return a.split("-")[0] == b.split("-")[0]


def main() -> None:
    if "--report" in sys.argv:
        data = json.loads((OUT / "scores.json").read_text())
        keep = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")]
        if keep:  # the same references as another run, for a like-for-like comparison
            data["scores"] = {s: {r: v for r, v in per.items() if r in keep} for s, per in data["scores"].items()}
            data["build_seconds"] = {r: v for r, v in data["build_seconds"].items() if r in keep}
        print(write_report(data))
        return
    from modelhound.converters.runtimes import LiteRTRunnable
    from modelhound.fingerprint.inputs import InputAdapter
    from owner_explore import dump_candidates

    from modelhound.fingerprint import owner_pools as op
    from modelhound.fingerprint.owner import OwnerEvidence, OwnerSettings, build_owner_evidence

    only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")]
    OUT.mkdir(parents=True, exist_ok=True)
    built = built_models()
    runn = {n: LiteRTRunnable(b.tflite.read_bytes()) for n, b in built.items()}

    def run(name: str, x: np.ndarray) -> np.ndarray:
        r = runn[name]
        a = InputAdapter(r.inputs[0])
        return np.concatenate([r.run([a.to_model(x[i : i + 2000])])[0] for i in range(0, len(x), 2000)]
                              ).astype(np.float32).reshape(len(x), -1)

    settings = OwnerSettings()
    # References with owner evidence: every model a distilled or stolen child derives from
    # (``--all-refs``: every non-quantized model; owner evidence costs minutes per reference).
    thief_parents = {b.spec.parent for b in built.values() if b.spec.method in ("distill", "steal")}
    refs = [n for n, b in built.items() if not b.spec.quantized and ("--all-refs" in sys.argv or n in thief_parents)]
    if only:
        refs = [n for n in refs if n in only]
    refs.sort(key=lambda n: owner_data(built[n].spec)[0])  # share independents per data set
    indep_cache: dict[tuple[str, int], object] = {}
    evidence: dict[str, OwnerEvidence] = {}
    build_s: dict[str, float] = {}
    for i, r in enumerate(refs):
        path = OUT / f"{zoo._fn(r)}.npz"
        if path.exists():
            with np.load(path) as z:
                evidence[r] = OwnerEvidence.from_npz(z, str(path))
            build_s[r] = float(evidence[r].meta.get("seconds", 0))
            continue
        key, x, y = owner_data(built[r].spec)
        k = int(run(r, x[:1]).shape[1])

        def cached(j: int, key: str = key, x: np.ndarray = x, y: np.ndarray | None = y, k: int = k) -> object:
            ck = (f"{key}:{k}:{'y' if y is not None else r}", j)
            if ck not in indep_cache:
                lab = y if y is not None else run(r, x).argmax(1)
                indep_cache[ck] = op.fit(op.small_net(j % 2, tuple(x.shape[1:]), k, True, 1000 + j), x, lab, False,
                                         1000 + j, steps=settings.min_steps, batch=settings.batch)
            return indep_cache[ck]

        t0 = time.time()
        base = queries = None
        reference = built[r].onnx.read_bytes() if built[r].onnx is not None else None
        if BASE:
            root = built[r].spec.root
            base = (CACHE / "models" / zoo._fn(root)).with_suffix(".onnx").read_bytes()
            queries = public_queries(built[r].spec.task)
        ev = build_owner_evidence(lambda q, r=r: run(r, q), x, y, is_image=True, settings=settings,
                                  independents=cached, base=base, queries=queries, reference=reference,
                                  inspect=lambda pools, found, r=r: dump_candidates(r, pools, found),
                                  log=lambda m: print("   ", m, flush=True))
        build_s[r] = time.time() - t0
        np.savez_compressed(path, **ev.to_npz())
        evidence[r] = ev
        print(f"[{i + 1}/{len(refs)}] {r}: {ev.summary()} ({build_s[r]:.0f} s)", flush=True)
    # AKH on the owner's data (no training): agreement with the reference on the training
    # samples it gets wrong.
    errors = {}
    for r in refs:
        key, x, y = owner_data(built[r].spec)
        if y is not None:
            t = run(r, x).argmax(1)
            errors[r] = (x[t != y], t[t != y])
    # Every model on every reference's probes.
    t0 = time.time()
    scores: dict[str, dict[str, list[float]]] = {}
    for s in built:
        scores[s] = {}
        for r in refs:
            ev = evidence[r]
            out = run(s, ev.probes)
            if out.shape[1] != ev.n_classes:
                continue
            sc = ev.score(out)
            zs = [(a - float(ev.null[:, g].mean())) / max(float(ev.null[:, g].std(ddof=1)), 0.03)
                  for g, (_n, a, _m, _p) in enumerate(sc.groups)]
            akh = float((run(s, errors[r][0]).argmax(1) == errors[r][1]).mean()) if r in errors else 0.0
            # per group: agreement, probes, highest calibration independent (for the margin sweep)
            per_group = [[a, int((ev.groups == g).sum()), m, name] for g, (name, a, m, _p) in enumerate(sc.groups)]
            scores[s][r] = [sc.agreement, sc.p_value, float(sc.flagged), max(zs), akh, per_group]
    t_score = time.time() - t0
    weights = _weights(built, refs) if "--no-weights" not in sys.argv else {}
    data = {"scores": scores, "weights": weights, "build_seconds": build_s, "score_seconds": t_score,
            "methods": {n: group_of(n) for n in built},
            "data_keys": {n: data_key(b.spec) for n, b in built.items()},
            "quantized": [n for n, b in built.items() if b.spec.quantized]}
    (OUT / "scores.json").write_text(json.dumps(data))
    print(write_report(data))


def _weights(built: dict[str, zoo.BuiltModel], refs: list[str]) -> dict[str, float]:
    """Weight strength (white-box, product rule) for the issue-6 protocol's pairs."""
    from modelhound.extractor.tensors import read_tensors
    from modelhound.fingerprint.detector import WEIGHT_KINDS
    from modelhound.fingerprint.weights import compare_weights
    from modelhound.records import ModelFormat

    tensors = {n: read_tensors(ModelFormat.TFLITE, "", b.tflite.read_bytes()) for n, b in built.items()}
    out = {}
    for c, r in protocol_pairs(built, refs):
        wm = compare_weights(tensors[c], tensors[r])
        out[f"{c}|{r}"] = wm.strength if wm.kind in WEIGHT_KINDS else 0.0
    return out


def protocol_pairs(built: dict[str, zoo.BuiltModel], refs: list[str]) -> list[tuple[str, str]]:
    """(child, candidate) pairs of the issue-6 protocol, restricted to references with evidence."""
    pairs = []
    for c, b in built.items():
        if not (b.spec.root.startswith("pretrain") and b.spec.parent):
            continue
        for r in refs:
            if r == b.spec.parent or built[r].spec.root != b.spec.root:
                pairs.append((c, r))
    return pairs


def write_report(data: dict) -> str:
    """Markdown report (also written to results-owner.md)."""
    scores, weights, methods = data["scores"], data["weights"], data["methods"]
    variant = (" --base --only=<reference> ...` (the product's `--owner-base`: 8 independents fine-tuned from the "
               "reference's MNIST-pretrained root, ONNX, join the 4 from-scratch ones and 4 of the reference's own "
               "architecture; `--owner-queries`: MNIST test images for digits references, sklearn digits test "
               "images for parity references)" if BASE else "`")
    lines = ["# Owner-evidence arm of the reuse benchmark (bench/reuse)", "",
             f"Produced by `{COMMAND} --no-weights{variant}. Build: {len(data['build_seconds'])} references with owner "
             f"evidence, median {np.median(list(data['build_seconds'].values())):.0f} s per reference "
             f"(shared independents counted once); scoring every model on every reference's probes "
             f"{data['score_seconds']:.0f} s. Load average when the report was written: "
             f"{os.getloadavg()[0]:.1f} on 2 cores (times are wall, run at low priority beside other jobs; session 5: each reference built by its own run at autogroup nice 19, load 7-17, then all scored from cache by one run).", ""]
    # Issue-6 protocol.
    rows = []
    for s, per in scores.items():
        parent = _parent(s, methods)
        if parent is None or not s.startswith("pretrain") or parent not in per:
            continue
        for r, (agree, p, flagged, z, akh, *_) in per.items():
            if r != parent and r.split("-")[0] == s.split("-")[0]:
                continue
            w = weights.get(f"{s}|{r}", 0.0)
            tier = 0.75 + 0.25 * w if w >= 0.5 else 0.5 * (1 / (1 + np.exp(-z / 3)))
            rows.append((s, r, r == parent, methods[s], z, tier, bool(flagged), w, akh))
    lines += ["## The issue-6 protocol with owner evidence", "",
              "Cells: correctness (parent above every unrelated reference) / ROC AUC. Score: the owner "
              "z-score ((agreement - null mean) / null sd), and the tiered combination (weights >= 0.5, "
              "else owner evidence).", "",
              "| reuse method | n | owner z (conferrable probes) | weights, else owner | AKH on the owner's data (reference's training errors) | flagged by owner evidence (parent) |",
              "|---|---|---|---|---|---|"]
    for g in GROUP_ORDER + ["all"]:
        sub = [r for r in rows if g == "all" or r[3] == g]
        if not sub:
            continue
        cells = []
        for k in (4, 5, 8):
            by: dict[str, tuple[list[float], list[float]]] = {}
            for r in sub:
                by.setdefault(r[0], ([], []))[0 if r[2] else 1].append(r[k])
            correct = sum(1 for p, n in by.values() if p and (not n or p[0] > max(n)))
            pos = [r[k] for r in sub if r[2]]
            neg = [r[k] for r in sub if not r[2]]
            cells.append(f"{100 * correct / len(by):.0f} % / {roc_auc(np.array(pos), np.array(neg)):.3f}")
        flagged = sum(r[6] for r in sub if r[2])
        lines.append(f"| {g} | {len({r[0] for r in sub})} | {cells[0]} | {cells[1]} | {cells[2]} | {flagged}/{sum(r[2] for r in sub)} |")
    lines += ["", "| pooled AUC | owner z | AKH on the owner's data |", "|---|---|---|"]
    for label, prefix in (("stealing from labels (knockoff included)", "steal-labels"),
                          ("stealing from labels, without knockoff", "steal-labels-same|steal-labels-other"),
                          ("stealing from probabilities", "steal-probs"), ("distillation", "distill"),
                          ("all", "")):
        sub = [r for r in rows if r[3].startswith(tuple(prefix.split("|")))]
        cells = [roc_auc(np.array([r[k] for r in sub if r[2]]), np.array([r[k] for r in sub if not r[2]]))
                 for k in (4, 8)]
        lines.append(f"| {label} | {cells[0]:.3f} | {cells[1]:.3f} |")
    # False positives of the product decision among all non-derived pairs.
    fp, n_neg, fp_same, n_same = [], 0, [], 0
    for s, per in scores.items():
        for r, (agree, p, flagged, z, akh, *_) in per.items():
            if derives(s, r) or related(s, r):
                continue
            n_neg += 1
            same_data = data["data_keys"][s] == data["data_keys"][r]
            n_same += same_data
            if flagged:
                fp.append((s, r, agree, p))
                if same_data:
                    fp_same.append((s, r))
    lines += ["", "## False positives of the owner-evidence decision", "",
              f"Pairs of independent models (suspect and reference in different root lineages): {n_neg:,} ({n_same:,} of them with "
              f"a suspect trained on the reference's own training images). Flagged: {len(fp)} "
              f"({len(fp_same)} of those on the same data).", ""]
    for s, r, a, p in sorted(fp, key=lambda t: t[3])[:20]:
        lines.append(f"- `{s}` flagged against `{r}`: agreement {a:.3f}, p {p:.2g}")
    lines += _margin_sweep(scores, data)
    text = "\n".join(lines) + "\n"
    (HERE / ("results-owner.md" if BASE
             else "results-owner-scratch.md")).write_text(text)
    return text


MARGINS = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)


def _margin_sweep(scores: dict, data: dict) -> list[str]:
    """Decision at other null margins (recomputed from agreement, probe count and the highest
    calibration independent): flagged parents per reuse method, false positives, inconclusive."""
    from modelhound.fingerprint.owner import FLAG_GROUPS, _binom_sf

    if not any(len(v) == 6 for per in scores.values() for v in per.values()):
        return []
    methods = data["methods"]
    lines = ["", "## The decision at other null margins", "",
             "Per probe group: p = binomial upper tail of the agreement count over the group's probes at "
             "(highest calibration independent + margin); flagged when the smallest p of the flagging groups "
             "(the product's FLAG_GROUPS: queries) times their number is < 0.001. Parents: distilled and stolen children against their parent. Inconclusive: "
             "not flagged, but closer to the reference than every calibration independent on some group.", "",
             "| margin | " + " | ".join(GROUP_ORDER[GROUP_ORDER.index("distill"):]) +
             " | parents flagged | false positives (same data) | independents inconclusive |",
             "|---|" + "---|" * (len(GROUP_ORDER) - GROUP_ORDER.index("distill") + 3)]
    for m in MARGINS:
        per_g: dict[str, list[int]] = {}
        fp = fp_same = inc = 0
        for s, per in scores.items():
            for r, v in per.items():
                groups = v[5]
                ps = [_binom_sf(int(round(a * n)), n, min(1.0, nmax + m)) for a, n, nmax, name in groups
                      if name in FLAG_GROUPS]
                flag = bool(ps) and len(ps) * min(ps) < 1e-3
                if _parent(s, methods) == r and methods[s] in GROUP_ORDER:
                    c = per_g.setdefault(methods[s], [0, 0])
                    c[0] += flag
                    c[1] += 1
                elif not derives(s, r) and not related(s, r):
                    fp += flag
                    fp_same += flag and data["data_keys"][s] == data["data_keys"][r]
                    inc += (not flag) and any(a > nmax for a, _n, nmax, _name in groups)
        cells = [f"{per_g[g][0]}/{per_g[g][1]}" if g in per_g else "-" for g in GROUP_ORDER[GROUP_ORDER.index("distill"):]]
        tot = [sum(c[0] for c in per_g.values()), sum(c[1] for c in per_g.values())]
        lines.append(f"| {m:.2f} | " + " | ".join(cells) + f" | {tot[0]}/{tot[1]} | {fp} ({fp_same}) | {inc} |")
    return lines


def _parent(name: str, methods: dict[str, str]) -> str | None:
    return name.rsplit("-", 1)[0] if "-" in name else None


if __name__ == "__main__":
    main()
