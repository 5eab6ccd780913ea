"""Owner evidence: conferrable probes built from the model owner's data.

Why: a copy stolen through a reference's outputs shares no weights, and on the reference's
own domain it behaves like any independent model of the task (bench/reuse, issue 6: stolen
copies agree with their teacher on 90-97 % of test labels, independent models on 89-96 %).
What only a copy inherits are the reference's *own* decisions: its mistakes on its training
data, its answers on other data a thief queried it with, and the places near its decision
boundary where it decides differently from other models of the task. The owner's data makes
those findable, because with it the tool can train the two pools that conferrable
adversarial examples (Lukas et al., ICLR 2021) need: independents (negatives) and
surrogates (simulated thieves); see :mod:`modelhound.fingerprint.owner_build`.

The probes come in groups (the reference's errors on the owner's data, query data, and
conferrable adversarial examples), each chosen by conferrability on the *selection* half of
the independents. Each group is its own test, because each catches another kind of thief:
a thief that queried the reference on the owner's data inherits its errors there and nothing
on other data, a thief that queried other data the reverse. For a suspect, the statistic of a
group is its top-1 agreement with the reference on the group's probes (label-only: any
runnable suspect can be scored, quantized ones too); its p-value is the binomial upper tail
at the highest *calibration* independent's agreement (models that took no part in the
selection) plus ``MARGIN``; the evidence's p-value is the smallest group p times the number
of groups (Bonferroni). A suspect is flagged when that is below ``alpha`` **and** the owner
declared how the reference started (``--owner-base ONNX|scratch``). A suspect closer than
every calibration model but not significantly so is "inconclusive".

Data-provenance evidence (dataset inference) is deliberately not used for the verdict: it
flags any model trained on the owner's data, independent ones included (measured in
bench/reuse/results-owner-di.md; shared/background/theft-evidence.md section 0).

Training and the adversarial search need torch (the ``gradient`` extra); scoring a suspect
is numpy only. Everything is seeded.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from modelhound.fingerprint.owner_pools import OwnerEvidenceError

__all__ = ["OWNER_LAYOUT", "MARGIN", "STARTS", "OwnerEvidenceError", "OwnerSettings", "OwnerScore",
           "OwnerEvidence", "build_owner_evidence"]

OWNER_LAYOUT = 2
"""Layout version of the stored evidence (``owner.npz``); 2: probes in groups, one null per group."""

#: the null agreement rate of a group is the highest calibration independent's plus this
#: margin. bench/reuse (results-owner-analysis.md): on the queries group, the margin chosen on
#: three references' independents gave no false positive on the fourth's, for every fold, at
#: 0.00; 0.10 is kept for safety (3 instead of 5 of 28 thieves flagged, 0 of 140 independents)
MARGIN = 0.10

#: the groups whose test can flag a copy. bench/reuse, session 5: the ``errors`` group flagged
#: 2-3 of 22 independents of one reference (weaker models trained on the same binary task
#: share its errors) at every margin below 0.30, with the margin chosen on the other
#: references or in-sample; the ``adversarial`` group never separated a thief from the
#: independents. Both are measured and reported in the evidence line, but do not flag.
FLAG_GROUPS = ("queries",)

#: how the owner says the reference started (``--owner-base``): fine-tuned from a public
#: base model, or trained from scratch. Without either, the tool's from-scratch null does not
#: represent independents that share a public base (bench/reuse: 27 of 52 flagged), and the
#: evidence only reports, never flags.
STARTS = ("base", "scratch")
_START_NOTE = {
    "base": "fine-tuned from the owner's base model (independents fine-tuned from it are in the null)",
    "scratch": "trained from scratch (declared by the owner)",
    "undeclared": "not declared (--owner-base ONNX|scratch), so the evidence reports but never flags",
}


@dataclass(frozen=True)
class OwnerSettings:
    """How owner evidence is built (defaults: the values bench/reuse measures)."""

    n_independent: int = 4
    """Independents trained from scratch on the owner's data (half select probes, half calibrate)."""
    n_base: int = 8
    """Independents fine-tuned from the owner's named base model (``--owner-base``) on the
    owner's data, each on its own random share of it (half select, half calibrate)."""
    base_share: float = 0.8
    """Share of the owner's samples each base fine-tune sees (its own seeded subset)."""
    n_arch: int = 4
    """Independents of the reference's own architecture, re-initialised and trained from
    scratch on seeded ``base_share`` shares of the owner's data (half select, half calibrate;
    only when the reference can be read as a torch graph)."""
    n_surrogate: int = 4
    n_arch_surrogate: int = 2
    """Surrogates of the reference's own architecture (labels on the owner's data,
    probabilities on the queries)."""
    max_query_candidates: int = 1000
    n_probes: int = 100
    """Probes kept per group (the most conferrable)."""
    min_probes: int = 10
    """A group with fewer conferrable candidates is dropped."""
    n_adv_seeds: int = 300
    eps: float = 0.15
    """L-infinity radius of the adversarial candidates (in the data's own units x range)."""
    adv_steps: int = 20
    min_steps: int = 300
    """Training updates per small model (at least)."""
    batch: int = 64
    max_samples: int = 6000
    """At most this many owner samples are used (a seeded subset)."""
    alpha: float = 1e-3
    seed: int = 0
    threads: int = 1


@dataclass(frozen=True)
class OwnerScore:
    """One suspect scored with a reference's owner evidence."""

    agreement: float
    """Top-1 agreement with the reference on the decisive group's probes (the flagging group with
    the smallest p; without one, the group with the smallest p)."""
    p_value: float
    """Bonferroni-combined over the flagging groups (1.0 when there is none)."""
    flagged: bool
    null_max: float
    """Highest calibration independent's agreement on the decisive group."""
    threshold: float
    """Lowest agreement on the decisive group that would be flagged."""
    undeclared: bool = False
    """The owner did not say how the reference started (``--owner-base``): never flagged."""
    group: str = ""
    """The decisive group."""
    groups: tuple[tuple[str, float, float, float], ...] = ()
    """(group, agreement, highest calibration independent, p) for every group."""

    @property
    def inconclusive(self) -> bool:
        """Would be flagged but the start is undeclared, or closer to the reference than every
        calibration independent on some group but not significantly: the evidence cannot tell
        a copy from an independent model here."""
        above = any(a > m for _g, a, m, _p in self.groups) if self.groups else self.agreement > self.null_max
        return not self.flagged and (above or self.undeclared)

    def describe(self) -> str:
        """One line for the evidence column."""
        if self.flagged:
            verdict = "copy of the reference's own decisions"
        elif self.undeclared and self.p_value < 1e-3:
            verdict = ("inconclusive: above the threshold, but the owner did not name the reference's "
                       "starting point (zoo add --owner-base ONNX|scratch), so independents fine-tuned from "
                       "a public base are not in the null")
        elif self.inconclusive:
            verdict = ("inconclusive: closer than every independent model the tool trained on the owner's "
                       "data on some group, but not flagged (only " + ", ".join(FLAG_GROUPS) + " can flag)")
        else:
            verdict = "no sign of theft"
        per = "; ".join(f"{g}{'' if g in FLAG_GROUPS else ' (reported only)'} {a:.3f} (independents <= {m:.3f}, "
                        f"p {p:.2g})" for g, a, m, p in self.groups)
        return (f"owner evidence: agreement on conferrable probes: {per or f'{self.agreement:.3f}'}; "
                f"p = {self.p_value:.2g}: {verdict}")


@dataclass(frozen=True)
class OwnerEvidence:
    """What a zoo stores per reference when its owner brought data."""

    probes: np.ndarray
    """Canonical probe inputs (float32), by group, most conferrable first."""
    labels: np.ndarray
    """The reference's top-1 label on each probe."""
    groups: np.ndarray
    """Each probe's group (index into :attr:`group_names`)."""
    group_names: tuple[str, ...]
    n_classes: int
    null: np.ndarray
    """Calibration independents' agreements (models x groups): the null."""
    surrogate: np.ndarray
    """Surrogates' agreements (models x groups; in-sample: they helped choose the probes)."""
    alpha: float
    meta: Mapping[str, Any] = field(default_factory=dict)

    def null_rate(self, g: int) -> float:
        """Agreement rate of group ``g``'s null: its highest calibration independent's plus ``MARGIN``."""
        return float(min(1.0, float(self.null[:, g].max()) + MARGIN))

    def group_p(self, g: int, agreement: float) -> float:
        """P(an independent model agrees this often on group ``g``): the binomial upper tail at
        :meth:`null_rate` (conservative: the *highest* independent's rate, plus a margin)."""
        n = int((self.groups == g).sum())
        return _binom_sf(int(round(agreement * n)), n, self.null_rate(g))

    @property
    def flag_groups(self) -> list[int]:
        """Indices of the groups whose test can flag (:data:`FLAG_GROUPS`)."""
        return [g for g, name in enumerate(self.group_names) if name in FLAG_GROUPS]

    def threshold(self, g: int) -> float:
        """Lowest agreement on group ``g`` that would be flagged (p times the number of flagging
        groups < alpha; 1.0 for a group that does not flag)."""
        if g not in self.flag_groups:
            return 1.0
        n = int((self.groups == g).sum())
        for k in range(n + 1):
            if len(self.flag_groups) * _binom_sf(k, n, self.null_rate(g)) < self.alpha:
                return k / n
        return 1.0

    def score(self, suspect_outputs: np.ndarray) -> OwnerScore:
        """Score a suspect from its outputs on :attr:`probes` (ValueError on a width mismatch)."""
        out = np.asarray(suspect_outputs).reshape(len(suspect_outputs), -1)
        if len(out) != len(self.labels):
            raise ValueError(f"owner evidence: {len(out)} suspect outputs for {len(self.labels)} probes")
        if out.shape[1] != self.n_classes:
            raise ValueError(f"owner evidence: suspect has {out.shape[1]} outputs, the reference {self.n_classes}")
        hit = out.argmax(axis=1) == self.labels
        rows = []
        for g, name in enumerate(self.group_names):
            a = float(hit[self.groups == g].mean())
            rows.append((name, a, float(self.null[:, g].max()), self.group_p(g, a)))
        flag = self.flag_groups
        best = min(flag or range(len(rows)), key=lambda i: (rows[i][3], i))
        p = min(1.0, len(flag) * rows[best][3]) if flag else 1.0
        declared = dict(self.meta).get("start") in STARTS
        return OwnerScore(rows[best][1], p, bool(p < self.alpha) and declared, rows[best][2], self.threshold(best),
                          undeclared=not declared, group=rows[best][0], groups=tuple(rows))

    def summary(self) -> str:
        """One line for ``zoo show`` and reports."""
        m = dict(self.meta)
        per = ", ".join(f"{name} {int((self.groups == g).sum())} (independents <= {self.null[:, g].max():.3f}, "
                        f"threshold {self.threshold(g):.3f})" for g, name in enumerate(self.group_names))
        return (f"owner evidence v{OWNER_LAYOUT}: {len(self.labels)} conferrable probes from "
                f"{m.get('n_owner', '?')} owner samples ({'labelled' if m.get('labelled') else 'unlabelled'}): "
                f"{per}; {self.null.shape[0]} calibration independents, alpha {self.alpha} over "
                f"{len(self.group_names)} groups; start: "
                f"{_START_NOTE.get(str(m.get('start')), _START_NOTE['undeclared'])}; built in {m.get('seconds', 0):.0f} s")

    def to_npz(self) -> dict[str, np.ndarray]:
        """Arrays for :func:`modelhound.npz.save_npz`."""
        return {
            "layout": np.array(OWNER_LAYOUT), "probes": self.probes.astype(np.float32),
            "labels": self.labels.astype(np.int64), "groups": self.groups.astype(np.int64),
            "group_names": np.array(json.dumps(list(self.group_names))), "n_classes": np.array(self.n_classes),
            "null": self.null.astype(np.float64), "surrogate": self.surrogate.astype(np.float64),
            "alpha": np.array(self.alpha), "meta": np.array(json.dumps(dict(self.meta))),
        }

    @classmethod
    def from_npz(cls, z: Mapping[str, Any], where: str = "") -> "OwnerEvidence":
        """Inverse of :meth:`to_npz` (OwnerEvidenceError for another layout)."""
        layout = int(z["layout"]) if "layout" in z else -1
        if layout != OWNER_LAYOUT:
            raise OwnerEvidenceError(f"{where}: owner evidence layout {layout}, this modelhound reads "
                                     f"{OWNER_LAYOUT}; re-add the reference with --owner-data")
        return cls(np.asarray(z["probes"], dtype=np.float32), np.asarray(z["labels"], dtype=np.int64),
                   np.asarray(z["groups"], dtype=np.int64), tuple(json.loads(str(z["group_names"]))),
                   int(z["n_classes"]), np.asarray(z["null"], dtype=np.float64),
                   np.asarray(z["surrogate"], dtype=np.float64), float(z["alpha"]), json.loads(str(z["meta"])))


def _binom_sf(k: int, n: int, q: float) -> float:
    """P(X >= k) for X ~ Binomial(n, q), in log space (no scipy needed)."""
    if k <= 0:
        return 1.0
    if q >= 1.0:
        return 1.0
    if q <= 0.0:
        return 0.0
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(q)
            + (n - i) * math.log1p(-q) for i in range(k, n + 1)]
    top = max(logs)
    return float(min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs)))


def build_owner_evidence(
    run: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray | None,
    *,
    is_image: bool,
    settings: OwnerSettings = OwnerSettings(),
    independents: Callable[[int], Any] | None = None,
    base: bytes | None = None,
    scratch: bool = False,
    reference: bytes | None = None,
    queries: np.ndarray | None = None,
    log: Callable[[str], None] = lambda _m: None,
    inspect: Callable[[Any, dict[str, tuple[np.ndarray, np.ndarray]]], None] | None = None,
) -> OwnerEvidence:
    """Build a reference's owner evidence.

    ``run`` maps canonical inputs (N x H x W x C images or N x ... arrays, as ``x``) to the
    reference's outputs (N x K class scores). ``y`` are the owner's labels (None: the
    independents learn the reference's own labels, which makes the null a label thief on
    the owner's data, so only closer copies are flagged, and there is no ``errors`` group).
    ``base``: the public model (ONNX) the owner fine-tuned the reference from; independents
    fine-tuned from it join both pools. ``scratch``: the owner declares the reference was
    trained from scratch. Without ``base`` or ``scratch`` the evidence never flags
    (:attr:`OwnerScore.undeclared`). ``reference``: the reference as ONNX, when it has an
    ONNX form: independents and surrogates of its own architecture join the pools, and the
    adversarial probes are optimised on it. ``queries``: unlabelled inputs a thief without
    the owner's data would plausibly query with (public data of the domain; else mixed and
    shifted owner samples stand in). ``independents`` optionally returns a cached
    from-scratch independent by index, and ``inspect`` receives the pools and every candidate
    group before selection (both for bench/reuse).
    """
    from modelhound.fingerprint import owner_pools as op
    from modelhound.fingerprint.gradient import gradient_available
    from modelhound.fingerprint.owner_build import GROUPS, candidates, conferrability, train_pools

    if not gradient_available():
        raise OwnerEvidenceError("owner evidence trains small models with torch: install the gradient "
                                 "extra (scripts/setup.sh test,gradient)")
    t0 = time.time()
    rng = np.random.default_rng(settings.seed)
    x = np.asarray(x, dtype=np.float32)
    if len(x) < 50:
        raise OwnerEvidenceError(f"owner data: {len(x)} samples; at least 50 are needed")
    if len(x) > settings.max_samples:
        keep = np.sort(rng.choice(len(x), settings.max_samples, replace=False))
        x = x[keep]
        y = None if y is None else np.asarray(y)[keep]
    k = int(np.asarray(run(x[:2])).reshape(2, -1).shape[1])
    if k < 2:
        raise OwnerEvidenceError("owner evidence needs a classifier (a vector of class scores); "
                                 f"this reference has {k} output value(s) per input")
    if y is not None:
        y = np.asarray(y).astype(np.int64)
        if y.min() < 0 or y.max() >= k:
            raise OwnerEvidenceError(f"owner data: labels span {int(y.min())}..{int(y.max())}, "
                                     f"the reference has {k} classes")
    have_queries = queries is not None and len(queries) > 0
    if have_queries:
        xq = np.asarray(queries, dtype=np.float32)
        if xq.shape[1:] != x.shape[1:]:
            raise OwnerEvidenceError(f"query data: samples of shape {xq.shape[1:]}, the owner's are {x.shape[1:]}")
        if len(xq) > settings.max_samples:
            xq = xq[np.sort(rng.choice(len(xq), settings.max_samples, replace=False))]
    else:
        xq = op.mix(x, rng, is_image)
    pools = train_pools(run, x, y, xq, is_image=is_image, settings=settings, base=base, reference=reference,
                        independents=independents, log=log)
    _sel, cal, cal_kinds = pools.split()
    if not cal:
        raise OwnerEvidenceError("owner evidence needs at least 2 independents")
    found = candidates(run, x, y, xq if have_queries else None, pools, settings)
    if inspect is not None:
        inspect(pools, found)
    probes, labels, groups, names, null, sur, counts = [], [], [], [], [], [], {}
    for name in GROUPS:
        if name not in found:
            continue
        xs, ls = found[name]
        conf = conferrability(pools, xs, ls)
        order = np.lexsort((np.arange(len(ls)), -conf))[: settings.n_probes]
        chosen = order[conf[order] > 0]
        counts[name] = int(len(chosen))
        if len(chosen) < settings.min_probes:
            continue
        g = len(names)
        names.append(name)
        probes.append(xs[chosen])
        labels.append(ls[chosen])
        groups.append(np.full(len(chosen), g))
        null.append([float((op.labels(m, xs[chosen]) == ls[chosen]).mean()) for m in cal])
        sur.append([float((op.labels(m, xs[chosen]) == ls[chosen]).mean()) for m in pools.surrogates])
    if not names:
        raise OwnerEvidenceError(f"owner evidence: too few conferrable probes in every group ({counts}; at least "
                                 f"{settings.min_probes}): the reference decides like any model trained on this data")
    start = "base" if base is not None else "scratch" if scratch else "undeclared"
    meta = {
        "n_owner": int(len(x)), "labelled": y is not None, "seconds": round(time.time() - t0, 1), "start": start,
        "conferrable": counts, "independents": {kind: len(v) for kind, v in pools.independents.items()},
        "calibration": cal_kinds, "surrogates": len(pools.surrogates), "queries": bool(have_queries),
        "reference_graph": pools.source is not None, "margin": MARGIN,
        "settings": settings.__dict__,
        "reference_accuracy": None if y is None else round(float((np.asarray(run(x)).reshape(len(x), -1).argmax(1)
                                                                  == y).mean()), 4),
    }
    ev = OwnerEvidence(np.concatenate(probes).astype(np.float32), np.concatenate(labels), np.concatenate(groups),
                       tuple(names), k, np.array(null).T, np.array(sur).T, settings.alpha, meta)
    log(f"owner evidence: {ev.summary()}")
    return ev
