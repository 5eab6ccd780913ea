"""Paddle's spelt-out hard-swish runs in onnxruntime as ``x * HardSigmoid(x)``: same outputs.

Built here: a Paddle-style block (Conv -> ``x * Clip(x + 3, 0, 6) / 6`` -> pooled -> Gemm)
with a free batch, and a variant whose Clip output is also a graph output (not rewritten)."""

from __future__ import annotations

import numpy as np

from modelhound.converters.onnx_rewrites import hard_swish_for_onnxruntime
from modelhound.converters.runtimes import OnnxRunnable


def paddle_block(clip_is_output: bool = False, seed: int = 0) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name: str, value: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(value.astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "three"], ["a"]),
        helper.make_node("Clip", ["a", "zero", "six"], ["cl"]),
        helper.make_node("Mul", ["cl", "c"], ["mu"]),
        helper.make_node("Div", ["mu", "six"], ["hs"]),
        helper.make_node("GlobalAveragePool", ["hs"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w2"], ["y"], transB=1),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])]
    if clip_is_output:
        outputs.append(helper.make_tensor_value_info("cl", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes, "paddle_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 20])], outputs,
        [init("w", rng.normal(0, 1.0, (8, 3, 3, 3))), init("b", rng.normal(0, 1, 8)),
         init("three", np.array(3.0)), init("zero", np.array(0.0)), init("six", np.array(6.0)),
         init("w2", rng.normal(0, 0.5, (5, 8)))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 7
    return model.SerializeToString()


def _ops(onnx_model: bytes) -> list[str]:
    import onnx

    return [n.op_type for n in onnx.load_from_string(onnx_model).graph.node]


def test_the_spelt_out_hard_swish_becomes_hard_sigmoid_times_x() -> None:
    model = paddle_block()
    rewritten = hard_swish_for_onnxruntime(model)
    assert _ops(rewritten) == ["Conv", "HardSigmoid", "Mul", "GlobalAveragePool", "Flatten", "Gemm"]
    assert hard_swish_for_onnxruntime(rewritten) == rewritten  # nothing left to rewrite


def test_a_site_whose_intermediate_is_used_elsewhere_is_left_alone() -> None:
    model = paddle_block(clip_is_output=True)
    assert hard_swish_for_onnxruntime(model) == model
    assert hard_swish_for_onnxruntime(b"\x08\x07 not a model, but Clip and Div") == \
        b"\x08\x07 not a model, but Clip and Div"


def test_onnxruntime_runs_the_rewrite_and_computes_the_same_outputs() -> None:
    model = paddle_block()
    fast = OnnxRunnable(model)
    plain = OnnxRunnable(model, optimize=False)  # as given, no graph optimisation at all
    assert fast.rewritten and not plain.rewritten
    # activations on both sides of the hard-swish's kinks at -3 and 3
    x = np.random.default_rng(1).normal(0, 2, (16, 3, 12, 20)).astype(np.float32)
    y_fast, y_plain = fast.run([x])[0], plain.run([x])[0]
    assert y_fast.shape == (16, 5)
    np.testing.assert_allclose(y_fast, y_plain, rtol=1e-5, atol=1e-6 * np.abs(y_plain).max())
    assert not OnnxRunnable(paddle_block(clip_is_output=True)).rewritten
