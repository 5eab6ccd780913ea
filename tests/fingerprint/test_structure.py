"""Architecture signatures on the real MTCNN files: same shapes across formats and layouts,
and the same architecture with independent weights is evidence, not a verdict."""

from __future__ import annotations

import numpy as np

from modelhound.corpus.match import Signals, decide, verdict
from modelhound.extractor import extract
from modelhound.extractor.tensors import NamedTensor, read_tensors
from modelhound.fingerprint.structure import SAME_ARCHITECTURE, shape_key, structure_similarity
from modelhound.fingerprint.weights import compare_weights
from tests.conftest import fixture_path


def _tensors(*parts: str) -> list[NamedTensor]:
    found = extract(str(fixture_path(*parts))).models[0]
    e = found.entry
    return read_tensors(e.format, e.subformat, found.data, found.companions)


def test_shape_keys_ignore_layout_and_unit_axes() -> None:
    assert shape_key((10, 3, 3, 3)) == shape_key((3, 3, 3, 10)) == shape_key((1, 3, 3, 3, 10))
    t = [NamedTensor("w", np.zeros((8, 3, 3, 4), np.float32), "float32")]
    moved = [NamedTensor("w", np.zeros((3, 3, 4, 8), np.float32), "float32")]
    assert structure_similarity(t, moved) == 1.0
    assert structure_similarity(t, []) is None


def test_mtcnn_in_pytorch_ncnn_and_caffe_share_an_architecture() -> None:
    pnet_torch = _tensors("models", "pytorch", "facenet-pytorch-mtcnn-pnet.pt")
    pnet_ncnn = _tensors("models", "ncnn", "mtcnn-det1.param")
    pnet_caffe = _tensors("models", "caffe", "mtcnn-det1.caffemodel")
    rnet_torch = _tensors("models", "pytorch", "facenet-pytorch-mtcnn-rnet.pt")
    assert structure_similarity(pnet_torch, pnet_ncnn) == 1.0
    assert structure_similarity(pnet_torch, pnet_caffe) >= SAME_ARCHITECTURE  # + a landmark head
    assert structure_similarity(pnet_torch, rnet_torch) < 0.5  # another MTCNN stage


def test_same_architecture_without_shared_weights_is_not_reuse() -> None:
    ncnn = _tensors("models", "ncnn", "mtcnn-det1.param")
    caffe = _tensors("models", "caffe", "mtcnn-det1.caffemodel")
    wm = compare_weights(caffe, ncnn)
    s = Signals("mtcnn-pnet", weight_strength=wm.strength, weight_kind=wm.kind, weight_evidence=wm.evidence,
                structure=structure_similarity(caffe, ncnn))
    assert verdict(s)[0] is False
    m = decide([s])
    assert m is not None and m.verdict == "not-reused" and "same architecture" in m.evidence
