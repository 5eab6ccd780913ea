"""SAC-m, label agreement and the combined detector on small built cases.

Models are numpy softmax regressions trained here on scikit-learn's 8x8 digits (shared
fixture data): a teacher, a copy stolen from its labels on its own training inputs, and an
independent model trained on true labels of other images.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from modelhound.fingerprint.agreement import hard_indices, kappa, label_agreement, output_agreement
from modelhound.fingerprint.detector import (
    ReferenceProbes,
    behaviour_scores,
    combined_score,
    reference_probes,
)
from modelhound.fingerprint.sac import correlation_matrix, cutmix, sac_similarity

DIGITS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "data" / "sklearn" / "digits.csv.gz"


def _digits() -> tuple[np.ndarray, np.ndarray]:
    if not DIGITS.exists():
        pytest.skip("shared fixture data (sklearn digits) not present")
    with gzip.open(DIGITS) as fh:
        d = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    return (d[:, :64] / 16.0).reshape(-1, 8, 8, 1), d[:, 64].astype(np.int64)


def _train(x: np.ndarray, y: np.ndarray, seed: int, steps: int = 150) -> Callable[[np.ndarray], np.ndarray]:
    """A softmax regression (logits out), full-batch gradient descent from a seeded init."""
    rng = np.random.default_rng(seed)
    f = x.reshape(len(x), -1)
    w = rng.normal(0, 0.1, (f.shape[1], 10))
    b = np.zeros(10)
    onehot = np.eye(10)[y]
    for _ in range(steps):
        z = f @ w + b
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / len(f)
        w -= 0.5 * (f.T @ g)
        b -= 0.5 * g.sum(axis=0)

    def run(images: np.ndarray) -> np.ndarray:
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1) @ w + b

    return run


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    x, y = _digits()
    a, pool = slice(0, 500), slice(1000, 1600)
    teacher = _train(x[a], y[a], seed=1)
    stolen = _train(x[a], teacher(x[a]).argmax(axis=1), seed=2)  # labels only, teacher's inputs
    unrelated = _train(x[500:1000], y[500:1000], seed=3)  # other images, true labels
    return {"x": x, "y": y, "pool": x[pool], "teacher": teacher, "stolen": stolen, "unrelated": unrelated}


def test_identical_model_scores_maximal(models: dict) -> None:
    probes = reference_probes(models["teacher"], models["pool"], seed=0)
    s = behaviour_scores(probes, models["teacher"](probes.inputs))
    assert s.sac_cutmix == pytest.approx(1.0) and s.sac_seeds == pytest.approx(1.0)
    assert s.agree_cutmix == pytest.approx(1.0)
    assert s.out_cutmix == pytest.approx(1.0) and s.out_hard == pytest.approx(1.0)
    assert s.behaviour == pytest.approx(1.0)


def test_label_stolen_copy_above_unrelated(models: dict) -> None:
    probes = reference_probes(models["teacher"], models["pool"], seed=0)
    stolen = behaviour_scores(probes, models["stolen"](probes.inputs))
    unrelated = behaviour_scores(probes, models["unrelated"](probes.inputs))
    assert stolen.behaviour > unrelated.behaviour
    assert stolen.agree_cutmix > unrelated.agree_cutmix
    assert stolen.behaviour < 1.0  # a stolen copy is not the model itself


def test_probes_are_deterministic(models: dict) -> None:
    p1 = reference_probes(models["teacher"], models["pool"], seed=5)
    p2 = reference_probes(models["teacher"], models["pool"], seed=5)
    p3 = reference_probes(models["teacher"], models["pool"], seed=6)
    assert np.array_equal(p1.inputs, p2.inputs) and np.array_equal(p1.outputs, p2.outputs)
    assert not np.array_equal(p1.inputs[p1.part("cutmix")], p3.inputs[p3.part("cutmix")])
    assert (p1.n_seeds, p1.n_hard, p1.n_cutmix) == (100, 100, 200)
    a = behaviour_scores(p1, models["stolen"](p1.inputs))
    b = behaviour_scores(p2, models["stolen"](p2.inputs))
    assert a == b


def test_hard_inputs_with_labels_are_the_misclassified_ones(models: dict) -> None:
    pool, y = models["pool"], models["y"][1000:1600]
    out = models["teacher"](pool)
    wrong = hard_indices(out, y, k=1000)
    assert len(wrong) > 0 and np.all(out[wrong].argmax(axis=1) != y[wrong])
    low = hard_indices(out, None, k=10)
    top2 = np.sort(out, axis=1)[:, -2:]
    margins = top2[:, 1] - top2[:, 0]
    assert margins[low].max() <= np.sort(margins)[9] + 1e-12


def test_cutmix_pastes_a_box_of_another_image() -> None:
    imgs = np.stack([np.zeros((8, 8, 1)), np.ones((8, 8, 1))]).astype(np.float32)
    mixed = cutmix(imgs, 50, seed=0)
    assert mixed.shape == (50, 8, 8, 1)
    assert set(np.unique(mixed)) <= {0.0, 1.0}
    assert np.array_equal(mixed, cutmix(imgs, 50, seed=0))


def test_signal_edge_cases() -> None:
    a = np.random.default_rng(0).normal(size=(20, 10))
    assert sac_similarity(correlation_matrix(a), a) == pytest.approx(1.0)
    assert label_agreement(a, a[:, :2]) == 0.0  # different label spaces
    assert output_agreement(a, a) == pytest.approx(1.0)
    assert kappa(np.zeros(5, int), np.zeros(5, int), 3) == 1.0  # both constant and equal
    with pytest.raises(ValueError):
        sac_similarity(correlation_matrix(a), a[:10])
    probes = ReferenceProbes(a, a, 5, 5, 10)
    with pytest.raises(ValueError):
        behaviour_scores(probes, a[:3])


def test_combined_score_prefers_weight_evidence_of_a_weight_kind() -> None:
    assert combined_score(0.99, "quantized", 0.2) > combined_score(None, "", 0.9)
    assert combined_score(0.99, "none", 0.2) == combined_score(None, "", 0.2)


def test_confidence_follows_the_null_quantiles() -> None:
    from modelhound.fingerprint.detector import CONFIDENCE_CAP, behaviour_confidence

    q = tuple(np.linspace(0.2, 0.8, 21))
    assert behaviour_confidence(0.1, q) == 0.0
    assert behaviour_confidence(0.5, q) == pytest.approx(0.5)
    assert behaviour_confidence(0.95, q) == CONFIDENCE_CAP


def test_match_verdict_uses_agreement_only_where_weights_and_modeldiff_are_silent() -> None:
    from modelhound.corpus.match import Signals, decide, verdict
    from modelhound.fingerprint.detector import AGREEMENT_THRESHOLD

    # Existing behaviour unchanged: weights decide first, no agreement field needed.
    assert verdict(Signals("r", weight_strength=0.99, weight_kind="quantized")) == (True, "quantized", 0.995)
    assert verdict(Signals("r", weight_strength=0.99, weight_kind="quantized", agreement=0.1))[1] == "quantized"
    reused, kind, conf = verdict(Signals("r", weight_strength=0.0, weight_kind="none", agreement=AGREEMENT_THRESHOLD + 0.01))
    assert reused and kind == "distilled or stolen" and 0.5 < conf <= 1.0
    assert not verdict(Signals("r", weight_strength=0.0, weight_kind="none", agreement=AGREEMENT_THRESHOLD - 0.01))[0]
    m = decide([Signals("a", agreement=0.3), Signals("b", agreement=AGREEMENT_THRESHOLD + 0.05)])
    assert m is not None and m.reference == "b" and m.verdict == "reused" and "behavioural agreement" in m.evidence


def test_pair_probes_score_the_stolen_copy_above_the_unrelated_one(models: dict) -> None:
    from modelhound.fingerprint.detector import PairProbes, probe_inputs

    seeds = models["pool"][:40]
    twins = np.clip(seeds + np.random.default_rng(0).uniform(-0.06, 0.06, seeds.shape), 0, 1).astype(np.float32)
    x = probe_inputs(seeds, twins)
    assert len(x) == 40 + 40 + 80 and np.array_equal(x, probe_inputs(seeds, twins))  # deterministic
    probes = PairProbes.build(models["teacher"](x), 40)
    assert len(probes.hard) == 20
    assert probes.scores(models["teacher"](x)).behaviour == pytest.approx(1.0)
    stolen, unrelated = probes.scores(models["stolen"](x)), probes.scores(models["unrelated"](x))
    assert stolen.behaviour > unrelated.behaviour
    assert stolen.agree_adv is not None and stolen.out_adv is not None
    with pytest.raises(ValueError, match="probe inputs"):
        probes.scores(models["teacher"](x[:-1]))


def test_pair_probes_round_trip_and_refuse_other_layouts(tmp_path: Path) -> None:
    from modelhound.fingerprint.detector import PairProbes, probe_inputs

    seeds = np.random.default_rng(1).random((6, 5)).astype(np.float32)  # a vector pair set
    x = probe_inputs(seeds, seeds + 0.01)
    assert len(x) == 12  # no CutMix for vectors
    p = PairProbes.build(np.random.default_rng(2).random((12, 3)), 6, probe_id="abc")
    np.savez(tmp_path / "b.npz", **p.to_npz())
    with np.load(tmp_path / "b.npz") as z:
        q = PairProbes.from_npz(z)
    assert (q.n_pairs, q.hard, q.probe_id) == (6, p.hard, "abc") and np.array_equal(q.outputs, p.outputs)
    assert q.scores(p.outputs).behaviour == pytest.approx(1.0)
    bad = {**p.to_npz(), "schema_version": np.asarray(99)}
    np.savez(tmp_path / "c.npz", **bad)
    with np.load(tmp_path / "c.npz") as z, pytest.raises(ValueError, match="layout version 99"):
        PairProbes.from_npz(z, "c.npz")


def test_wide_outputs_are_sketched_alike_and_keep_their_correlations() -> None:
    from modelhound.fingerprint.detector import MAX_WIDTH, PairProbes, sketch

    narrow = np.random.default_rng(0).random((4, 10)).astype(np.float32)
    assert np.array_equal(sketch(narrow), narrow)
    wide = np.random.default_rng(1).standard_normal((30, 36288)).astype(np.float32)
    s = sketch(wide)
    assert s.shape == (30, MAX_WIDTH) and np.array_equal(s, sketch(wide))  # seeded by the width
    assert np.corrcoef(correlation_matrix(wide).ravel(), correlation_matrix(s).ravel())[0, 1] > 0.99
    p = PairProbes.build(wide[:20], 10)  # stored sketched: 20 x 2048, not 20 x 36288
    assert p.outputs.shape == (20, MAX_WIDTH)
    assert p.scores(wide[:20]).behaviour == pytest.approx(1.0)  # the suspect is sketched the same way
