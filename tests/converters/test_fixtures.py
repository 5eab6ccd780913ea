"""Every TFLite, ONNX, Caffe and TF GraphDef fixture runs faithfully, or is listed here.

The conversions come from the session's worker pool (conftest); these tests read the
Conversion records, then re-run the runnable forms in this process on fresh seeded
inputs, against the native runtimes.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelhound.converters import Conversion, fidelity, load_runnable
from modelhound.converters.caffe import OpenCVCaffeRunnable, to_onnx
from tests.converters.conftest import (
    MODELS,
    ONNX_FILES,
    TFLITE_FILES,
    all_fixture_models,
    caffe_pairs,
)

#: The fixtures nothing can run, with the reason (custom ops without any implementation).
UNRUNNABLE = {
    "tflite/mediapipe-0.10.21/face_landmark_with_attention.tflite":
        ("Landmarks2TransformMatrix", "TransformLandmarks", "TransformTensorBilinear"),
}
#: Fixtures whose conversion needs one of our tf2onnx workarounds, and the note it leaves.
WORKAROUNDS = {
    "tflite/mediapipe-0.10.14/face_detection_full_range_sparse.tflite": "densified",
    "tflite/mediapipe-0.10.21/pose_detection.tflite": "densified",
    "tflite/mediapipe-0.10.14/selfie_segmentation.tflite": "Convolution2DTransposeBias",
    "tflite/mediapipe-0.10.14/selfie_segmentation_landscape.tflite": "Convolution2DTransposeBias",
    "tflite/nex3z-tflite-mnist-from-apk.tflite": "fully-connected",
    # dynamic-range models: LiteRT's run-time activation quantization emulated in ONNX
    "tflite/Ashmit3264-codelab-mnist-in-apk.tflite": "emulated",
    "tflite/Ashmit3264-codelab-mnist-src.tflite": "emulated",
    "tflite/qiulongquan-codelab-mnist.tflite": "emulated",
}
NAMES = [m.entry.entry for m in all_fixture_models()]


def test_every_fixture_is_covered() -> None:
    """The shared fixtures are all here (a missing folder would make the suite vacuous)."""
    assert len(TFLITE_FILES) >= 19 and len(ONNX_FILES) >= 15
    assert len(caffe_pairs()) == 5
    assert set(UNRUNNABLE) <= set(NAMES) and set(WORKAROUNDS) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_conversion(conversions: dict[str, Conversion], name: str) -> None:
    """Runnable through onnxruntime within tolerance of the native runtime, or listed."""
    conv = conversions[name]
    if name in UNRUNNABLE:
        assert not conv.runnable
        assert conv.unsupported_ops == UNRUNNABLE[name]
        assert "custom ops" in conv.reason
        return
    assert conv.runnable, conv.reason
    assert conv.runtime == "onnxruntime", conv.reason
    assert conv.onnx and conv.inputs and conv.outputs
    if not name.startswith("onnx/"):  # a native runtime exists: the error was measured
        assert conv.rel_error is not None
        assert conv.rel_error <= fidelity.TOLERANCE
    if name in WORKAROUNDS:
        assert WORKAROUNDS[name] in conv.reason


def _close(got: list[np.ndarray], ref: list[np.ndarray], tol: float) -> float:
    """Worst error relative to each output's range, with a 1e-6 absolute floor."""
    worst = 0.0
    for g, r in zip(got, ref):
        scale = max(float(np.max(np.abs(r))), 1e-6 / tol)
        worst = max(worst, float(np.max(np.abs(g - r))) / scale)
    return worst


@pytest.mark.parametrize("path", TFLITE_FILES, ids=lambda p: p.name)
def test_tflite_onnx_matches_litert_in_process(conversions: dict[str, Conversion], path) -> None:
    """Fresh seed, batch 3: the ONNX form and LiteRT agree (and batching works on both)."""
    name = str(path.relative_to(MODELS))
    conv = conversions[name]
    if not conv.runnable:
        pytest.skip(f"unrunnable: {conv.reason}")
    onnx_run, native = load_runnable(conv), load_runnable(conv, native=True)
    assert native.runtime == "litert" and onnx_run.runtime == "onnxruntime"
    sample = fidelity.seeded_inputs(native.inputs, batch=3, seed=11)
    ref, got = native.run(sample), onnx_run.run(sample)
    assert all(r.shape[0] == 3 or r.shape[0] == sample[0].shape[0] for r in ref)
    assert [g.shape for g in got] == [r.shape for r in ref]
    assert any(np.ptp(r) > 0 for r in ref), "degenerate outputs: the check would be vacuous"
    assert _close(got, ref, fidelity.TOLERANCE) <= fidelity.TOLERANCE


@pytest.mark.parametrize("pair", caffe_pairs(), ids=lambda p: p[1].name)
def test_caffe_onnx_matches_opencv_in_process(pair) -> None:
    """Caffe fixtures: our ONNX form vs OpenCV on a fresh seed, batch 3."""
    prototxt, caffemodel = pair
    result = to_onnx(prototxt.read_text(), caffemodel.read_bytes())
    native = OpenCVCaffeRunnable(prototxt.read_text(), caffemodel.read_bytes(), result.inputs,
                                 result.outputs, result.output_layers)
    conv = Conversion("x", True, runtime="onnxruntime", onnx=result.onnx, inputs=result.inputs,
                      outputs=result.outputs)
    sample = fidelity.seeded_inputs(result.inputs, batch=3, seed=11)
    ref, got = native.run(sample), load_runnable(conv).run(sample)
    assert any(np.ptp(r) > 0 for r in ref)
    assert fidelity.relative_error(got, ref) <= 1e-4


def test_paddle_weights_moved_to_initializers(conversions: dict[str, Conversion]) -> None:
    """The Paddle export keeps weights in Constant nodes; the runnable form has initializers."""
    import onnx

    name = "onnx/rapidocr-ch_ppocr_mobile_v2.0_cls_mobile.onnx"
    conv = conversions[name]
    assert conv.runnable and "Constant nodes moved to initializers" in conv.reason
    model = onnx.load_from_string(conv.onnx)
    assert not any(n.op_type == "Constant" for n in model.graph.node)
    assert len(model.graph.initializer) >= 100
    assert conv.rel_error is not None and conv.rel_error <= 1e-6


def test_prototxt_only_caffe_is_not_runnable(pool) -> None:
    """A prototxt without weights (SqueezeNet) is reported, not converted."""
    from modelhound.records import ModelFormat
    from tests.converters.conftest import from_file

    conv = pool.convert(from_file(MODELS / "caffe" / "squeezenet_v1.1.prototxt",
                                  ModelFormat.CAFFE, "prototxt"))
    assert not conv.runnable and "without trained weights" in conv.reason
