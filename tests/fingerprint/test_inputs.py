"""Input adaptation: shape, layout, dtype/quantization and value range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelhound.errors import ProfileError
from modelhound.fingerprint.inputs import (
    InputAdapter,
    Normalization,
    resize_bilinear,
    tflite_input_normalization,
)
from modelhound.records import Quantization, TensorSpec

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "models" / "tflite"
rng = np.random.default_rng(0)
IMAGES = rng.uniform(0, 1, size=(4, 28, 28, 1)).astype(np.float32)


def test_float_nhwc_default_is_identity() -> None:
    a = InputAdapter(TensorSpec("x", (-1, 28, 28, 1), "float32"))
    np.testing.assert_array_equal(a.to_model(IMAGES), IMAGES)
    np.testing.assert_allclose(a.float_to_canonical(a.to_float(IMAGES)), IMAGES)


def test_nchw_rgb_resize_and_normalisation_round_trip() -> None:
    spec = TensorSpec("x", (1, 3, 56, 56), "float32", layout="NCHW")
    a = InputAdapter(spec, Normalization((127.5,), (127.5,)))
    out = a.to_model(IMAGES)
    assert out.shape == (4, 3, 56, 56)
    assert out.min() >= -1.0 and out.max() <= 1.0
    # Grey replicated to three channels.
    np.testing.assert_allclose(out[:, 0], out[:, 2])
    back = a.float_to_canonical(out)
    assert back.shape == (4, 56, 56, 3)
    np.testing.assert_allclose(back[..., :1], resize_bilinear(IMAGES, 56, 56), atol=1e-5)


def test_full_int8_input_is_fed_raw_pixel_bytes() -> None:
    spec = TensorSpec("x", (-1, 28, 28, 1), "int8", Quantization((1 / 255,), (-128,)))
    a = InputAdapter(spec)
    q = a.to_model(IMAGES)
    assert q.dtype == np.int8
    np.testing.assert_array_equal(q, np.round(IMAGES * 255 - 128).astype(np.int8))
    # The float space is the dequantised value, i.e. the pixel in [0, 1] here.
    np.testing.assert_allclose(a.to_float(IMAGES), IMAGES, atol=1e-5)
    np.testing.assert_allclose(a.float_to_canonical(a.to_float(IMAGES)), IMAGES, atol=1e-5)


def test_rank3_grey_and_vector_inputs() -> None:
    a = InputAdapter(TensorSpec("x", (1, 28, 28), "float32"))
    assert a.to_model(IMAGES).shape == (4, 28, 28)
    v = InputAdapter(TensorSpec("x", (1, 124), "float32"))
    assert not v.is_image
    with pytest.raises(ProfileError):
        v.to_model(np.zeros((4, 10), dtype=np.float32))


def test_resize_keeps_constant_images_constant() -> None:
    flat = np.full((2, 8, 8, 1), 0.25, dtype=np.float32)
    np.testing.assert_allclose(resize_bilinear(flat, 20, 13), 0.25)


@pytest.mark.skipif(not FIXTURES.exists(), reason="shared fixtures not present")
def test_tflite_metadata_normalisation_is_read() -> None:
    face = (FIXTURES / "mediapipe-0.10.14" / "face_detection_full_range_sparse.tflite").read_bytes()
    assert tflite_input_normalization(face) == (Normalization((127.5,), (127.5,)),)
    hand = (FIXTURES / "mediapipe-0.10.21" / "hand_landmark_lite.tflite").read_bytes()
    assert tflite_input_normalization(hand) == (Normalization((0.0,) * 3, (255.0,) * 3),)
    # No metadata: nothing, not an error.
    assert tflite_input_normalization((FIXTURES / "qiulongquan-codelab-mnist.tflite").read_bytes()) == ()
    assert tflite_input_normalization(b"\x00" * 16) == ()
