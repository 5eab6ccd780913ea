"""White-box weight evidence: each kind of reuse leaves its own trace in the weights."""

from __future__ import annotations

import numpy as np
import pytest

from modelhound.extractor.tensors import NamedTensor, read_tensors
from modelhound.fingerprint.weights import compare_weights
from modelhound.records import ModelFormat
from tests.conftest import fixture_path


@pytest.fixture(scope="module")
def parent() -> list[NamedTensor]:
    data = fixture_path("models", "tflite", "mediapipe-0.10.14", "hand_recrop.tflite").read_bytes()
    return read_tensors(ModelFormat.TFLITE, "flatbuffer", data)


def _derive(tensors, fn, dtype=None):
    return [NamedTensor(t.name, fn(t.values).astype(np.float32), dtype or t.stored_dtype)
            for t in tensors]


def _int8(v):
    axes = tuple(range(1, v.ndim)) if v.ndim > 1 else None
    scale = np.abs(v).max(axis=axes, keepdims=True) / 127 if axes else np.abs(v).max() / 127
    scale = np.where(scale == 0, 1, scale)
    return np.round(v / scale).clip(-127, 127) * scale


def _prune(v, p=0.5):
    cut = np.quantile(np.abs(v), p)
    return np.where(np.abs(v) <= cut, 0, v)


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("name,fn,dtype,kind", [
    ("copy", lambda v: v, None, "identical-weights"),
    ("other layout", lambda v: np.ascontiguousarray(np.moveaxis(v, -1, 1)) if v.ndim == 4 else v,
     None, "identical-weights"),
    ("float16", lambda v: v.astype(np.float16), "float16", "half-precision"),
    ("int8", _int8, "int8", "quantized"),
    ("pruned 50%", _prune, None, "pruned"),
    ("fine-tuned", lambda v: v + 0.3 * v.std() * RNG.standard_normal(v.shape), None, "fine-tuned"),
])
def test_each_reuse_kind_is_named(parent, name, fn, dtype, kind):
    child = _derive(parent, fn, dtype)
    wm = compare_weights(child, parent)
    assert wm.kind == kind, (name, wm.evidence)
    assert wm.strength > 0.9 if kind != "fine-tuned" else wm.strength > 0.6


def test_partial_fine_tuning_keeps_frozen_layers_identical(parent):
    half = len(parent) // 2
    child = parent[:half] + _derive(parent[half:], lambda v: v + v.std() * RNG.standard_normal(v.shape))
    wm = compare_weights(child, parent)
    assert wm.kind == "fine-tuned" and 0.4 < wm.identical_fraction < 0.9


def test_independent_weights_of_the_same_architecture_do_not_match(parent):
    stranger = _derive(parent, lambda v: RNG.standard_normal(v.shape) * v.std() + v.mean())
    wm = compare_weights(stranger, parent)
    assert wm.kind == "none" and wm.strength < 0.1


def test_real_sibling_models_are_not_copies():
    def load(path):
        return read_tensors(ModelFormat.TFLITE, "flatbuffer",
                            fixture_path("models", "tflite", path).read_bytes())
    lite = load("mediapipe-0.10.21/hand_landmark_lite.tflite")
    full = load("mediapipe-0.10.21/hand_landmark_full.tflite")
    wm = compare_weights(full, lite)
    assert wm.strength < 0.2 and wm.kind in ("none", "partial")
