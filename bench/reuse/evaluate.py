"""ModelDiff on the reuse zoo: two pair-generation protocols and the paper's metrics.

* ``suspect``: the reference code's protocol. For each evaluated child, pairs are generated
  on the child (on its float parent when the child is quantized, as the reference does);
  the child, its parent and every reference are profiled on those pairs.
* ``reference``: a scanner's protocol. Pairs are generated once per known model (parent
  or reference), from that model's own domain; the child is profiled on each candidate's
  pairs and compared with that candidate's stored DDV.

Correctness (``results.ipynb`` ``compute_correctness``): sim(child, parent) > max over the
references of sim(child, reference); references are all models outside the child's lineage
(other root segment), quantized models excepted. ROC AUC and TPR at 1 % FPR treat
(child, parent) as positives and (child, reference) as negatives.

Every model runs as shipped: its TFLite file under LiteRT. Gradients go through the ONNX
form (tf2onnx from the TFLite file) with torch + onnx2torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from data import seed_images  # type: ignore[import-not-found]
from zoo import BuiltModel, _fn  # type: ignore[import-not-found]

from modelhound.fingerprint.generate import generate_pairs
from modelhound.fingerprint.interface import Generator, PairSet, PgdConfig, SearchConfig
from modelhound.fingerprint.modeldiff import ddv_similarity
from modelhound.fingerprint.profile import load_pairs, profile_runnable, save_pairs
from modelhound.fingerprint.seeds import image_seeds


@dataclass(frozen=True)
class Outcome:
    """Scores of one evaluated child under one protocol."""

    child: str
    group: str
    parent_sim: float
    ref_sims: tuple[float, ...]
    ref_names: tuple[str, ...]

    @property
    def correct(self) -> bool:
        """The paper's rank criterion."""
        return self.parent_sim > max(self.ref_sims)

    @property
    def nearest_ref(self) -> str:
        """The most similar unrelated model."""
        return self.ref_names[int(np.argmax(self.ref_sims))]


def group_of(name: str) -> str:
    """Reuse-method label of a model from its last name segment."""
    last = name.split("-")[-1]
    if last.startswith("transfer"):
        return "transfer"
    if last.startswith("steal"):
        arch_other = last.split(",")[0][len("steal(") :] != name.split("-")[0].split("(")[1].split(",")[0]
        # Which architecture the parent has is the root's (transfer keeps it).
        signal = "labels" if "labels" in last else "probs"
        knockoff = "-knockoff" if "knockoff" in last else ""
        return f"steal-{signal}{knockoff}-{'other' if arch_other else 'same'}-arch"
    return last.replace("()", "")


class Bench:
    """Lazily generated, cached pairs and DDVs over a built zoo."""

    def __init__(
        self, built: dict[str, BuiltModel], cache: Path, log: Callable[[str], None] = print,
        pgd: PgdConfig = PgdConfig(), search: SearchConfig | None = None,
    ) -> None:
        """``cache`` holds pairs/<model>.npz and ddv.json (one cache per pair setting).

        ``search``: generate pairs with the black-box score search instead of PGD.
        """
        self.pgd = pgd
        self.search = search
        from modelhound.converters.runtimes import LiteRTRunnable

        self.built = built
        self.cache = cache
        self.log = log
        (cache / "pairs").mkdir(parents=True, exist_ok=True)
        self.runnables = {n: LiteRTRunnable(b.tflite.read_bytes()) for n, b in built.items()}
        self._pairs: dict[str, PairSet] = {}
        self._ddv_path = cache / "ddv.json"
        self._ddv: dict[str, list[float]] = (
            json.loads(self._ddv_path.read_text()) if self._ddv_path.exists() else {}
        )
        self.pgd_seconds: list[float] = []

    def generator_of(self, name: str) -> str:
        """The model pairs are generated on for ``name`` (its float parent if quantized)."""
        b = self.built[name]
        return b.spec.parent if b.spec.quantized else name

    def pairs(self, name: str) -> PairSet:
        """PGD pairs generated on ``name`` from 100 seeds of its own task (cached)."""
        if name in self._pairs:
            return self._pairs[name]
        path = self.cache / "pairs" / f"{_fn(name)}.npz"
        if path.exists():
            pairs = load_pairs(path)
        else:
            import time

            b = self.built[name]
            assert b.onnx is not None, f"{name} has no ONNX form"
            seeds = image_seeds(seed_images(b.spec.task), f"{b.spec.task}[train] first 100 (split seed 98)")
            t0 = time.perf_counter()
            if self.search is not None:
                pairs = generate_pairs(
                    self.runnables[name], seeds, method=Generator.SCORE_SEARCH,
                    search=self.search, subject=name,
                )
            else:
                pairs = generate_pairs(
                    self.runnables[name], seeds, onnx_model=b.onnx.read_bytes(),
                    method=Generator.PGD, pgd=self.pgd, subject=name,
                )
            self.pgd_seconds.append(time.perf_counter() - t0)
            save_pairs(path, pairs)
        self._pairs[name] = pairs
        return pairs

    def ddv(self, model: str, on: str) -> list[float]:
        """DDV of ``model`` on the pairs generated on ``on`` (cached)."""
        key = f"{model}|{on}"
        if key not in self._ddv:
            prof = profile_runnable(self.runnables[model], self.pairs(on), subject=model)
            self._ddv[key] = list(prof.ddv)
        return self._ddv[key]

    def save(self) -> None:
        """Persist the DDV cache."""
        self._ddv_path.write_text(json.dumps(self._ddv))

    def sim(self, a: str, b: str, on: str) -> float:
        """ModelDiff similarity of ``a`` and ``b`` on ``on``'s pairs."""
        return ddv_similarity(self.ddv(a, on), self.ddv(b, on))

    def references(self, child: str) -> list[str]:
        """Every model outside the child's lineage, quantized ones excepted."""
        root = self.built[child].spec.root
        return [n for n, b in self.built.items() if b.spec.root != root and not b.spec.quantized]

    def evaluate(self, children: list[str], protocol: str) -> list[Outcome]:
        """Scores of every child under ``suspect`` or ``reference`` pair generation."""
        out = []
        for i, c in enumerate(children):
            parent = self.built[c].spec.parent
            refs = self.references(c)
            if protocol == "suspect":
                on = self.generator_of(c)
                ps = self.sim(c, parent, on)
                rs = [self.sim(c, r, on) for r in refs]
            else:
                ps = self.sim(c, parent, parent)
                rs = [self.sim(c, r, r) for r in refs]
            out.append(Outcome(c, group_of(c), ps, tuple(rs), tuple(refs)))
            if (i + 1) % 24 == 0:
                self.log(f"  {protocol}: {i + 1}/{len(children)}")
                self.save()
        self.save()
        return out


def roc_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney ROC AUC (ties count half)."""
    pos, neg = np.asarray(pos), np.asarray(neg)
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def tpr_at_fpr(pos: np.ndarray, neg: np.ndarray, fpr: float = 0.01) -> tuple[float, float]:
    """(TPR, threshold) at the lowest threshold whose FPR (sim >= threshold) is <= ``fpr``."""
    neg_sorted = np.sort(np.asarray(neg))[::-1]
    k = int(np.floor(fpr * len(neg_sorted)))  # negatives allowed above the threshold
    thr = float(neg_sorted[k]) if k < len(neg_sorted) else -np.inf
    # Strictly above the (k+1)-th highest negative: at most k negatives pass.
    thr = float(np.nextafter(thr, np.inf))
    return float((np.asarray(pos) >= thr).mean()), thr


@dataclass(frozen=True)
class Metrics:
    """Metrics of one group of children."""

    n: int
    correct: int
    auc: float
    tpr1: float
    mean_parent: float
    mean_max_ref: float


def metrics(outcomes: list[Outcome]) -> Metrics:
    """Correctness, AUC, TPR@1%FPR and mean similarities of a group."""
    pos = np.array([o.parent_sim for o in outcomes])
    neg = np.concatenate([np.array(o.ref_sims) for o in outcomes])
    return Metrics(
        n=len(outcomes),
        correct=sum(o.correct for o in outcomes),
        auc=roc_auc(pos, neg),
        tpr1=tpr_at_fpr(pos, neg)[0],
        mean_parent=float(pos.mean()),
        mean_max_ref=float(np.mean([max(o.ref_sims) for o in outcomes])),
    )


