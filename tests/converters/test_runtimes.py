"""The runnable forms: batching, dequantization, registry and entry points."""

from __future__ import annotations

import numpy as np
import pytest

from modelhound.converters import Conversion, ConversionError, fidelity, load_runnable
from modelhound.converters.registry import CONVERTERS, convert_here
from modelhound.converters.runtimes import LiteRTRunnable, OnnxRunnable, dequantize
from modelhound.records import RUNNABLE_FORMATS, ModelFormat, Quantization
from tests.converters.conftest import MODELS, found_model


def test_registry_covers_runnable_formats() -> None:
    """One converter per runnable format, and nothing else."""
    assert set(CONVERTERS) == set(RUNNABLE_FORMATS)


def test_unsupported_format_is_a_row_not_an_exception() -> None:
    """convert_here never raises for a format without a converter."""
    conv = convert_here(found_model("a.tnnmodel", b"\0" * 64, ModelFormat.TNN))
    assert not conv.runnable and "no converter for format tnn" in conv.reason


def test_litert_fixed_batch_loops_over_samples() -> None:
    """A batch-1 TFLite model takes batch 3; each row equals the single-sample run."""
    runner = LiteRTRunnable((MODELS / "tflite" / "mediapipe-0.10.14" / "hand_recrop.tflite").read_bytes())
    assert runner.inputs[0].shape == (1, 256, 256, 3) and runner.inputs[0].layout == "NHWC"
    batch = fidelity.seeded_inputs(runner.inputs, batch=3, seed=2)
    together = runner.run(batch)
    for b in range(3):
        alone = runner.run([x[b:b + 1] for x in batch])
        for t, a in zip(together, alone):
            np.testing.assert_array_equal(t[b:b + 1], a)


def test_onnx_dynamic_batch_runs_in_one_call() -> None:
    """An ONNX model with a symbolic batch takes any batch size."""
    runner = OnnxRunnable((MODELS / "onnx" / "Stateful-CNN-HAR-CNN.onnx").read_bytes())
    assert runner.inputs[0].shape[0] == -1
    out = runner.run(fidelity.seeded_inputs(runner.inputs, batch=5))
    assert out[0].shape[0] == 5 and out[0].dtype == np.float32


def test_dequantize_per_tensor_and_per_axis() -> None:
    """real = scale * (q - zero_point), per tensor and along the quantized axis."""
    q = np.array([[0, 10], [20, 30]], np.int8)
    np.testing.assert_allclose(dequantize(q, Quantization((0.5,), (10,))), [[-5, 0], [5, 10]])
    per_axis = dequantize(q, Quantization((1.0, 2.0), (0, 0), axis=1))
    np.testing.assert_allclose(per_axis, [[0, 20], [20, 60]])
    assert dequantize(np.ones(2, np.float16), None).dtype == np.float32


def test_relative_error_definition() -> None:
    """max|a-b| / max|b|, worst over outputs; shape mismatch is an error, not a number."""
    ref = [np.array([1.0, -4.0]), np.array([0.5])]
    assert fidelity.relative_error([np.array([1.0, -3.0]), np.array([0.5])], ref) == pytest.approx(0.25)
    assert fidelity.relative_error([np.array([1.0, -4.0]), np.array([0.6])], ref) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        fidelity.relative_error([np.zeros(3), np.zeros(1)], ref)


def test_seeded_inputs_are_reproducible_and_typed() -> None:
    """Same seed, same arrays; int8 covers its range; a fixed non-batch first dim is kept."""
    from modelhound.records import TensorSpec

    specs = (TensorSpec("a", (1, 4), "float32"), TensorSpec("b", (-1, 8), "int8"),
             TensorSpec("c", (4129, 2), "float32"))
    a, b = fidelity.seeded_inputs(specs), fidelity.seeded_inputs(specs)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == (2, 4) and a[1].dtype == np.int8 and a[2].shape == (4129, 2)


def test_load_runnable_refuses_unrunnable() -> None:
    """A failed conversion cannot be loaded by accident."""
    with pytest.raises(ConversionError):
        load_runnable(Conversion("ab" * 32, False, reason="x: broken"))
