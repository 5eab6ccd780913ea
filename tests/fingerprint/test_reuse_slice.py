"""A slice of the reuse benchmark: copies, quantized and fine-tuned children are recognised,
unrelated models are not. Pairs are generated on the reference (the scanner's protocol)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from modelhound.fingerprint.compare import DEFAULT_THRESHOLD, compare_on_pairs, compare_runnables
from modelhound.fingerprint.interface import Generator, SearchConfig, Verdict

from modelhound.fingerprint.gradient import gradient_available

if not gradient_available():
    pytest.skip("needs the 'gradient' extra (torch + onnx2torch)", allow_module_level=True)


def _runners(slice_: dict[str, Any]) -> tuple[Any, Any]:
    from modelhound.converters.runtimes import LiteRTRunnable, OnnxRunnable

    built = slice_["built"]
    lite = {n: LiteRTRunnable(b.tflite.read_bytes()) for n, b in built.items()}
    return lite, OnnxRunnable


def _seeds(task: str) -> Any:
    from conftest import BENCH  # noqa: F401 - bench/reuse is on sys.path via the fixture

    sys.path.insert(0, str(BENCH))
    from data import seed_images  # type: ignore[import-not-found]

    from modelhound.fingerprint.seeds import image_seeds

    return image_seeds(seed_images(task), f"{task} seeds")


def test_slice(reuse_slice: dict[str, Any]) -> None:
    built = reuse_slice["built"]
    lite, OnnxRunnable = _runners(reuse_slice)
    root, tr, q8, qdyn, indep_cnn, indep_dw = reuse_slice["names"]

    # An identical copy in another runnable form (ONNX under onnxruntime): similarity ~1.
    copy = compare_runnables(
        lite[root], OnnxRunnable(built[root].onnx.read_bytes()), seeds=_seeds("mnist"),
        onnx_a=built[root].onnx.read_bytes(), method=Generator.PGD,
    )
    assert copy.similarity > 0.999
    assert copy.verdict is Verdict.REUSED
    assert copy.generator is Generator.PGD and copy.n_pairs == 100

    def on_pairs_of(reference: str, suspect: str) -> float:
        from modelhound.fingerprint.generate import generate_pairs

        b = built[reference]
        pairs = generate_pairs(lite[reference], _seeds(b.spec.task), onnx_model=b.onnx.read_bytes(), method=Generator.PGD)
        return compare_on_pairs(lite[reference], lite[suspect], pairs).similarity

    # Quantized children (full int8 with int8 input/output; dynamic-range) match their parent.
    s_q8, s_qdyn = on_pairs_of(tr, q8), on_pairs_of(tr, qdyn)
    assert s_q8 > 0.95 and s_qdyn > 0.99
    # Unrelated models, each on its own pairs (what a zoo scan does).
    unrelated_tr = [on_pairs_of(u, tr) for u in (indep_cnn, indep_dw)]
    assert max(unrelated_tr) < min(s_q8, s_qdyn)
    # The fine-tuned child (transfer: new head, the rest frozen) is closer to its root than
    # to any unrelated model. (Pruned-then-fine-tuned children are not reliably ranked
    # above unrelated models of the same task by ModelDiff here: see bench/reuse/results.md.)
    s_ft = on_pairs_of(root, tr)
    assert s_ft > max(unrelated_tr)
    # An independently trained model of the same architecture on the same data is not
    # flagged as a copy of the root.
    s_indep = on_pairs_of(root, indep_cnn)
    assert s_indep < copy.similarity - 0.05
    # Unrelated models get the "not reused" verdict at the calibrated threshold.
    assert max([*unrelated_tr, s_indep]) < DEFAULT_THRESHOLD


def test_pgd_respects_eps_clip_and_seed(reuse_slice: dict[str, Any]) -> None:
    from modelhound.fingerprint.generate import generate_pairs

    built = reuse_slice["built"]
    lite, _ = _runners(reuse_slice)
    root = reuse_slice["names"][0]
    seeds = _seeds("mnist")
    onnx = built[root].onnx.read_bytes()
    p1 = generate_pairs(lite[root], seeds, onnx_model=onnx, method=Generator.PGD)
    p2 = generate_pairs(lite[root], seeds, onnx_model=onnx, method=Generator.PGD)
    assert p1.pairs_id == p2.pairs_id
    delta = p1.x_adv - p1.x
    assert np.abs(delta).max() <= 0.06 + 1e-5
    assert np.abs(delta).mean() > 0.01
    assert p1.x_adv.min() >= seeds.data.min() - 1e-6 and p1.x_adv.max() <= seeds.data.max() + 1e-6


def test_black_box_score_search(reuse_slice: dict[str, Any]) -> None:
    from modelhound.fingerprint.generate import generate_pairs

    built = reuse_slice["built"]
    lite, OnnxRunnable = _runners(reuse_slice)
    root = reuse_slice["names"][0]
    seeds = _seeds("mnist")
    cfg = SearchConfig(iterations=60)
    pairs = generate_pairs(lite[root], seeds, method=Generator.SCORE_SEARCH, search=cfg)
    assert pairs.generator is Generator.SCORE_SEARCH
    changed = np.abs(pairs.x_adv - pairs.x).reshape(len(pairs.x), -1).max(axis=1)
    assert (changed > 0).sum() > 0
    assert pairs.x_adv.min() >= 0.0 and pairs.x_adv.max() <= 1.0
    assert generate_pairs(lite[root], seeds, method=Generator.SCORE_SEARCH, search=cfg).pairs_id == pairs.pairs_id
    same = compare_on_pairs(lite[root], OnnxRunnable(built[root].onnx.read_bytes()), pairs)
    assert same.similarity > 0.999
