"""Owner evidence, exploration: every candidate probe of every group, every pool model's and
every bench model's labels on it, dumped once per reference so that selection rules and
statistics can be compared without retraining (issue 14, session 5).

    python bench/reuse/owner.py --base ...          # builds the evidence and dumps here
    python bench/reuse/owner_explore.py predict     # every bench model on every candidate (LiteRT)
    python bench/reuse/owner_explore.py analyse     # numpy only, seconds

The pools and candidates are the product's own (``build_owner_evidence(inspect=...)``), as
``zoo add --owner-data --owner-base`` builds them; nothing of the bench's models is used to
build them. ``analyse`` prints, per variant, the issue's metrics and where the thresholds
were chosen (held out by task: margins chosen on the digits references are measured on the
parity references and vice versa).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402

import zoo  # noqa: E402
from owner import built_models  # noqa: E402

OUT = HERE / ".cache" / "owner-explore"
REFS = ("pretrain(cnn,mnist)-transfer(digits,0.5)", "pretrain(dwnet,mnist)-transfer(digits,0.5)",
        "pretrain(cnn,mnist)-transfer(parity,0.5)", "pretrain(dwnet,mnist)-transfer(parity,0.5)")


def dump_candidates(ref: str, pools: object, found: dict) -> None:
    """Every candidate of every group with every pool model's labels on it (called by
    ``owner.py`` through ``build_owner_evidence(inspect=...)``: the product's own pools)."""
    from modelhound.fingerprint import owner_pools as op

    OUT.mkdir(parents=True, exist_ok=True)
    sel, cal, cal_kinds = pools.split()  # type: ignore[attr-defined]
    arrays: dict[str, np.ndarray] = {}
    for g, (xs, ls) in found.items():
        arrays[f"{g}_x"] = xs.astype(np.float32)
        arrays[f"{g}_labels"] = ls
        arrays[f"{g}_sel"] = np.array([op.labels(m, xs) for k in sel for m in sel[k]]).reshape(-1, len(xs))
        arrays[f"{g}_cal"] = np.array([op.labels(m, xs) for m in cal])
        arrays[f"{g}_surr"] = np.array([op.labels(m, xs) for m in pools.surrogates])  # type: ignore[attr-defined]
    meta = {"ref": ref, "groups": list(found), "sel_kinds": {k: len(v) for k, v in sel.items()},
            "cal_kinds": cal_kinds, "n_surrogates": len(pools.surrogates)}  # type: ignore[attr-defined]
    np.savez_compressed(OUT / f"{zoo._fn(ref)}.npz", meta=np.array(json.dumps(meta)), **arrays)


def predict() -> None:
    """Every built bench model's labels on every dumped candidate (LiteRT, as shipped)."""
    from modelhound.converters.runtimes import LiteRTRunnable
    from modelhound.fingerprint.inputs import InputAdapter

    built = built_models()
    for r in REFS:
        path = OUT / f"{zoo._fn(r)}.npz"
        if not path.exists():
            continue
        z = dict(np.load(path))
        meta = json.loads(str(z["meta"]))
        names, preds = [], {g: [] for g in meta["groups"]}
        for n, b in built.items():
            rn = LiteRTRunnable(b.tflite.read_bytes())
            a = InputAdapter(rn.inputs[0])
            outs = {g: rn.run([a.to_model(z[f"{g}_x"])])[0].reshape(len(z[f"{g}_x"]), -1) for g in meta["groups"]}
            if next(iter(outs.values())).shape[1] != (2 if "parity" in r else 10):
                continue
            names.append(n)
            for g in meta["groups"]:
                preds[g].append(outs[g].argmax(1))
        np.savez_compressed(OUT / f"{zoo._fn(r)}.bench.npz", names=np.array(names),
                            **{g: np.array(v) for g, v in preds.items()})
        print(f"{r}: {len(names)} bench models", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["predict"]:
        predict()
    else:
        from owner_analyse import analyse  # noqa: E402

        analyse(OUT, REFS)
