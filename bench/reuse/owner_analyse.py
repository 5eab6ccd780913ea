"""Analysis half of ``owner_explore.py``: selection rules and statistics on the dumped
candidates, scored with the issue's metrics (numpy only)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np

import zoo
from evaluate import group_of, roc_auc
from owner import derives, related

THIEF_GROUPS = ("distill", "steal-probs-same-arch", "steal-probs-other-arch", "steal-labels-same-arch",
                "steal-labels-other-arch", "steal-labels-knockoff-same-arch", "steal-labels-knockoff-other-arch")


def binom_sf(k: int, n: int, q: float) -> float:
    from modelhound.fingerprint.owner import _binom_sf

    return _binom_sf(k, n, q)


def load(out: Path, refs: tuple[str, ...]) -> dict[str, dict]:
    data = {}
    for r in refs:
        p, b = out / f"{zoo._fn(r)}.npz", out / f"{zoo._fn(r)}.bench.npz"
        if p.exists() and b.exists():
            z, zb = dict(np.load(p)), dict(np.load(b))
            data[r] = {"z": z, "meta": json.loads(str(z["meta"])), "names": [str(n) for n in zb["names"]], "bench": zb}
    return data


def evaluate(d: dict, groups: tuple[str, ...], n_probes: int, margin: float, sel_kinds: tuple[str, ...] | None = None,
             cal_kinds: tuple[str, ...] | None = None, pooled: bool = False, min_probes: int = 10,
             ) -> dict[str, tuple[float, float, list[float]]]:
    """Per bench model: (combined p, score, per-group agreements) against this reference.
    ``sel_kinds`` / ``cal_kinds``: which kinds of independents select / calibrate (None: all);
    ``pooled``: one agreement over every chosen probe (the session-4 statistic) instead of a
    test per group with Bonferroni."""
    z, meta = d["z"], d["meta"]
    cal_rows = np.array([cal_kinds is None or k in cal_kinds for k in meta["cal_kinds"]])
    picked = []
    for g in groups:
        if f"{g}_labels" not in z:
            continue
        ls = z[f"{g}_labels"]
        conf = (z[f"{g}_surr"] == ls).mean(0)
        row = 0
        for k, cnt in meta["sel_kinds"].items():
            if sel_kinds is None or k in sel_kinds:
                conf = conf * (1 - (z[f"{g}_sel"][row : row + cnt] == ls).mean(0))
            row += cnt
        order = np.lexsort((np.arange(len(ls)), -conf))[:n_probes]
        chosen = order[conf[order] > 0]
        if len(chosen) >= min_probes:
            picked.append((z[f"{g}_cal"][cal_rows][:, chosen] == ls[chosen], d["bench"][g][:, chosen] == ls[chosen]))
    if pooled and picked:
        picked = [(np.concatenate([c for c, _b in picked], 1), np.concatenate([b for _c, b in picked], 1))]
    res: dict[str, list] = {n: [] for n in d["names"]}
    for cal_hits, bench_hits in picked:
        n_probes_g = cal_hits.shape[1]
        cal = cal_hits.mean(1)
        rate = min(1.0, float(cal.max()) + margin)
        sd = max(float(cal.std(ddof=1)), 0.03)
        for n, a in zip(d["names"], bench_hits.mean(1)):
            p = binom_sf(int(round(a * n_probes_g)), n_probes_g, rate)
            res[n].append((p, (a - float(cal.mean())) / sd, a))
    out = {}
    for n, v in res.items():
        if v:
            out[n] = (min(1.0, len(v) * min(t[0] for t in v)), max(t[1] for t in v), [t[2] for t in v])
    return out


def metrics(data: dict[str, dict], per_ref: dict[str, dict], alpha: float = 1e-3) -> dict:
    """The issue's numbers for one variant over the references in ``per_ref``."""
    rows, fps, flags = [], [], {}
    for r, res in per_ref.items():
        for s, (p, score, _a) in res.items():
            flagged = p < alpha
            if derives(s, r) and s != r and s.rsplit("-", 1)[0] == r and group_of(s) in THIEF_GROUPS:
                flags.setdefault(group_of(s), []).append(flagged)
            if not derives(s, r) and not related(s, r):
                fps.append((flagged, s, r))
            parent = s.rsplit("-", 1)[0] if "-" in s else None
            if parent in per_ref and s.startswith("pretrain") and group_of(s) in THIEF_GROUPS:
                if r == parent or not related(s, r):
                    rows.append((s, r == parent, group_of(s), score, -math.log10(max(p, 1e-300))))
    out = {"flagged": sum(sum(v) for v in flags.values()), "n_pos": sum(len(v) for v in flags.values()),
           "fp": sum(f for f, _s, _r in fps), "n_neg": len(fps),
           "fp_pairs": [(s, r) for f, s, r in fps if f],
           "per_method": {g: f"{sum(v)}/{len(v)}" for g, v in flags.items()}}
    for label, pref in (("labels", ("steal-labels",)), ("probs", ("steal-probs",)), ("distill", ("distill",)),
                        ("all", ("",))):
        sub = [t for t in rows if t[2].startswith(pref)]
        for k, name in ((3, "z"), (4, "logp")):
            pos = np.array([t[k] for t in sub if t[1]])
            neg = np.array([t[k] for t in sub if not t[1]])
            out[f"auc_{label}_{name}"] = roc_auc(pos, neg) if len(pos) and len(neg) else float("nan")
    by: dict[str, tuple[list, list]] = {}
    for t in rows:
        by.setdefault(t[0], ([], []))[0 if t[1] else 1].append(t[4])
    out["correct"] = sum(1 for p, n in by.values() if p and (not n or p[0] > max(n))) / max(1, len(by))
    return out


def analyse(out: Path, refs: tuple[str, ...]) -> None:
    import contextlib
    import io
    import os
    import sys

    buf = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, t: str) -> int:
            buf.write(t)
            return sys.__stdout__.write(t)

    with contextlib.redirect_stdout(Tee()):
        _analyse(out, refs)
    head = ("# Owner evidence: selection rules, statistics and margins on the dumped candidates\n\n"
            "Produced by `python bench/reuse/owner_explore.py analyse` (after `owner.py --base` and "
            f"`owner_explore.py predict`); load average {os.getloadavg()[0]:.1f} on 2 cores. Variant: groups "
            "(e errors, q queries, a adversarial), probes per group, which independents select (all kinds, or "
            "without the reference's architecture) and calibrate, pooled = one agreement over every chosen "
            "probe (session 4's statistic) instead of one test per group with Bonferroni. AUC: issue-6 "
            "protocol (each child against its parent and the other lineage's reference of its task), from "
            "the z-score / from -log10 p. Held out: for each reference, the smallest margin with no false "
            "positive on the *other* references' pairs, measured on this reference's pairs.\n\n```\n")
    (Path(__file__).resolve().parent / "results-owner-analysis.md").write_text(head + buf.getvalue() + "```\n")


def _analyse(out: Path, refs: tuple[str, ...]) -> None:
    data = load(out, refs)
    print(f"references: {len(data)}")
    for r, d in data.items():
        m = d["meta"]
        print(f"  {r}: " + ", ".join(f"{g} {len(d['z'][g + '_labels'])}" for g in m["groups"])
              + f"; sel {m['sel_kinds']}, cal {len(m['cal_kinds'])}, surr {m['n_surrogates']}")
    all_groups = ("errors", "queries", "adversarial")
    variants = []
    for groups in (all_groups, ("errors", "queries"), ("adversarial",), ("errors",), ("queries",)):
        for n_probes in (50, 100, 200):
            for sk, ck in ((None, None), (("scratch", "base"), None), (("scratch", "base"), ("scratch", "base"))):
                for pooled in ((False, True) if len(groups) > 1 else (False,)):
                    variants.append((groups, n_probes, sk, ck, pooled))
    margins = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)
    print("\nvariant | margin | flagged | FP | AUC labels z/logp | probs | distill | all | correct")
    table = []
    for (groups, n_probes, sk, ck, pooled) in variants:
        name = (f"{'+'.join(g[0] for g in groups)} n{n_probes} sel:{'all' if sk is None else 'no-arch'} "
                f"cal:{'all' if ck is None else 'no-arch'}{' pooled' if pooled else ''}")
        per_margin = {}
        for margin in margins:
            per_ref = {r: evaluate(d, groups, n_probes, margin, sk, ck, pooled) for r, d in data.items()}
            per_margin[margin] = per_ref
            m = metrics(data, per_ref)
            table.append((name, margin, m))
            print(f"{name} | {margin:.2f} | {m['flagged']}/{m['n_pos']} | {m['fp']}/{m['n_neg']} | "
                  f"{m['auc_labels_z']:.3f}/{m['auc_labels_logp']:.3f} | {m['auc_probs_z']:.3f}/{m['auc_probs_logp']:.3f} | "
                  f"{m['auc_distill_z']:.3f}/{m['auc_distill_logp']:.3f} | {m['auc_all_z']:.3f}/{m['auc_all_logp']:.3f} | "
                  f"{100 * m['correct']:.0f} %", flush=True)
        # Held out: for each reference, the smallest margin with no false positive on the
        # *other* references' pairs, measured on this reference's pairs.
        folds = []
        for r in data:
            others = [o for o in data if o != r]
            if not others:
                continue
            chosen = next((mg for mg in margins
                           if metrics(data, {o: per_margin[mg][o] for o in others})["fp"] == 0), None)
            if chosen is None:
                folds.append((r, None, None))
                continue
            folds.append((r, chosen, metrics(data, {r: per_margin[chosen][r]})))
        cells = [f"{r.split(',')[0][9:]}/{r.split('(')[2].split(',')[0]}: margin {mg} -> "
                 + (f"{m['flagged']}/{m['n_pos']} flagged, FP {m['fp']}/{m['n_neg']}" if m else "none")
                 for r, mg, m in folds]
        print(f"  held out ({name}): " + "; ".join(cells), flush=True)
        table.append((name, "held-out", [(r, mg, m) for r, mg, m in folds]))
    (out / "analysis.json").write_text(json.dumps(table, default=str))
