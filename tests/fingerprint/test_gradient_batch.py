"""Batched PGD: graphs with a batch of 1 built in run all samples in one pass, and give
what running them one at a time gives (on a real MediaPipe model and on built graphs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelhound.fingerprint.gradient import gradient_available

if not gradient_available():
    pytest.skip("needs the 'gradient' extra (torch + onnx2torch)", allow_module_level=True)

from modelhound.fingerprint.gradient import (  # noqa: E402
    batch_mode,
    gradient_form,
    load_differentiable,
    pgd_perturb,
)
from modelhound.fingerprint.interface import PgdConfig  # noqa: E402


def _fixed_batch_graph() -> bytes:
    """A TFLite-style graph fixed at batch 1: conv, Reshape [1,-1,4] into a Concat along
    axis 1, a Slice that cuts axis 0 to [0, 1), and a DCR DepthToSpace."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w")
    inits = [
        w,
        numpy_helper.from_array(np.array([1, -1, 4], np.int64), "shape_a"),
        numpy_helper.from_array(np.array([0, 0, 0, 0], np.int64), "starts"),
        numpy_helper.from_array(np.array([1, 8, 4, 4], np.int64), "ends"),
        numpy_helper.from_array(np.array([0, 1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array([1, -1], np.int64), "shape_b"),
        numpy_helper.from_array(np.array([0.25, -0.5, 0.1, 0.2, 0.3, -0.1, 0.05, 0.4],
                                         np.float32).reshape(8, 1, 1), "slope"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["xt", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("PRelu", ["c", "slope"], ["p"]),
        helper.make_node("Reshape", ["p", "shape_a"], ["r1"]),
        helper.make_node("Slice", ["p", "starts", "ends", "axes"], ["s"]),
        helper.make_node("DepthToSpace", ["s"], ["d"], blocksize=2, mode="DCR"),
        helper.make_node("Reshape", ["d", "shape_a"], ["r2"]),
        helper.make_node("Concat", ["r1", "r2"], ["cat"], axis=1),
        helper.make_node("Reshape", ["cat", "shape_b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "fixed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 6, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 576])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_built_fixed_batch_graph_runs_batched_and_matches_onnxruntime() -> None:
    import onnxruntime as ort
    import torch

    onnx_model = _fixed_batch_graph()
    module = load_differentiable(onnx_model)
    x = np.random.default_rng(1).uniform(-1, 1, size=(5, 6, 6, 3)).astype(np.float32)
    assert batch_mode(module, torch.from_numpy(x))
    # The rewritten graph computes, for every sample of a batch, what the original
    # graph computes for that sample alone under onnxruntime.
    sess = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    want = np.concatenate([sess.run(None, {"x": x[i : i + 1]})[0] for i in range(5)])
    got = module(torch.from_numpy(x)).detach().numpy().reshape(5, -1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    free = ort.InferenceSession(gradient_form(onnx_model), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(free.run(None, {"x": x})[0].reshape(5, -1), want, rtol=1e-5, atol=1e-5)


def test_graph_that_mixes_samples_is_run_sample_by_sample() -> None:
    """Without the rewrite, [1, -1, 4] + Concat puts samples in each other's rows: the
    check sees it and PGD falls back to one sample at a time."""
    import onnx2torch
    import torch

    from modelhound.fingerprint.gradient import _stub_torchvision

    _stub_torchvision()
    import onnx

    graph = onnx.load_from_string(_fixed_batch_graph())
    kept = [n for n in graph.graph.node if n.op_type not in ("Slice", "DepthToSpace")]
    for n in kept:
        if n.op_type == "Reshape" and n.input[0] == "d":
            n.input[0] = "p"
    del graph.graph.node[:]
    graph.graph.node.extend(kept)
    module = onnx2torch.convert(graph)
    x = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, size=(4, 6, 6, 3)).astype(np.float32))
    assert not batch_mode(module, x)
    assert batch_mode(load_differentiable(graph.SerializeToString()), x)


@pytest.fixture(scope="module")
def face_detector_onnx(fixtures: Path) -> bytes:
    from modelhound.converters import ConverterPool
    from modelhound.extractor import extract

    path = fixtures / "models" / "tflite" / "mediapipe-0.10.14" / "face_detection_short_range.tflite"
    with ConverterPool(1) as pool:
        conv = pool.convert(extract(str(path)).models[0])
    assert conv.runnable and conv.onnx is not None
    return conv.onnx


def test_real_model_batched_pgd_equals_per_sample(face_detector_onnx: bytes) -> None:
    """face_detection_short_range (batch fixed at 1, Reshapes [1, -1, 16] into Concat):
    batched PGD gives the pairs the one-sample-at-a-time path gives."""
    import onnx

    dims = onnx.load_from_string(face_detector_onnx).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 128, 128, 3]
    module = load_differentiable(face_detector_onnx)
    x = np.random.default_rng(3).uniform(-1, 1, size=(6, 128, 128, 3)).astype(np.float32)
    import torch

    assert batch_mode(module, torch.from_numpy(x))
    config = PgdConfig(steps=3)
    batched = pgd_perturb(module, x, config, batched=True)
    single = pgd_perturb(module, x, config, batched=False)
    # sign-gradient steps: a coordinate whose gradient is ~0 may take the other sign
    # under another summation order; everything else is the same value.
    same = np.isclose(batched, single, atol=1e-6)
    assert same.mean() > 0.999
    assert np.abs(batched - x).max() <= config.eps + 1e-6
    assert not np.allclose(batched, x)
