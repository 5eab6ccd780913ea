"""Combined reuse detector: white-box weights + label-free behavioural agreement.

What a zoo stores per reference (:class:`PairProbes`, built at zoo-build time by
:func:`modelhound.fingerprint.profile.behaviour_probes`): the reference's outputs on
:func:`probe_inputs` of its ModelDiff pair set, i.e. the seeds ``x``, their PGD twins ``x'``
and ``2n`` CutMix images of the seeds. The inputs follow from the stored pairs, so only the
outputs are stored (sketched to ``MAX_WIDTH`` columns). A scan runs the suspect once on the
same inputs per probe set (:mod:`modelhound.corpus.suspect`) and scores it against every
reference with numpy only (:meth:`PairProbes.scores`); everything is seeded.

Behavioural signals (all in [0, 1], see :mod:`.sac` and :mod:`.agreement`):
``sac_cutmix``, ``sac_seeds`` (sample-correlation matrices), ``agree_cutmix`` (chance-
corrected top-1 agreement on CutMix images), ``out_cutmix`` and ``out_hard`` (1 - mean
total-variation distance of the softmax outputs, on CutMix and on the reference's
lowest-margin seeds), ``agree_adv`` and ``out_adv`` (the same two on the twins).
``behaviour`` is their plain mean: a fixed rule, not fitted to the benchmark.

:func:`reference_probes` / :func:`behaviour_scores` are the first, pool-based version (a
1,000-image pool of the reference's domain; AKH when labels are given). bench/reuse keeps
it as a comparison; a zoo does not store it.

References whose output width differs from the suspect's still get the SAC signals (the
agreement signals are 0 there). The thresholds and null quantiles come from bench/reuse
(28x28 digit classifiers); on the default zoo's real models the highest agreement between
two different references is 0.54 (hand_landmark_full vs hand_landmark_lite).

The combined score is tiered (:func:`combined_score`): weight evidence of a weight kind at or
above ``WEIGHTS_THRESHOLD`` maps to [0.75, 1]; everything else is ``0.5 * behaviour`` in
[0, 0.5]. A plain max of the two does worse: behaviour between *any* two models of the same
task is high (0.8 and more), while unrelated weights correlate near 0, so the two scores
live on different scales.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import numpy as np

from modelhound.fingerprint.agreement import hard_indices, label_agreement, output_agreement
from modelhound.fingerprint.sac import correlation_matrix, cutmix, matrix_similarity, sac_similarity

#: behaviour score at or above which a (suspect, reference) pair is called reused on
#: behaviour alone. bench/reuse (re-seeded zoo, 2026-11-28; results-combined.md): the highest
#: unrelated pair scores 0.929 (per root-lineage fold 0.919 and 0.929), so 0.95 keeps a margin
#: above every independent model of the same task. At this value behaviour alone flags
#: near-functional copies only; distilled and stolen students of the bench stay below it.
#: (0.875, the first calibration, held only because the old zoo shared initial weights
#: between lineages and those pairs were left out: it gives 287 false positives of 8,040.)
AGREEMENT_THRESHOLD = 0.95

#: weight strength at or above which weight evidence counts (modelhound.corpus.match's value)
WEIGHTS_THRESHOLD = 0.5

#: quantiles 0, 0.05, ..., 1 of ``behaviour`` over the 8,040 unrelated pairs of bench/reuse
#: (pair-based probes, seven signals): the null distribution behind :func:`behaviour_confidence`.
NULL_QUANTILES: tuple[float, ...] = (
    0.0000, 0.0195, 0.0283, 0.0346, 0.0404, 0.0467, 0.0542, 0.0611, 0.0698, 0.0814, 0.1910, 0.4144, 0.5187, 0.6449, 0.7115,
    0.7497, 0.7766, 0.8059, 0.8447, 0.8668, 0.9289,
)

#: highest confidence a behavioural verdict claims (about 1 - 1/7000 unrelated pairs, rounded)
CONFIDENCE_CAP = 0.999

#: weight kinds that count as weight evidence (the others say "nothing shared")
WEIGHT_KINDS = frozenset({"identical-weights", "near-identical", "half-precision", "quantized", "pruned", "fine-tuned"})


@dataclass(frozen=True)
class ReferenceProbes:
    """Per-reference data a zoo stores once: probe inputs and the reference's outputs."""

    inputs: np.ndarray
    """Canonical float images, seeds then hard then CutMix."""
    outputs: np.ndarray
    """The reference's (dequantized) outputs on ``inputs``, one row per input."""
    n_seeds: int
    n_hard: int
    n_cutmix: int
    probe_id: str = ""

    def part(self, name: str) -> slice:
        """Rows of ``inputs``/``outputs`` belonging to ``seeds``, ``hard`` or ``cutmix``."""
        bounds = {"seeds": (0, self.n_seeds), "hard": (self.n_seeds, self.n_seeds + self.n_hard),
                  "cutmix": (self.n_seeds + self.n_hard, self.n_seeds + self.n_hard + self.n_cutmix)}
        a, b = bounds[name]
        return slice(a, b)


@dataclass(frozen=True)
class BehaviourScores:
    """Behavioural similarity of a suspect to one reference."""

    sac_cutmix: float
    sac_seeds: float
    agree_cutmix: float
    out_cutmix: float
    out_hard: float
    agree_adv: float | None = None
    """Top-1 agreement (kappa) on the reference's ModelDiff twins x' (pair-based probes only)."""
    out_adv: float | None = None
    """1 - total variation of the softmax outputs on the twins x' (pair-based probes only)."""

    @property
    def behaviour(self) -> float:
        """The fixed-rule combination: the plain mean of the label-free signals (five, or
        seven with the twins of pair-based probes)."""
        vals = [self.sac_cutmix, self.sac_seeds, self.agree_cutmix, self.out_cutmix, self.out_hard]
        vals += [v for v in (self.agree_adv, self.out_adv) if v is not None]
        return float(np.mean(vals))


def reference_probes(
    run: Callable[[np.ndarray], np.ndarray],
    pool: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    n_seeds: int = 100,
    n_hard: int = 100,
    n_cutmix: int = 200,
    seed: int = 0,
    probe_id: str = "",
) -> ReferenceProbes:
    """Build a reference's stored probes from a pool of its domain images.

    ``run`` maps canonical images to the reference's outputs (N x K). ``labels`` (optional,
    the pool's true classes) switches the hard inputs from low-margin to misclassified.
    """
    pool = np.asarray(pool, dtype=np.float32)
    pool_out = np.asarray(run(pool), dtype=np.float32).reshape(len(pool), -1)
    hard = hard_indices(pool_out, labels, n_hard)
    mixed = cutmix(pool, n_cutmix, seed=seed)
    seeds = pool[:n_seeds]
    inputs = np.concatenate([seeds, pool[hard], mixed])
    outputs = np.concatenate([pool_out[: len(seeds)], pool_out[hard],
                              np.asarray(run(mixed), dtype=np.float32).reshape(len(mixed), -1)])
    return ReferenceProbes(inputs, outputs, len(seeds), len(hard), len(mixed), probe_id)


def behaviour_scores(probes: ReferenceProbes, suspect_outputs: np.ndarray) -> BehaviourScores:
    """Score a suspect's outputs on ``probes.inputs`` against the stored reference outputs."""
    s = np.asarray(suspect_outputs, dtype=np.float64).reshape(len(suspect_outputs), -1)
    if len(s) != len(probes.inputs):
        raise ValueError(f"suspect ran on {len(s)} inputs, the probes have {len(probes.inputs)}")
    r = probes.outputs
    cm, sd, hd = probes.part("cutmix"), probes.part("seeds"), probes.part("hard")
    return BehaviourScores(
        sac_cutmix=sac_similarity(correlation_matrix(r[cm]), s[cm]),
        sac_seeds=sac_similarity(correlation_matrix(r[sd]), s[sd]),
        agree_cutmix=label_agreement(r[cm], s[cm]),
        out_cutmix=output_agreement(r[cm], s[cm]),
        out_hard=output_agreement(r[hd], s[hd]),
    )


BEHAVIOUR_SCHEMA_VERSION = 2
"""Version of the stored :class:`PairProbes` layout (a zoo refuses other versions).
2: outputs wider than ``MAX_WIDTH`` are stored sketched."""

MAX_WIDTH = 2048
"""Outputs up to this width (every classifier up to ImageNet-21k's head, almost) are kept
as they are; wider ones (detectors, landmarks, segmentation maps: 36,288 values for a
MediaPipe palm detector) are reduced by :func:`sketch` before they are stored or scored."""


def sketch(outputs: np.ndarray, width: int = MAX_WIDTH) -> np.ndarray:
    """Rows of ``outputs`` reduced to ``width`` columns by a seeded count sketch (each input
    column added, with a random sign, into one of ``width`` buckets); rows no wider are
    returned as they are.

    The sketch depends only on the input width, so a reference and a suspect of the same
    width are sketched alike; it keeps inner products (hence the sample correlations of
    SAC) in expectation. It bounds what a zoo stores per reference (a 200 x 36,288 float
    matrix is 29 MB) and the cost of scoring it.
    """
    out = np.asarray(outputs, dtype=np.float32).reshape(len(outputs), -1)
    k = out.shape[1]
    if k <= width:
        return out
    rng = np.random.default_rng(k)
    bucket = rng.integers(0, width, size=k)
    sign = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=k)
    order = np.argsort(bucket, kind="stable")
    starts = np.searchsorted(bucket[order], np.arange(width))
    signed = (out * sign)[:, order]
    summed = np.add.reduceat(signed, np.minimum(starts, k - 1), axis=1)
    summed[:, np.bincount(bucket, minlength=width) == 0] = 0.0  # empty buckets
    return summed.astype(np.float32)


def probe_inputs(x: np.ndarray, x_adv: np.ndarray, n_cutmix: int | None = None, seed: int = 0) -> np.ndarray:
    """The inputs a suspect runs on for one probe set: the ModelDiff seeds ``x``, their twins
    ``x_adv``, then ``n_cutmix`` (default ``2 * len(x)``) CutMix images of the seeds.

    Deterministic from the pairs, so a zoo stores only the reference's outputs on them.
    Vector (non-image) pair sets get no CutMix rows.
    """
    x = np.asarray(x, dtype=np.float32)
    x_adv = np.asarray(x_adv, dtype=np.float32)
    parts = [x, x_adv]
    if x.ndim == 4:
        parts.append(cutmix(x, 2 * len(x) if n_cutmix is None else n_cutmix, seed=seed))
    return np.concatenate(parts)


def pair_matrices(outputs: np.ndarray, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample-correlation matrices of pair-probe outputs: on the CutMix rows (the seeds when
    there are none) and on the seeds."""
    r = np.asarray(sketch(outputs), dtype=np.float64)
    mix = r[2 * n_pairs :] if len(r) > 2 * n_pairs else r[:n_pairs]
    return correlation_matrix(mix), correlation_matrix(r[:n_pairs])


@dataclass(frozen=True)
class PairProbes:
    """What a zoo stores per reference to score behaviour on a ModelDiff pair set.

    ``outputs`` are the reference's outputs on :func:`probe_inputs` (seeds, twins, CutMix);
    ``hard`` the seeds on which the reference is least certain. A suspect's outputs on the
    same inputs are scored by :meth:`scores` with numpy only.
    """

    n_pairs: int
    outputs: np.ndarray
    hard: tuple[int, ...]
    probe_id: str = ""

    @classmethod
    def build(cls, outputs: np.ndarray, n_pairs: int, probe_id: str = "", n_hard: int | None = None) -> "PairProbes":
        """From the reference's outputs on :func:`probe_inputs` (hard = half of the seeds)."""
        out = sketch(outputs)
        k = n_pairs // 2 if n_hard is None else n_hard
        hard = hard_indices(out[:n_pairs], None, k)
        return cls(n_pairs, out, tuple(int(i) for i in hard), probe_id)

    def scores(self, suspect_outputs: np.ndarray,
               suspect_matrices: tuple[np.ndarray, np.ndarray] | None = None) -> BehaviourScores:
        """The suspect's behavioural similarity to the reference (rows as :func:`probe_inputs`).

        ``suspect_matrices`` (:func:`pair_matrices` of the suspect's outputs) saves recomputing
        them for every reference that shares the probe set.
        """
        s = np.asarray(sketch(suspect_outputs), dtype=np.float64)
        r = np.asarray(self.outputs, dtype=np.float64)
        if len(s) != len(r):
            raise ValueError(f"suspect ran on {len(s)} probe inputs, the reference on {len(r)}")
        n, hard = self.n_pairs, list(self.hard)
        seeds, adv, mix = slice(0, n), slice(n, 2 * n), slice(2 * n, len(r))
        has_mix = len(r) > 2 * n
        mix_r, mix_s = (r[mix], s[mix]) if has_mix else (r[seeds], s[seeds])
        cm_mix, cm_seeds = self._matrices
        sm_mix, sm_seeds = suspect_matrices if suspect_matrices is not None else pair_matrices(s, n)
        return BehaviourScores(
            sac_cutmix=matrix_similarity(cm_mix, sm_mix),
            sac_seeds=matrix_similarity(cm_seeds, sm_seeds),
            agree_cutmix=label_agreement(mix_r, mix_s),
            out_cutmix=output_agreement(mix_r, mix_s),
            out_hard=output_agreement(r[hard], s[hard]),
            agree_adv=label_agreement(r[adv], s[adv]),
            out_adv=output_agreement(r[adv], s[adv]),
        )

    @cached_property
    def _matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """The reference's correlation matrices on CutMix and on the seeds (computed once)."""
        return pair_matrices(self.outputs, self.n_pairs)

    def to_npz(self) -> dict[str, np.ndarray]:
        """Arrays for ``np.savez`` (with the layout version)."""
        return {"outputs": self.outputs, "hard": np.asarray(self.hard, dtype=np.int64),
                "n_pairs": np.asarray(self.n_pairs), "probe_id": np.asarray(self.probe_id),
                "schema_version": np.asarray(BEHAVIOUR_SCHEMA_VERSION)}

    @classmethod
    def from_npz(cls, z: Any, where: str = "") -> "PairProbes":
        """Read :meth:`to_npz` arrays; refuses other layout versions."""
        version = int(z["schema_version"]) if "schema_version" in z else None
        if version != BEHAVIOUR_SCHEMA_VERSION:
            raise ValueError(f"{where}: behaviour probes stored with layout version {version!r}, "
                             f"this modelhound reads {BEHAVIOUR_SCHEMA_VERSION}; rebuild the zoo")
        return cls(int(z["n_pairs"]), np.asarray(z["outputs"], dtype=np.float32),
                   tuple(int(i) for i in z["hard"]), str(z["probe_id"]))


def combined_score(weight_strength: float | None, weight_kind: str, behaviour: float | None) -> float:
    """One score in [0, 1], tiered: weight evidence first, behaviour below it.

    ``0.5 + 0.5 * w`` when the weights are of a weight kind with strength ``w`` at or above
    ``WEIGHTS_THRESHOLD``; otherwise ``0.5 * behaviour`` (0 when neither is known).
    """
    w = (weight_strength or 0.0) if weight_kind in WEIGHT_KINDS else 0.0
    if w >= WEIGHTS_THRESHOLD:
        return float(0.5 + 0.5 * w)
    return float(0.5 * (behaviour or 0.0))


def behaviour_confidence(behaviour: float, null_quantiles: tuple[float, ...] | None = None) -> float:
    """Share of unrelated pairs scoring below ``behaviour`` (1 - an empirical p-value).

    Interpolated in the stored null quantiles (``NULL_QUANTILES``, from bench/reuse); 0.0
    below the smallest unrelated score, and at most ``CONFIDENCE_CAP`` above the largest (the
    bench's few thousand unrelated pairs cannot support more).
    """
    q = np.asarray(null_quantiles if null_quantiles is not None else NULL_QUANTILES, dtype=np.float64)
    if len(q) < 2:
        raise ValueError("no null quantiles stored")
    levels = np.linspace(0.0, 1.0, len(q))
    return float(min(CONFIDENCE_CAP, np.interp(behaviour, q, levels, left=0.0, right=1.0)))
