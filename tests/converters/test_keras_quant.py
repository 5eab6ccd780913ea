"""A Keras CNN exported to TFLite in every quantization mode, converted and checked."""

from __future__ import annotations

import numpy as np
import pytest

from modelhound.converters import Conversion, ConverterPool, fidelity, load_runnable
from modelhound.records import ModelFormat
from tests.converters.conftest import found_model
from tests.converters.keras_models import MODES, build_tflite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quantized(pool: ConverterPool) -> dict[str, tuple[bytes, Conversion]]:
    """mode -> (tflite bytes, conversion), built once for the module."""
    models = {mode: build_tflite(mode) for mode in MODES}
    founds = [found_model(f"keras-{m}.tflite", models[m], ModelFormat.TFLITE) for m in MODES]
    return {m: (models[m], c) for m, c in zip(MODES, pool.convert_all(founds))}


@pytest.mark.parametrize("mode", ["float32", "float16", "int8"])
def test_converted_within_tolerance(quantized: dict, mode: str) -> None:
    """Float, float16-weight and full-integer models run through ONNX within tolerance."""
    data, conv = quantized[mode]
    assert conv.runnable and conv.runtime == "onnxruntime", conv.reason
    assert conv.rel_error is not None
    if mode == "int8":
        assert conv.inputs[0].dtype == "int8" and conv.inputs[0].quantization is not None
        assert conv.outputs[0].quantization is not None
    else:
        assert conv.rel_error <= 1e-5


def test_int8_outputs_dequantized_and_faithful(quantized: dict) -> None:
    """Full-integer model: float outputs from both runtimes, within 2 output quanta."""
    data, conv = quantized["int8"]
    onnx_run, native = load_runnable(conv), load_runnable(conv, native=True)
    sample = fidelity.seeded_inputs(native.inputs, batch=4, seed=3)
    assert sample[0].dtype == np.int8
    ref, got = native.run(sample), onnx_run.run(sample)
    assert ref[0].dtype == np.float32 and got[0].dtype == np.float32
    assert np.ptp(ref[0]) > 0
    scale = conv.outputs[0].quantization.scale[0]
    assert np.max(np.abs(ref[0] - got[0])) <= fidelity.QUANTUM_TOLERANCE * scale + 1e-7


def test_dynamic_range_faithful_at_any_batch(quantized: dict) -> None:
    """Dynamic range: LiteRT quantizes activations per batch row at run time.

    The ONNX form either emulates that within tolerance (then it must hold at batch 4
    too: the fake quantization is per tensor, so the runnable goes sample by sample), or
    it is dropped and the model runs natively with LiteRT; never used silently.
    """
    data, conv = quantized["dynamic-range"]
    assert conv.runnable and "dynamic-range" in conv.reason
    assert conv.rel_error is not None
    if conv.runtime == "onnxruntime":
        assert conv.rel_error <= fidelity.TOLERANCE
        onnx_run, native = load_runnable(conv), load_runnable(conv, native=True)
        sample = fidelity.seeded_inputs(native.inputs, batch=4, seed=9)
        assert fidelity.relative_error(onnx_run.run(sample), native.run(sample)) <= fidelity.TOLERANCE
    else:
        assert conv.runtime == "litert" and conv.onnx is None
        assert conv.rel_error > fidelity.TOLERANCE and "not used" in conv.reason
