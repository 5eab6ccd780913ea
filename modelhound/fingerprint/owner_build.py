"""Building a reference's owner evidence (torch): the two pools, the candidate probes per
group, the conferrable selection and the calibration null.

Pools (all trained on the owner's data; half of each kind select probes, half calibrate):

* independents, the negatives: the tool's small nets from scratch; **the reference's own
  architecture re-initialised and trained from scratch** (when the reference can be read as
  a torch graph), each on its own seeded share of the data; and, with ``--owner-base``, the
  owner's public base fine-tuned with a new last layer;
* surrogates, simulated thieves: small nets and the reference's architecture distilled from
  the reference's labels and probabilities, on the owner's data and on query data.

Candidate groups (each its own test, see :class:`modelhound.fingerprint.owner.OwnerEvidence`):

* ``errors``: the owner's samples the reference gets wrong (labelled data only); a copy
  trained on the reference's answers to the owner's data inherits them;
* ``queries``: public data of the domain (``--owner-queries``); a copy that queried the
  reference with other data inherits its answers there;
* ``adversarial``: conferrable adversarial examples from correctly classified owner
  samples (Lukas et al.'s loss when the reference is differentiable, the targeted search
  otherwise).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from modelhound.fingerprint import owner_pools as op
from modelhound.fingerprint.owner_pools import OwnerEvidenceError

GROUPS = ("errors", "queries", "adversarial")


@dataclass
class Pools:
    """The models trained for one reference (kind -> models)."""

    independents: dict[str, list[Any]] = field(default_factory=dict)
    surrogates: list[Any] = field(default_factory=list)
    source: Any = None
    """The reference as a differentiable torch module (None when it cannot be converted)."""

    def split(self) -> tuple[dict[str, list[Any]], list[Any], list[str]]:
        """(selection independents per kind, calibration independents, their kinds): the
        first half of each kind selects, the rest calibrates."""
        sel, cal, kinds = {}, [], []
        for kind, models in self.independents.items():
            h = max(1, len(models) // 2) if len(models) > 1 else 0
            if h:
                sel[kind] = models[:h]
            cal += models[h:]
            kinds += [kind] * (len(models) - h)
        return sel, cal, kinds


def train_pools(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray | None,
                xq: np.ndarray, *, is_image: bool, settings: Any, base: bytes | None = None,
                reference: bytes | None = None, independents: Callable[[int], Any] | None = None,
                log: Callable[[str], None] = lambda _m: None) -> Pools:
    """Train the independents and surrogates for a reference (see the module docstring)."""
    import torch

    torch.set_num_threads(max(1, settings.threads))
    t0 = time.time()
    ref_out = np.asarray(run(x), dtype=np.float64).reshape(len(x), -1)
    k = ref_out.shape[1]
    t_lab, t_prob = ref_out.argmax(1), op.softmax(ref_out)
    train_y = y if y is not None else t_lab
    shape = tuple(x.shape[1:])
    s = settings
    pools = Pools()
    scratch = []
    for j in range(s.n_independent):
        m = independents(j) if independents is not None else None
        scratch.append(m if m is not None else op.fit(op.small_net(j % 2, shape, k, is_image, 1000 + j), x, train_y,
                                                      False, 1000 + j, steps=s.min_steps, batch=s.batch))
    pools.independents["scratch"] = scratch
    ref_graph = None
    if reference is not None and s.n_arch:
        try:
            ref_graph = op.load_graph(reference, x, "reference")
            pools.source = ref_graph.module
        except OwnerEvidenceError as exc:
            log(f"owner evidence: the reference's own architecture is not used ({exc})")
    if ref_graph is not None:
        pools.independents["architecture"] = [
            op.fit(op.trainable_copy(ref_graph, 4000 + j, k, reinit=True), x, train_y, False, 4000 + j,
                   steps=s.min_steps, batch=s.batch, share=s.base_share) for j in range(s.n_arch)]
    if base is not None:
        b = op.load_graph(base, x)
        pools.independents["base"] = [
            op.fit(op.trainable_copy(b, 3000 + j, k, reinit=False), x, train_y, False, 3000 + j,
                   steps=s.min_steps, batch=s.batch, lr=1e-3, share=s.base_share) for j in range(s.n_base)]
    log(f"owner evidence: independents {', '.join(f'{len(v)} {n}' for n, v in pools.independents.items())} "
        f"({time.time() - t0:.0f} s)")
    q_out = np.asarray(run(xq), dtype=np.float64).reshape(len(xq), -1)
    recipes = [(0, x, t_lab, False), (1, xq, q_out.argmax(1), False), (1, x, t_prob, True),
               (0, xq, op.softmax(q_out), True)][: s.n_surrogate]
    pools.surrogates = [op.fit(op.small_net(kind, shape, k, is_image, 2000 + j), xs, ts, soft, 2000 + j,
                               steps=s.min_steps, batch=s.batch) for j, (kind, xs, ts, soft) in enumerate(recipes)]
    if ref_graph is not None:
        arch_recipes = [(x, t_lab, False), (xq, op.softmax(q_out), True)][: s.n_arch_surrogate]
        pools.surrogates += [op.fit(op.trainable_copy(ref_graph, 5000 + j, k, reinit=True), xs, ts, soft, 5000 + j,
                                    steps=s.min_steps, batch=s.batch) for j, (xs, ts, soft) in enumerate(arch_recipes)]
    log(f"owner evidence: {len(pools.surrogates)} surrogates ({time.time() - t0:.0f} s)")
    return pools


def candidates(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray | None,
               xq: np.ndarray | None, pools: Pools, settings: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Candidate probes per group: (inputs, the reference's labels on them)."""
    rng = np.random.default_rng(settings.seed + 1)
    s = settings

    def lab(v: np.ndarray) -> np.ndarray:
        return np.asarray(run(v), dtype=np.float64).reshape(len(v), -1).argmax(1)

    t_lab = lab(x)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if y is not None:
        wrong = np.flatnonzero(t_lab != y)
        out["errors"] = (x[wrong], t_lab[wrong])
    if xq is not None and len(xq):
        pick = np.sort(rng.choice(len(xq), min(len(xq), s.max_query_candidates), replace=False))
        out["queries"] = (xq[pick], lab(xq[pick]))
    right = np.flatnonzero(t_lab == y) if y is not None else np.arange(len(x))
    seeds = x[np.sort(rng.choice(right, min(len(right), s.n_adv_seeds), replace=False))]
    sel, _cal, _k = pools.split()
    refs = [m for models in sel.values() for m in models]
    lo, hi = float(x.min()), float(x.max())
    eps = s.eps * (hi - lo)
    if pools.source is not None:
        adv = op.conferrable_cem(pools.source, pools.surrogates, refs, seeds, lo, hi, eps=eps,
                                 steps=s.adv_steps, seed=s.seed)
    else:
        top2 = np.argsort(np.asarray(run(seeds), dtype=np.float64).reshape(len(seeds), -1), axis=1)[:, -2]
        adv = op.conferrable_targeted(pools.surrogates, refs, seeds, top2, lo, hi, eps=eps,
                                      steps=s.adv_steps, seed=s.seed)
    out["adversarial"] = (adv, lab(adv))
    return out


def conferrability(pools: Pools, xs: np.ndarray, ls: np.ndarray) -> np.ndarray:
    """Mean surrogate agreement times (1 - mean agreement) of each kind of selection
    independent: a probe must be followed by the surrogates and by no kind of independent."""
    sel, _cal, _k = pools.split()
    conf = np.mean([op.labels(m, xs) == ls for m in pools.surrogates], axis=0)
    for models in sel.values():
        conf = conf * (1.0 - np.mean([op.labels(m, xs) == ls for m in models], axis=0))
    return conf
