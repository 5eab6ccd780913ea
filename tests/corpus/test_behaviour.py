"""Behavioural matching: a model whose weights share nothing with the reference but which
computes the same function is caught by ModelDiff on the zoo's probe pairs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelhound import samples
from modelhound.converters import ConverterPool
from modelhound.corpus.build import ProfileSettings, add_reference
from modelhound.corpus.match import Matcher
from modelhound.corpus.zoo import Zoo
from modelhound.extractor.tensors import read_tensors
from modelhound.records import ModelFormat
from tests.corpus.helpers import found_model

N_IN, N_OUT = 24, 10


def _two_layer(a: np.ndarray, b: np.ndarray) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "A"], ["h"]), helper.make_node("MatMul", ["h", "B"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, N_IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N_OUT])],
        initializer=[numpy_helper.from_array(a.astype(np.float32), "A"),
                     numpy_helper.from_array(b.astype(np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    z = Zoo.open(tmp_path_factory.mktemp("bzoo"), create=True)
    ref = samples.tflite_model(N_IN, N_OUT, seed=7)
    with ConverterPool(1) as pool:
        r = add_reference(z, found_model(ref, "ref.tflite"), pool=pool, name="ref",
                          settings=ProfileSettings(n_pairs=30, pgd_steps=3))
    assert r.probe_id and r.runnable, r.profile_note
    return z, ref


def _match(z, data: bytes):
    from modelhound.corpus.suspect import run_suspect

    found = found_model(data, "suspect.onnx")
    with ConverterPool(1) as pool:
        conv = pool.convert(found)
    run = run_suspect(Matcher(z), found, conv)
    tensors = read_tensors(found.entry.format, found.entry.subformat, found.data)
    return Matcher(z).match(found.entry.sha256, tensors, run.ddvs, run.note, run.outputs)


def test_same_function_with_unrelated_weights_is_caught_by_behaviour(zoo):
    z, ref = zoo
    w = read_tensors(ModelFormat.TFLITE, "flatbuffer", ref)[0].values  # (N_OUT, N_IN)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((N_IN, N_IN)) + 3 * np.eye(N_IN)
    # x @ A @ (A^-1 @ W^T) == x @ W^T: the reference's function (less its small bias),
    # computed by two layers that share no weight with it
    m = _match(z, _two_layer(a, np.linalg.inv(a) @ w.T))
    assert m.signals[0].weight_kind in ("none", "")
    assert m.similarity is not None and m.similarity > 0.8
    # the stored behaviour probes (seeds, twins, CutMix) see the same function too (less the
    # reference's bias, which the copy drops: below the verdict threshold of 0.95, far above
    # the unrelated function of the next test)
    assert m.signals[0].agreement is not None and m.signals[0].agreement > 0.8
    assert "behavioural agreement" in m.evidence
    assert (m.verdict, m.reuse_type) == ("reused", "distilled or stolen")


def test_a_different_function_is_not_matched(zoo):
    z, _ = zoo
    rng = np.random.default_rng(11)
    m = _match(z, _two_layer(rng.standard_normal((N_IN, N_IN)), rng.standard_normal((N_IN, N_OUT))))
    assert m.verdict == "not-reused"
    assert m.similarity is not None and m.similarity < 0.8
    assert m.signals[0].agreement is not None and m.signals[0].agreement < 0.5
