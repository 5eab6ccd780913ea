"""Dataset inference (Maini et al., ICLR 2021), black-box blind walk, on the owner arm's
references: does it separate thieves from independents trained on the owner's data?

    python bench/reuse/owner_di.py [--only=REF ...] [--out=FILE.md]   (from the repository root; minutes)

For each reference, the owner's private samples are its training images and the public
samples the task's held-out test images (never trained on by any model of the zoo). Each
sample is embedded by the blind walk: for each of the l-inf, l2 and l1 norms, 10 random
directions (uniform +-0.005, Gaussian sd 0.005, Laplace b 0.01, as in the reference code,
times ``SCALE`` for 28x28 digits, as the authors doubled them for SVHN), walked x + k d
for k = 1..50 until the model's label differs from the true label; the feature is the norm
of k d (50 d when it never changes). A logistic regressor fitted on the *reference's* own
embeddings (first half of each set) scores every model's second half, and a one-sided Welch
t-test asks whether public samples score as more "public" than private ones: with all
samples (m = 50 per side), and as the authors report it, m = 10, harmonic mean of the
p-values of 100 random subsets. Flag at p < 0.01. The results go to results-owner-di.md (or --out).
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402

from data import load_task  # noqa: E402
from evaluate import group_of  # noqa: E402
from owner import built_models, derives, related  # noqa: E402
from owner_explore import REFS  # noqa: E402

SCALE = 4.0
STEPS = 50
DIRS = 10
M = 50  # private and public samples per half


def walk(run, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blind-walk embeddings (N x 30) of ``x`` for a label-only model ``run``."""
    n = len(x)
    feats = []
    for norm in ("linf", "l2", "l1"):
        shape = (DIRS, n) + x.shape[1:]
        if norm == "linf":
            d = rng.uniform(-0.005, 0.005, shape)
        elif norm == "l2":
            d = rng.normal(0, 0.005, shape)
        else:
            d = rng.laplace(0, 0.01, shape)
        d = (d * SCALE).astype(np.float32)
        flat = d.reshape(DIRS, n, -1)
        size = {"linf": np.abs(flat).max(-1), "l2": np.sqrt((flat ** 2).sum(-1)), "l1": np.abs(flat).sum(-1)}[norm]
        k_hit = np.full((DIRS, n), STEPS, np.float32)
        open_ = np.ones((DIRS, n), bool)
        for k in range(1, STEPS + 1):
            idx = np.argwhere(open_)
            if not len(idx):
                break
            pts = np.clip(x[idx[:, 1]] + k * d[idx[:, 0], idx[:, 1]], 0.0, 1.0)
            changed = run(pts) != y[idx[:, 1]]
            hit = idx[changed]
            k_hit[hit[:, 0], hit[:, 1]] = k
            open_[hit[:, 0], hit[:, 1]] = False
        feats.append(np.sort((k_hit * size).T, axis=1))
    return np.concatenate(feats, axis=1)


def _t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t (numeric integration of the density; no scipy here)."""
    grid = np.linspace(t, t + 60.0, 60001)
    logc = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    dens = np.exp(logc - (df + 1) / 2 * np.log1p(grid ** 2 / df))
    return float(min(1.0, max(0.0, np.trapezoid(dens, grid))))


def welch_greater(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided Welch t-test p-value for mean(a) > mean(b)."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return 0.5
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return _t_sf(t, df)


def fit_logistic(f: np.ndarray, lab: np.ndarray, steps: int = 3000, lr: float = 0.1) -> tuple[np.ndarray, float]:
    w, b = np.zeros(f.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(f @ w + b)))
        g = p - lab
        w -= lr * (f.T @ g / len(f) + 1e-3 * w)
        b -= lr * g.mean()
    return w, b


def main() -> None:
    from modelhound.converters.runtimes import LiteRTRunnable
    from modelhound.fingerprint.inputs import InputAdapter

    t0 = time.time()
    built = built_models()
    rows = []
    only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")]
    for r in REFS:
        if r not in built or (only and r not in only):
            continue
        spec = built[r].spec
        task = load_task(spec.task)
        rng = np.random.default_rng(7)
        pi = rng.choice(len(task.x_train), 2 * M, replace=False)
        qi = rng.choice(len(task.x_test), 2 * M, replace=False)
        xs = np.concatenate([task.x_train[pi], task.x_test[qi]]).astype(np.float32)
        ys = np.concatenate([task.y_train[pi], task.y_test[qi]])
        member = np.r_[np.zeros(2 * M), np.ones(2 * M)]  # 1 = public
        half = np.r_[np.zeros(M), np.ones(M), np.zeros(M), np.ones(M)].astype(bool)  # second half: test
        suspects = [n for n, b in built.items() if b.spec.task == spec.task and not b.spec.quantized
                    and (derives(n, r) and n.rsplit("-", 1)[0] == r or not related(n, r))]
        emb = {}
        for n in [r] + [s for s in suspects if s != r]:
            rn = LiteRTRunnable(built[n].tflite.read_bytes())
            a = InputAdapter(rn.inputs[0])

            def run(v: np.ndarray, rn=rn, a=a) -> np.ndarray:
                return np.concatenate([rn.run([a.to_model(v[i : i + 4000])])[0].argmax(1)
                                       for i in range(0, len(v), 4000)])

            emb[n] = walk(run, xs, ys, np.random.default_rng(11))
        ref_f = emb[r]
        mu, sd = ref_f[~half & (member == 0)].mean(0), ref_f[~half & (member == 0)].std(0) + 1e-6
        w, b = fit_logistic((ref_f[~half] - mu) / sd, member[~half])
        for n, f in emb.items():
            score = ((f - mu) / sd) @ w + b
            pub, priv = score[half & (member == 1)], score[half & (member == 0)]
            p_all = welch_greater(pub, priv)
            rs = np.random.default_rng(3)
            ps = [welch_greater(rs.choice(pub, 10, replace=False), rs.choice(priv, 10, replace=False)) for _ in range(100)]
            p10 = len(ps) / sum(1 / max(p, 1e-300) for p in ps)
            kind = "reference" if n == r else group_of(n) if derives(n, r) else "independent"
            rows.append((r, n, kind, float(pub.mean() - priv.mean()), p_all, p10))
            print(f"{r} | {n} | {kind} | {pub.mean() - priv.mean():.3f} | {p_all:.2g} | {p10:.2g}", flush=True)
    write(rows, time.time() - t0)


def write(rows: list, seconds: float) -> None:
    lines = ["# Dataset inference (blind walk) on the owner arm's references", "",
             f"Produced by `python bench/reuse/owner_di.py {' '.join(sys.argv[1:])}` in {seconds:.0f} s; load average at the end "
             f"{os.getloadavg()[0]:.1f} on 2 cores. Private = the reference's training images, public = the task's "
             f"held-out test images; {M} + {M} fit the regressor on the reference, {M} + {M} test every model. "
             "p: one-sided Welch t-test (all samples), p10: harmonic mean over 100 subsets of 10 + 10 (the "
             "authors' reporting). Flag: p < 0.01.", "",
             "| kind | pairs | flagged (p, all samples) | flagged (p10) | mean score gap |", "|---|---|---|---|---|"]
    kinds = sorted({t[2] for t in rows}, key=lambda k: (k != "reference", k == "independent", k))
    for k in kinds:
        sub = [t for t in rows if t[2] == k]
        lines.append(f"| {k} | {len(sub)} | {sum(t[4] < 0.01 for t in sub)} | {sum(t[5] < 0.01 for t in sub)} | "
                     f"{np.mean([t[3] for t in sub]):.3f} |")
    lines += ["", "| reference | model | kind | gap | p | p10 |", "|---|---|---|---|---|---|"]
    lines += [f"| {r} | {n} | {k} | {g:.3f} | {p:.2g} | {p10:.2g} |" for r, n, k, g, p, p10 in rows]
    out = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--out=")), "results-owner-di.md")
    (HERE / out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:12 + len(kinds)]))


if __name__ == "__main__":
    main()
