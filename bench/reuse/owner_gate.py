"""Owner evidence, exploration (issue 14, session 5, not in the product): would an accuracy gate
make the errors group safe? The errors test of a suspect counts only when its accuracy on 1,000 of the
owner's labelled samples is at least the reference's minus delta (weaker independents share a
reference's errors, results-owner-analysis.md). In-sample: delta and the margin are chosen here.

    PYTHONPATH=$PWD python bench/reuse/owner_gate.py     (after owner.py --base and owner_explore.py predict)
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from owner_analyse import load, metrics, binom_sf
from owner_explore import OUT, REFS
from owner import built_models, owner_data
from modelhound.converters.runtimes import LiteRTRunnable
from modelhound.fingerprint.inputs import InputAdapter
data = load(OUT, REFS)
built = built_models()
acc = {}
for r, d in data.items():
    _k, x, y = owner_data(built[r].spec)
    rng = np.random.default_rng(0); idx = rng.choice(len(x), 1000, replace=False)
    for n in d["names"] + [r]:
        if (r, n) in acc: continue
        rn = LiteRTRunnable(built[n].tflite.read_bytes()); a = InputAdapter(rn.inputs[0])
        acc[(r, n)] = float((rn.run([a.to_model(x[idx])])[0].argmax(1) == y[idx]).mean())
def evaluate(d, r, margin, delta, n_probes=100):
    z, meta = d["z"], d["meta"]
    res = {n: [] for n in d["names"]}
    for g in ("errors", "queries"):
        ls = z[f"{g}_labels"]; conf = (z[f"{g}_surr"] == ls).mean(0); row = 0
        for k, c in meta["sel_kinds"].items():
            conf = conf * (1 - (z[f"{g}_sel"][row:row+c] == ls).mean(0)); row += c
        order = np.lexsort((np.arange(len(ls)), -conf))[:n_probes]; ch = order[conf[order] > 0]
        if len(ch) < 10: continue
        cal = (z[f"{g}_cal"][:, ch] == ls[ch]).mean(1); rate = min(1, cal.max() + margin)
        b = (d["bench"][g][:, ch] == ls[ch]).mean(1)
        for n, a in zip(d["names"], b):
            p = binom_sf(int(round(a*len(ch))), len(ch), rate)
            if g == "errors" and acc[(r, n)] < acc[(r, r)] - delta: p = 1.0
            res[n].append((p, (a - cal.mean())/max(cal.std(ddof=1), .03), a))
    return {n: (min(1, len(v)*min(t[0] for t in v)), max(t[1] for t in v), [t[2] for t in v]) for n, v in res.items() if v}
print("ref accuracies on owner data:", {r: acc[(r, r)] for r in data})
for delta in (0.01, 0.02, 0.03, 0.05, 1.0):
    for margin in (0.0, 0.05, 0.1, 0.2):
        per = {r: evaluate(d, r, margin, delta) for r, d in data.items()}
        m = metrics(data, per)
        folds = []
        print(f"delta {delta} margin {margin}: flagged {m['flagged']}/{m['n_pos']} FP {m['fp']}/{m['n_neg']} {m['per_method']} fp {m['fp_pairs'][:3]}")
