"""The fast torch copy PGD runs through computes what the plain onnx2torch copy computes.

Built here: a Paddle-style block (Conv -> BatchNormalization -> hard-swish spelt as
``x * Clip(x + 3, 0, 6) / 6`` -> pooled -> Gemm) with a free batch, as PaddleOCR's exports
are made of."""

from __future__ import annotations

import numpy as np
import pytest

from modelhound.fingerprint.gradient import gradient_available

pytestmark = pytest.mark.skipif(not gradient_available(), reason="needs the gradient extra")


def paddle_block(seed: int = 0) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name: str, value: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(value.astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["bn"]),
        helper.make_node("Add", ["bn", "three"], ["a"]),
        helper.make_node("Clip", ["a", "zero", "six"], ["cl"]),
        helper.make_node("Mul", ["bn", "cl"], ["mu"]),
        helper.make_node("Div", ["mu", "six"], ["hs"]),
        helper.make_node("GlobalAveragePool", ["hs"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w2"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "paddle_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 20])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        [init("w", rng.normal(0, 0.5, (8, 3, 3, 3))), init("g", rng.uniform(0.5, 2, 8)),
         init("b", rng.normal(0, 1, 8)), init("m", rng.normal(0, 0.5, 8)),
         init("v", rng.uniform(0.5, 2, 8)), init("three", np.array(3.0)),
         init("zero", np.array(0.0)), init("six", np.array(6.0)),
         init("w2", rng.normal(0, 0.5, (5, 8)))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def _ops(onnx_model: bytes) -> list[str]:
    import onnx

    return [n.op_type for n in onnx.load_from_string(onnx_model).graph.node]


def test_batchnorm_is_folded_and_hard_swish_fused() -> None:
    from modelhound.fingerprint.gradient_speed import basic_optimized, fuse_hard_swish

    model = paddle_block()
    basic = basic_optimized(model)
    assert "BatchNormalization" not in _ops(basic)
    fused = fuse_hard_swish(basic)
    ops = _ops(fused)
    assert ops.count("HardSwish") == 1
    assert not {"Clip", "Div", "Mul"} & set(ops)
    assert fuse_hard_swish(fused) == fused  # nothing left to fuse


def test_fast_copy_gives_the_same_outputs_and_input_gradients() -> None:
    import torch

    from modelhound.fingerprint.gradient import load_differentiable

    model = paddle_block()
    plain, fast = load_differentiable(model, fast=False), load_differentiable(model, fast=True)
    names = {type(m).__name__ for m in fast.modules()}
    assert "Hardswish" in names and "Hardswish" not in {type(m).__name__ for m in plain.modules()}
    # inputs across the hard-swish kinks (-3 and 3 after the BatchNorm)
    x = torch.from_numpy(np.random.default_rng(1).normal(0, 3, (6, 3, 12, 20)).astype(np.float32))

    def out_and_grad(module):
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        (g,) = torch.autograd.grad((y * torch.linspace(-1, 1, 5)).sum(), xi)
        return y.detach().numpy(), g.numpy()

    (y0, g0), (y1, g1) = out_and_grad(plain), out_and_grad(fast)
    np.testing.assert_allclose(y1, y0, rtol=1e-4, atol=1e-5 * np.abs(y0).max())
    np.testing.assert_allclose(g1, g0, rtol=1e-3, atol=1e-4 * np.abs(g0).max())


def test_a_graph_onnxruntime_refuses_is_returned_unchanged() -> None:
    from modelhound.fingerprint.gradient_speed import basic_optimized

    assert basic_optimized(b"not an onnx model") == b"not an onnx model"


def same_padded_block(seed: int = 0) -> bytes:
    """TensorFlow's ``SAME`` padding at stride 2, as tf2onnx writes it for MediaPipe's
    TFLite models: a dense Conv and two depthwise Convs padded more after than before
    (3x3: 0/1, 5x5: 1/2), one of them with a different split per axis, then ReLU6."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name: str, value: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(value.astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("Clip", ["c0", "zero", "six"], ["r0"]),
        helper.make_node("Conv", ["r0", "w1"], ["c1"], strides=[2, 2], group=8,
                         kernel_shape=[3, 3], pads=[0, 0, 1, 1]),
        helper.make_node("Clip", ["c1", "zero", "six"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 1], group=8,
                         pads=[1, 2, 2, 2]),
        helper.make_node("GlobalAveragePool", ["c2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "same_padded_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 23, 20])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [init("w0", rng.normal(0, 0.5, (8, 3, 3, 3))), init("b0", rng.normal(0, 0.5, 8)),
         init("w1", rng.normal(0, 0.5, (8, 1, 3, 3))),
         init("w2", rng.normal(0, 0.5, (8, 1, 5, 5))), init("b2", rng.normal(0, 0.5, 8)),
         init("zero", np.array(0.0)), init("six", np.array(6.0))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def _convs(onnx_model: bytes) -> list[tuple[list[int], tuple[int, ...]]]:
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(onnx_model)
    weights = {t.name: numpy_helper.to_array(t).shape for t in model.graph.initializer}
    return [([int(p) for p in helper.get_attribute_value(
                next(a for a in n.attribute if a.name == "pads"))], weights[n.input[1]])
            for n in model.graph.node if n.op_type == "Conv"]


def test_depthwise_convs_padded_more_on_one_side_get_symmetric_pads() -> None:
    from modelhound.fingerprint.gradient_speed import symmetric_depthwise_pads

    model = same_padded_block()
    rewritten = symmetric_depthwise_pads(model)
    assert _convs(rewritten) == [
        ([0, 0, 1, 1], (8, 3, 3, 3)),  # dense: left as it was
        ([1, 1, 1, 1], (8, 1, 4, 4)),  # one zero tap before, in each axis
        ([2, 2, 2, 2], (8, 1, 6, 5)),  # height 1/2 -> 2/2 (+1 tap); width 2/2 untouched
    ]
    assert symmetric_depthwise_pads(rewritten) == rewritten  # nothing left to rewrite


def test_symmetric_pads_give_the_same_outputs_and_input_gradients(monkeypatch) -> None:
    import torch

    from modelhound.fingerprint import gradient_speed
    from modelhound.fingerprint.gradient import load_differentiable

    model = same_padded_block()
    fast = load_differentiable(model, fast=True)
    # the fast copy without rewrite 5
    monkeypatch.setattr(gradient_speed, "symmetric_depthwise_pads", lambda m: m)
    padded = load_differentiable(model, fast=True)
    # the rewritten copy has one explicit pad left (the dense Conv's), the other three
    pads = [sum("Pad" in type(m).__name__ for m in mod.modules()) for mod in (fast, padded)]
    assert pads[0] < pads[1]
    x = torch.from_numpy(np.random.default_rng(1).normal(0, 2, (5, 3, 23, 20)).astype(np.float32))

    def out_and_grad(module):
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        (g,) = torch.autograd.grad((y * torch.linspace(-1, 1, 8)).sum(), xi)
        return y.detach().numpy(), g.numpy()

    (y0, g0), (y1, g1) = out_and_grad(padded), out_and_grad(fast)
    assert y1.shape == y0.shape == (5, 8)
    np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-6 * np.abs(y0).max())
    np.testing.assert_allclose(g1, g0, rtol=1e-5, atol=1e-6 * np.abs(g0).max())
    assert (np.sign(g1) == np.sign(g0)).mean() > 0.999
