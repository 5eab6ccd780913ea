"""TorchScript in CPU torch: silero-vad's stateful jit runs as an audio model (sr held at
16000, reset before every sample) and agrees with the ONNX export shipped beside it."""

from __future__ import annotations

import numpy as np
import pytest

from modelhound.converters.runtimes import OnnxRunnable
from modelhound.fingerprint.binding import single_input
from modelhound.runtimes import torchscript
from modelhound.runtimes.interface import NativeModel
from tests.conftest import fixture_path


def test_silero_jit_runs_deterministically_and_agrees_with_its_onnx_export() -> None:
    pytest.importorskip("torch")
    jit = torchscript.open(NativeModel(
        fixture_path("models", "pytorch", "silero_vad.jit").read_bytes(), "torchscript",
        name="silero_vad.jit"))
    assert [(s.name, s.shape) for s in jit.inputs] == [("x", (1, 512))]
    x = np.random.default_rng(0).standard_normal((4, 512)).astype(np.float32) * 0.1
    first = jit.run([x])[0]
    np.testing.assert_array_equal(first, jit.run([x])[0])  # state reset: same every time
    onnx = single_input(OnnxRunnable(
        fixture_path("models", "onnx", "silero_vad_16k_op15.onnx").read_bytes()))
    # the jit keeps a 64-sample context, zero after a reset: the ONNX export takes it inline
    with_context = np.concatenate([np.zeros((4, 64), np.float32), x], axis=1)
    np.testing.assert_allclose(first, onnx.run([with_context])[0], atol=1e-5)
